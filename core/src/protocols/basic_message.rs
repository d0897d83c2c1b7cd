//! Basic Message 2.0: a human-readable text message.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_type, new_message, Body, ProtocolMessage};
use crate::error::{Error, Result};
use crate::message::Message;

/// The protocol identifier.
pub const BASIC_MESSAGE_PIURI: &str = "https://didcomm.org/basicmessage/2.0";
/// `message`.
pub const BASIC_MESSAGE_TYPE: &str = "https://didcomm.org/basicmessage/2.0/message";

/// A basic message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicMessage {
    /// The text.
    pub content: String,
    /// Its language (the `lang` header, e.g. `en`), if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

impl BasicMessage {
    /// A message with `content` and no stated language.
    pub fn new(content: impl Into<String>) -> BasicMessage {
        BasicMessage {
            content: content.into(),
            lang: None,
        }
    }
}

impl ProtocolMessage for BasicMessage {
    fn message_type(&self) -> &'static str {
        BASIC_MESSAGE_TYPE
    }

    /// The protocol requires the sending time: `created_time` is always set.
    fn to_message(&self) -> Result<Message> {
        let mut body = Map::new();
        body.insert("content".into(), Value::String(self.content.clone()));
        let mut message = new_message(BASIC_MESSAGE_TYPE, body)?;
        if let Some(lang) = &self.lang {
            message = message.header("lang", Value::String(lang.clone()));
        }
        Ok(message)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, BASIC_MESSAGE_TYPE)?;
        let body = Body::of(message, "basicmessage")?;
        // An empty text is a valid (if odd) message; only its absence is malformed.
        let content = body
            .string("content")?
            .ok_or_else(|| body.error("'content' is missing"))?;
        let lang = match message.extra_headers.get("lang") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::malformed("basicmessage: 'lang' must be a string")),
        };
        Ok(BasicMessage { content, lang })
    }
}
