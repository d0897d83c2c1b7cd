//! The DIDComm v2 plaintext message model, validated on receive.

use crate::prelude::*;

mod attachment;
pub mod from_prior;
pub(crate) mod prescan;

use alloc::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use attachment::{Attachment, AttachmentData, AttachmentForm};
pub use from_prior::FromPrior;

use crate::error::{Error, Result};

/// Media type of a plaintext message.
pub const PLAINTEXT_TYP: &str = "application/didcomm-plain+json";
/// Media type of a signed message.
pub const SIGNED_TYP: &str = "application/didcomm-signed+json";
/// Media type of an encrypted message.
pub const ENCRYPTED_TYP: &str = "application/didcomm-encrypted+json";

/// Media types may omit the `application/` prefix (DIDComm v2.1, "IANA Media Types").
pub(crate) fn media_type_is(value: &str, expected: &str) -> bool {
    value == expected || expected.strip_prefix("application/") == Some(value)
}

/// A DIDComm v2 plaintext message.
///
/// Unknown top-level members are kept in [`Message::extra_headers`] and written back when the
/// message is packed, as the spec requires of headers a receiver does not understand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Message id, unique to the sender.
    pub id: String,
    /// Media type (`application/didcomm-plain+json`), optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Message type URI, e.g. `https://didcomm.org/basicmessage/2.0/message`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Sender DID (required for authcrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient DIDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thid: Option<String>,
    /// Parent thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pthid: Option<String>,
    /// Creation time, UTC epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<u64>,
    /// Expiry time, UTC epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_time: Option<u64>,
    /// Type-specific content; a JSON object. Optional since DIDComm v2.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Attachments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// DID rotation: a compact JWT signed by the prior DID (see [`FromPrior`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_prior: Option<String>,
    /// Ids of messages whose receipt the sender asks to be acknowledged ("" = this message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub please_ack: Option<Vec<String>>,
    /// Ids of messages this message acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Vec<String>>,
    /// Every other header, kept as received.
    #[serde(flatten)]
    pub extra_headers: BTreeMap<String, Value>,
}

/// How strictly to read a plaintext message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Refuse messages without `body`, as DIDComm v2.0 did (v2.1 made it optional).
    pub require_body: bool,
}

impl Message {
    /// A new message with a random UUID id, the given type and body, and `created_time` now.
    pub fn new(type_: impl Into<String>, body: Value) -> Result<Message> {
        let mut message = Message::build(crate::crypto::uuid_v4()?, type_, body);
        message.created_time = Some(crate::time::now_epoch_seconds());
        Ok(message)
    }

    /// A message with exactly the given id, type and body and no other headers.
    pub fn build(id: impl Into<String>, type_: impl Into<String>, body: Value) -> Message {
        Message {
            id: id.into(),
            typ: Some(PLAINTEXT_TYP.to_owned()),
            type_: type_.into(),
            from: None,
            to: None,
            thid: None,
            pthid: None,
            created_time: None,
            expires_time: None,
            body: Some(body),
            attachments: None,
            from_prior: None,
            please_ack: None,
            ack: None,
            extra_headers: BTreeMap::new(),
        }
    }

