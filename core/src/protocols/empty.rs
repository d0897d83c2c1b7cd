//! Empty 1.0: a message with no content, carrying only headers (a pure `ack`, a
//! `return_route` poll, a `from_prior` rotation notice).

use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::{check_type, new_message, Body, ProtocolMessage};
use crate::error::Result;
use crate::message::Message;

/// The protocol identifier.
pub const EMPTY_PIURI: &str = "https://didcomm.org/empty/1.0";
/// The message type.
pub const EMPTY_TYPE: &str = "https://didcomm.org/empty/1.0/empty";

/// The empty message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty;

impl ProtocolMessage for Empty {
    fn message_type(&self) -> &'static str {
        EMPTY_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        new_message(EMPTY_TYPE, Map::new())
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, EMPTY_TYPE)?;
        // The body has no meaning, but it must still be an object if present.
        Body::of(message, "empty")?;
        Ok(Empty)
    }
}
