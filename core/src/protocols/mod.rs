//! The DIDComm protocols a mediator and an edge device speak, typed and sans-I/O.
//!
//! Every message type has a plain struct (owned data, serde-serializable) implementing
//! [`ProtocolMessage`]: [`ProtocolMessage::to_message`] builds a [`Message`] (fresh `id`,
//! `created_time` now; add `from`, `to` and threading with the [`Message`] builders and
//! [`threading`]) and [`ProtocolMessage::from_message`] reads one back, refusing another `type`
//! or a malformed body with [`ErrorKind::Malformed`](crate::ErrorKind::Malformed) and a reason
//! that names the field. Readers are lenient where deployed implementations differ from the
//! spec text (each such case is documented on the field); writers follow the spec.
//!
//! Where a protocol has state, a small state machine of pure functions goes with it
//! ([`mediation::MediationClient`], [`discover_features::FeatureRegistry`]). The mediator's
//! state (grants, keylists, queues) and its rules live in the mediator crate
//! (`didcomm-edge-mediator`, whose `Storage` has SQLite, PostgreSQL and in-memory backends).
//!
//! | protocol | module |
//! |---|---|
//! | Routing 2.0 | [`crate::routing`] |
//! | Coordinate Mediation 2.0 and 3.0 | [`mediation`] |
//! | Message Pickup 3.0 and 4.0 | [`pickup`] |
//! | Trust Ping 2.0 | [`trust_ping`] |
//! | Basic Message 2.0 | [`basic_message`] |
//! | Report Problem 2.0 | [`report_problem`] |
//! | Discover Features 2.0 | [`discover_features`] |
//! | Out-of-Band 2.0 | [`oob`] |
//! | Empty 1.0 | [`empty`] |
//! | `please_ack` / `ack` | [`ack`] |
//! | `return_route` | [`return_route`] |
//! | `thid` / `pthid` | [`threading`] |
//! | DID rotation (`from_prior`) | [`rotation`] |
//! | every type above by its type URI | [`registry`] |

use crate::prelude::*;

pub mod ack;
pub mod basic_message;
pub mod discover_features;
pub mod empty;
pub mod mediation;
pub mod oob;
pub mod pickup;
pub mod push;
pub mod registry;
pub mod report_problem;
pub mod return_route;
pub mod rotation;
pub mod threading;
pub mod trust_ping;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::message::Message;

/// A typed protocol message: built into a [`Message`] and read back from one.
pub trait ProtocolMessage: Sized {
    /// The message type URI this value is written with.
    fn message_type(&self) -> &'static str;

    /// Build the plaintext message: a fresh `id`, `created_time` now, the type, the body and
    /// any attachments or headers the protocol defines.
    fn to_message(&self) -> Result<Message>;

    /// Read a message of this type, validating its body.
    fn from_message(message: &Message) -> Result<Self>;
}

/// A new message of `type_` with `body`, a fresh id and `created_time` now.
pub(crate) fn new_message(type_: &str, body: Map<String, Value>) -> Result<Message> {
    Message::new(type_, Value::Object(body))
}

/// Refuse a message whose type is not `expected`.
pub(crate) fn check_type(message: &Message, expected: &str) -> Result<()> {
    if message.type_ == expected {
        Ok(())
    } else {
        Err(wrong_type(message, expected))
    }
}

pub(crate) fn wrong_type(message: &Message, expected: &str) -> Error {
    Error::malformed(format!(
        "expected a {expected} message, not {}",
        shorten(&message.type_)
    ))
}

/// At most 100 characters of an untrusted value, for error reasons.
pub(crate) fn shorten(value: &str) -> String {
    crate::error::excerpt(value)
}

/// Typed access to a message body, with errors that name the message and the field.
pub(crate) struct Body<'a> {
    map: Option<&'a Map<String, Value>>,
    name: &'static str,
}

impl<'a> Body<'a> {
    /// The body of `message` (absent counts as empty); `name` is the message's short name.
    pub(crate) fn of(message: &'a Message, name: &'static str) -> Result<Body<'a>> {
        let map = match &message.body {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => {
                return Err(Error::malformed(format!(
                    "{name}: 'body' must be a JSON object"
                )))
            }
        };
        Ok(Body { map, name })
    }

    /// A body-like object nested in a body (an array entry), with the same error naming.
    pub(crate) fn nested(value: &'a Value, name: &'static str, what: &str) -> Result<Body<'a>> {
        match value {
            Value::Object(map) => Ok(Body {
                map: Some(map),
                name,
            }),
            _ => Err(Error::malformed(format!(
                "{name}: {what} must be JSON objects"
            ))),
        }
    }

    pub(crate) fn error(&self, reason: impl core::fmt::Display) -> Error {
        Error::malformed(format!("{}: {reason}", self.name))
    }

    /// A member, `null` counting as absent.
    pub(crate) fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(field)).filter(|v| !v.is_null())
    }

    pub(crate) fn string(&self, field: &str) -> Result<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(format_args!("'{field}' must be a string"))),
        }
    }

    pub(crate) fn required_string(&self, field: &str) -> Result<String> {
        match self.string(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(self.error(format_args!("'{field}' must not be empty"))),
            None => Err(self.error(format_args!("'{field}' is missing"))),
        }
    }

    pub(crate) fn u64(&self, field: &str) -> Result<Option<u64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.error(format_args!("'{field}' must be a non-negative integer"))
            }),
        }
    }

    pub(crate) fn required_u64(&self, field: &str) -> Result<u64> {
        self.u64(field)?
            .ok_or_else(|| self.error(format_args!("'{field}' is missing")))
    }

    pub(crate) fn bool(&self, field: &str) -> Result<Option<bool>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(format_args!("'{field}' must be true or false"))),
        }
    }

    pub(crate) fn array(&self, field: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.error(format_args!("'{field}' must be an array"))),
        }
    }

    pub(crate) fn strings(&self, field: &str) -> Result<Option<Vec<String>>> {
        let Some(items) = self.array(field)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    self.error(format_args!("'{field}' must be an array of strings"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// Insert `value` under `name` when it is `Some`.
pub(crate) fn put<T: Into<Value>>(map: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(name.to_owned(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_reader_names_fields() {
        let m = Message::build("1", "t", json!({"a": 1, "b": "x", "c": null, "d": [1]}));
        let body = Body::of(&m, "test").unwrap();
        assert_eq!(body.u64("a").unwrap(), Some(1));
        assert!(body.string("a").unwrap_err().reason().contains("'a'"));
        assert_eq!(body.string("c").unwrap(), None);
        assert!(body
            .required_string("c")
            .unwrap_err()
            .reason()
            .contains("missing"));
        assert!(body.strings("d").is_err());
        let m = Message::build("1", "t", json!([]));
        assert!(Body::of(&m, "test").is_err());
    }

    #[test]
    fn shorten_cuts_long_values() {
        assert_eq!(shorten("abc"), "abc");
        // The core's one excerpt length (was 100 characters before issue 12).
        assert_eq!(
            shorten(&"x".repeat(500)).chars().count(),
            crate::error::EXCERPT_CHARS + 1
        );
    }
}
