//! Trust Ping 2.0: test that a DIDComm channel works, end to end, with its encryption.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_type, new_message, threading, Body, ProtocolMessage};
use crate::error::{Error, Result};
use crate::message::Message;

/// The protocol identifier.
pub const TRUST_PING_PIURI: &str = "https://didcomm.org/trust-ping/2.0";
/// `ping`.
pub const PING_TYPE: &str = "https://didcomm.org/trust-ping/2.0/ping";
/// `ping-response`.
pub const PING_RESPONSE_TYPE: &str = "https://didcomm.org/trust-ping/2.0/ping-response";

/// `ping`: "are you there, and can you read me?"
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Whether a `ping-response` is wanted (absent means `true`).
    pub response_requested: bool,
}

impl Default for Ping {
    fn default() -> Self {
        Ping {
            response_requested: true,
        }
    }
}

impl ProtocolMessage for Ping {
    fn message_type(&self) -> &'static str {
        PING_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        let mut body = Map::new();
        body.insert(
            "response_requested".into(),
            Value::Bool(self.response_requested),
        );
        new_message(PING_TYPE, body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, PING_TYPE)?;
        let body = Body::of(message, "ping")?;
        Ok(Ping {
            response_requested: body.bool("response_requested")?.unwrap_or(true),
        })
    }
}

/// `ping-response`, in the ping's thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// The thread of the ping being answered (its `id`).
    pub thid: String,
}

impl PingResponse {
    /// The reply to a received ping (`thid`, `to` set), or `None` when the ping asked for no
    /// response. The caller sets `from` and packs it.
    pub fn answer(ping: &Message) -> Result<Option<Message>> {
        if !Ping::from_message(ping)?.response_requested {
            return Ok(None);
        }
        let response = PingResponse {
            thid: ping.thread_id().to_owned(),
        };
        Ok(Some(threading::reply_to(ping, response.to_message()?)))
    }
}

impl ProtocolMessage for PingResponse {
    fn message_type(&self) -> &'static str {
        PING_RESPONSE_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        if self.thid.is_empty() {
            return Err(Error::illegal_argument(
                "a ping-response needs the ping's thread",
            ));
        }
        Ok(new_message(PING_RESPONSE_TYPE, Map::new())?.thid(self.thid.clone()))
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, PING_RESPONSE_TYPE)?;
        Body::of(message, "ping-response")?;
        let thid = message
            .thid
            .clone()
            .ok_or_else(|| Error::malformed("ping-response: 'thid' is missing"))?;
        Ok(PingResponse { thid })
    }
}