    /// Set `from`.
    #[must_use]
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Set `to` to a single recipient.
    #[must_use]
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(vec![to.into()]);
        self
    }

    /// Set `to` to several recipients.
    #[must_use]
    pub fn to_many(mut self, to: Vec<String>) -> Self {
        self.to = Some(to);
        self
    }

    /// Set `thid`.
    #[must_use]
    pub fn thid(mut self, thid: impl Into<String>) -> Self {
        self.thid = Some(thid.into());
        self
    }

    /// Set `pthid`.
    #[must_use]
    pub fn pthid(mut self, pthid: impl Into<String>) -> Self {
        self.pthid = Some(pthid.into());
        self
    }

    /// Set `created_time`.
    #[must_use]
    pub fn created_time(mut self, t: u64) -> Self {
        self.created_time = Some(t);
        self
    }

    /// Set `expires_time`.
    #[must_use]
    pub fn expires_time(mut self, t: u64) -> Self {
        self.expires_time = Some(t);
        self
    }

    /// Add an attachment.
    #[must_use]
    pub fn attachment(mut self, attachment: Attachment) -> Self {
        self.attachments
            .get_or_insert_with(Vec::new)
            .push(attachment);
        self
    }

    /// Set the `from_prior` JWT (see [`crate::DidComm::pack_from_prior`]).
    #[must_use]
    pub fn from_prior(mut self, jwt: impl Into<String>) -> Self {
        self.from_prior = Some(jwt.into());
        self
    }

    /// Ask for an acknowledgement of this message.
    #[must_use]
    pub fn please_ack(mut self) -> Self {
        self.please_ack = Some(vec![self.id.clone()]);
        self
    }

    /// Acknowledge the given message ids.
    #[must_use]
    pub fn ack(mut self, ids: Vec<String>) -> Self {
        self.ack = Some(ids);
        self
    }

    /// Add any other header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra_headers.insert(name.into(), value);
        self
    }

    /// The thread this message belongs to: `thid`, or its own id when it starts a thread.
    pub fn thread_id(&self) -> &str {
        self.thid.as_deref().unwrap_or(&self.id)
    }

    /// Whether `expires_time` lies before `now` (epoch seconds).
    pub fn is_expired_at(&self, now: u64) -> bool {
        self.expires_time.is_some_and(|t| t < now)
    }

    /// Parse and validate a plaintext message from JSON text.
    pub fn from_json(json: &str, options: ParseOptions) -> Result<Message> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| json_error("plaintext message", &e))?;
        let mut message = Message::from_value(value, options)?;
        message.keep_attachment_texts(json);
        Ok(message)
    }

    /// Keep the text of each inline `json` attachment as it is in `text`, the JSON this
    /// message was parsed from (see [`AttachmentData::json_text`]). A second, borrowing pass,
    /// only when there are such attachments; where it cannot match the parsed attachments one
    /// for one (duplicate members, say), the values alone are kept.
    pub(crate) fn keep_attachment_texts(&mut self, text: &str) {
        #[derive(Deserialize)]
        struct Texts<'a> {
            #[serde(borrow, default)]
            attachments: Option<Vec<AttachmentText<'a>>>,
        }
        #[derive(Deserialize)]
        struct AttachmentText<'a> {
            #[serde(borrow)]
            data: DataText<'a>,
        }
        #[derive(Deserialize)]
        struct DataText<'a> {
            #[serde(borrow, default)]
            json: Option<&'a serde_json::value::RawValue>,
        }
        let Some(attachments) = self.attachments.as_mut() else {
            return;
        };
        if attachments.iter().all(|a| a.data.json.is_none()) {
            return;
        }
        let Ok(Texts {
            attachments: Some(texts),
        }) = serde_json::from_str::<Texts<'_>>(text)
        else {
            return;
        };
        if texts.len() != attachments.len() {
            return;
        }
        for (attachment, text) in attachments.iter_mut().zip(texts) {
            if let (Some(_), Some(json)) = (&attachment.data.json, text.data.json) {
                attachment.data.keep_json_text(json);
            }
        }
    }

    /// Parse and validate a plaintext message from a JSON value.
    pub fn from_value(value: Value, options: ParseOptions) -> Result<Message> {
        let Value::Object(mut map) = value else {
            return Err(Error::malformed(
                "a plaintext message must be a JSON object",
            ));
        };
        let id = take_required_string(&mut map, "id")?;
        let type_ = take_required_string(&mut map, "type")?;
        let typ = take_string(&mut map, "typ")?;
        if let Some(typ) = &typ {
            if !media_type_is(typ, PLAINTEXT_TYP) {
                return Err(Error::malformed(format!(
                    "plaintext 'typ' must be {PLAINTEXT_TYP}"
                )));
            }
        }
        let from = take_string(&mut map, "from")?;
        if let Some(from) = &from {
            check_did_without_fragment(from, "from")?;
        }
        let to = take_string_array(&mut map, "to")?;
        let body = match map.remove("body") {
            None | Some(Value::Null) if options.require_body => {
                return Err(Error::malformed("message has no 'body'"))
            }
            // Some agents (Veramo) send `"body": null` for messages without content.
            None | Some(Value::Null) => None,
            Some(Value::Object(body)) => Some(Value::Object(body)),
            Some(_) => return Err(Error::malformed("message 'body' must be a JSON object")),
        };
        let attachments = match map.remove("attachments") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Attachment::from_value(item)
                            .map_err(|e| e.context(format!("attachments[{i}]")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(Error::malformed("message 'attachments' must be an array")),
        };
        let message = Message {
            id,
            typ,
            type_,
            from,
            to,
            thid: take_string(&mut map, "thid")?,
            pthid: take_string(&mut map, "pthid")?,
            created_time: take_time(&mut map, "created_time")?,
            expires_time: take_time(&mut map, "expires_time")?,
            body,
            attachments,
            from_prior: take_string(&mut map, "from_prior")?,
            please_ack: take_string_array(&mut map, "please_ack")?,
            ack: take_string_array(&mut map, "ack")?,
            extra_headers: map.into_iter().collect(),
        };
        Ok(message)
    }

    /// This message with `headers` (`from`, `to`, `thid`, `expires_time`, any custom header)
    /// set, validated as a received message would be. `type` and `body` are not headers:
    /// `IllegalArgument`.
    pub fn with_headers(self, headers: Map<String, Value>) -> Result<Message> {
        if headers.is_empty() {
            return Ok(self);
        }
        let Value::Object(mut map) = self.to_value()? else {
            return Err(Error::invalid_state("a message is not a JSON object"));
        };
        for (name, value) in headers {
            if name == "type" || name == "body" {
                return Err(Error::illegal_argument(format!(
                    "'{}' is an argument, not a header",
                    crate::error::excerpt(&name)
                )));
            }
            map.insert(name, value);
        }
        Message::from_value(Value::Object(map), ParseOptions::default())
    }

    /// Serialize to compact JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|_| Error::invalid_state("message does not serialize"))
    }

    /// Serialize to a JSON value.
    pub fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|_| Error::invalid_state("message does not serialize"))
    }

    /// Validate a message we are about to send: the same rules as on receive.
    pub(crate) fn validate_for_sending(&self) -> Result<()> {
        if self.id.is_empty() {
            return Err(Error::illegal_argument("message 'id' is empty"));
        }
        if self.type_.is_empty() {
            return Err(Error::illegal_argument("message 'type' is empty"));
        }
        if let Some(typ) = &self.typ {
            if !media_type_is(typ, PLAINTEXT_TYP) {
                return Err(Error::illegal_argument(format!(
                    "plaintext 'typ' must be {PLAINTEXT_TYP}"
                )));
            }
        }
        if let Some(from) = &self.from {
            check_did_without_fragment(from, "from")
                .map_err(|e| Error::illegal_argument(e.reason().to_owned()))?;
        }
        if let Some(jwt) = &self.from_prior {
            // The receiver's pairing rule, without the signature check (the JWT is ours).
            let parsed = from_prior::parse(jwt)
                .map_err(|e| Error::illegal_argument(format!("from_prior: {}", e.reason())))?;
            from_prior::check_pairing(&parsed.claims, self.from.as_deref())
                .map_err(Error::illegal_argument)?;
            // What the receiver will refuse is not sent (with the default clock skew).
            from_prior::check_times(
                &parsed.claims,
                crate::time::now_epoch_seconds(),
                from_prior::DEFAULT_CLOCK_SKEW_SECONDS,
            )
            .map_err(|e| Error::illegal_argument(e.reason().to_owned()))?;
        }
        if let Some(body) = &self.body {
            if !body.is_object() {
                return Err(Error::illegal_argument(
                    "message 'body' must be a JSON object",
                ));
            }
        }
        for (i, a) in self.attachments.iter().flatten().enumerate() {
            a.validate().map_err(|e| {
                Error::illegal_argument(format!("attachments[{i}]: {}", e.reason()))
            })?;
        }
        Ok(())
    }
}

