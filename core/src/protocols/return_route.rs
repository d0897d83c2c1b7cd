//! The `return_route` header (DIDComm "Return-Route" extension): may replies travel back over
//! the connection this message came in on? Mobile recipients without an endpoint set it to
//! `all` on every message to their mediator.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::message::Message;

/// The header name.
pub const RETURN_ROUTE_HEADER: &str = "return_route";
/// The header naming the thread for [`ReturnRoute::Thread`].
pub const RETURN_ROUTE_THREAD_HEADER: &str = "return_route_thread";
/// The "queue transport" endpoint URI: the party has no endpoint; messages for it are held
/// for pickup and returned over connections it opens.
pub const QUEUE_TRANSPORT_URI: &str = "didcomm:transport/queue";

/// Values of the `return_route` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReturnRoute {
    /// No messages are returned over the connection (the default when the header is absent).
    #[default]
    None,
    /// Every message for the sender may be returned over the connection.
    All,
    /// Messages of one thread (`return_route_thread`, else the message's thread) may be
    /// returned over the connection.
    Thread,
}

impl ReturnRoute {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnRoute::None => "none",
            ReturnRoute::All => "all",
            ReturnRoute::Thread => "thread",
        }
    }

    /// Parse a header value.
    pub fn parse(value: &str) -> Option<ReturnRoute> {
        match value {
            "none" => Some(ReturnRoute::None),
            "all" => Some(ReturnRoute::All),
            "thread" => Some(ReturnRoute::Thread),
            _ => None,
        }
    }
}

/// The message's `return_route` ([`ReturnRoute::None`] when absent); an unknown value is
/// malformed.
pub fn return_route(message: &Message) -> Result<ReturnRoute> {
    match message.extra_headers.get(RETURN_ROUTE_HEADER) {
        None | Some(Value::Null) => Ok(ReturnRoute::None),
        Some(Value::String(s)) => ReturnRoute::parse(s)
            .ok_or_else(|| Error::malformed("'return_route' must be one of none, all, thread")),
        Some(_) => Err(Error::malformed("'return_route' must be a string")),
    }
}

/// The thread whose replies may be returned, for [`ReturnRoute::Thread`]:
/// `return_route_thread` when set, else the message's own thread.
pub fn return_route_thread(message: &Message) -> Option<&str> {
    match message.extra_headers.get(RETURN_ROUTE_THREAD_HEADER) {
        Some(Value::String(s)) => Some(s),
        _ => Some(message.thread_id()),
    }
}

/// Whether a reply in thread `thid` may go back over the connection `message` came in on.
pub fn allows_reply(message: &Message, thid: &str) -> Result<bool> {
    Ok(match return_route(message)? {
        ReturnRoute::None => false,
        ReturnRoute::All => true,
        ReturnRoute::Thread => return_route_thread(message).is_some_and(|t| t == thid),
    })
}

/// Set the `return_route` header (removing it for [`ReturnRoute::None`], its default).
#[must_use]
pub fn with_return_route(mut message: Message, value: ReturnRoute) -> Message {
    match value {
        ReturnRoute::None => {
            message.extra_headers.remove(RETURN_ROUTE_HEADER);
        }
        other => {
            message.extra_headers.insert(
                RETURN_ROUTE_HEADER.to_owned(),
                Value::String(other.as_str().to_owned()),
            );
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_round_trip_and_errors() {
        let m = Message::build("1", "t", json!({}));
        assert_eq!(return_route(&m).unwrap(), ReturnRoute::None);
        let m = with_return_route(m, ReturnRoute::All);
        assert_eq!(m.extra_headers.get("return_route"), Some(&json!("all")));
        assert_eq!(return_route(&m).unwrap(), ReturnRoute::All);
        assert!(allows_reply(&m, "anything").unwrap());
        let m = with_return_route(m, ReturnRoute::Thread);
        assert!(allows_reply(&m, "1").unwrap());
        assert!(!allows_reply(&m, "2").unwrap());
        let m = with_return_route(m, ReturnRoute::None);
        assert!(!m.extra_headers.contains_key("return_route"));
        for bad in [json!("sometimes"), json!(true)] {
            let m = Message::build("1", "t", json!({})).header("return_route", bad);
            assert!(return_route(&m).is_err());
        }
    }
}