/// The default of [`crate::Config::max_json_values`].
pub(crate) const DEFAULT_MAX_JSON_VALUES: usize = 100_000;

/// Refuse JSON text with more than `max_values` values (kind [`crate::ErrorKind::TooLarge`]),
/// counted in one pass over the text before it is parsed: a parsed value costs 32 bytes and
/// more, so a megabyte of `0,0,0,...` would become 20 MiB of tree.
pub(crate) fn check_json_values(text: &str, max_values: usize, what: &str) -> Result<()> {
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b'"' => in_string = true,
                // Each separator or container opens (at most) one more value.
                b',' | b'[' | b'{' => values += 1,
                _ => {}
            }
        }
    }
    if values > max_values {
        return Err(Error::new(
            crate::ErrorKind::TooLarge,
            format!("{what} has more than {max_values} JSON values"),
        ));
    }
    Ok(())
}

/// Parses JSON bytes as `serde_json::from_slice` would, but through `from_str` after a UTF-8
/// check: the crate then instantiates one JSON reader instead of two (about 15 KB of the wasm
/// package). JSON text is UTF-8, so the same inputs are accepted; errors as [`json_error`].
pub(crate) fn json_from_slice<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T> {
    let text = core::str::from_utf8(bytes).map_err(|e| {
        Error::malformed(format!(
            "{what} is not valid JSON (not UTF-8 at byte {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| json_error(what, &e))
}

pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> Error {
    // serde_json's own text may quote input (which can be secret); keep only the position.
    let category = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    Error::malformed(format!(
        "{what} is {category} (line {}, column {})",
        e.line(),
        e.column()
    ))
}

fn check_did_without_fragment(value: &str, field: &str) -> Result<()> {
    if !value.starts_with("did:") || value.contains('#') {
        return Err(Error::malformed(format!(
            "message '{field}' must be a DID or a DID URL without fragment"
        )));
    }
    Ok(())
}

pub(crate) fn take_string(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::malformed(format!("'{name}' must be a string"))),
    }
}

pub(crate) fn take_required_string(map: &mut Map<String, Value>, name: &str) -> Result<String> {
    match take_string(map, name)? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(Error::malformed(format!("'{name}' must not be empty"))),
        None => Err(Error::malformed(format!("'{name}' is missing"))),
    }
}

pub(crate) fn take_string_array(
    map: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<String>>> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(Error::malformed(format!(
                    "'{name}' must be an array of strings"
                ))),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Error::malformed(format!(
            "'{name}' must be an array of strings"
        ))),
    }
}

pub(crate) fn take_time(map: &mut Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| Error::malformed(format!("'{name}' must be a non-negative integer"))),
        // Some agents write ISO 8601 text. Keep it as an unparsed header (so it round-trips)
        // rather than refuse the message or guess at the date.
        Some(Value::String(text)) => {
            map.insert(name.to_owned(), Value::String(text));
            Ok(None)
        }
        Some(_) => Err(Error::malformed(format!(
            "'{name}' must be a non-negative integer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_extra_headers() {
        let text = r#"{"id":"1","type":"t","body":{},"lang":"en","return_route":"all"}"#;
        let m = Message::from_json(text, ParseOptions::default()).unwrap();
        assert_eq!(m.extra_headers.get("lang"), Some(&json!("en")));
        let again = Message::from_value(m.to_value().unwrap(), ParseOptions::default()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn body_is_optional_unless_asked() {
        let text = r#"{"id":"1","type":"t"}"#;
        assert!(Message::from_json(text, ParseOptions::default())
            .unwrap()
            .body
            .is_none());
        assert!(Message::from_json(text, ParseOptions { require_body: true }).is_err());
    }

    #[test]
    fn rejects_wrong_types() {
        for bad in [
            json!({"type": "t", "body": {}}),
            json!({"id": 1, "type": "t", "body": {}}),
            json!({"id": "1", "type": "", "body": {}}),
            json!({"id": "1", "type": "t", "body": []}),
            json!({"id": "1", "type": "t", "to": "did:example:bob"}),
            json!({"id": "1", "type": "t", "from": "did:example:alice#key-1"}),
            json!({"id": "1", "type": "t", "created_time": -1}),
            json!({"id": "1", "type": "t", "created_time": 1.5}),
            json!({"id": "1", "type": "t", "created_time": true}),
            json!({"id": "1", "type": "t", "typ": "application/json"}),
            json!({"id": "1", "type": "t", "please_ack": true}),
        ] {
            assert!(
                Message::from_value(bad.clone(), ParseOptions::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tolerates_null_body_and_textual_times() {
        let m =
            json!({"id": "1", "type": "t", "body": null, "created_time": "2024-05-01T10:00:00Z"});
        let parsed = Message::from_value(m.clone(), ParseOptions::default()).unwrap();
        assert_eq!(parsed.body, None);
        assert_eq!(parsed.created_time, None);
        // The text survives a round trip as a header.
        assert_eq!(
            parsed.to_value().unwrap()["created_time"],
            m["created_time"]
        );
        assert!(Message::from_value(m, ParseOptions { require_body: true }).is_err());
    }

    #[test]
    fn media_type_prefix_may_be_omitted() {
        let m = json!({"id": "1", "type": "t", "typ": "didcomm-plain+json"});
        assert!(Message::from_value(m, ParseOptions::default()).is_ok());
    }
}
