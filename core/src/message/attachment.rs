//! Message attachments and their data forms.

use crate::prelude::*;

use alloc::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{take_string, take_string_array, take_time};
use crate::error::{Error, Result};

/// An attachment (DIDComm v2.1 "Attachments").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Identifies the attachment within the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// File name hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Media type of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Format, when the media type is not enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Last modification time hint, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastmod_time: Option<u64>,
    /// Size of the content in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_count: Option<u64>,
    /// The content, inline or by reference.
    pub data: AttachmentData,
    /// Other members, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The data of an attachment: at least one of the forms, and enough to reach the content.
///
/// When parsed from text ([`super::Message::from_json`], or by unpacking), inline `json` also
/// keeps the exact text it arrived as ([`AttachmentData::json_text`]), and writing the data
/// writes that text again: a message passed on (a forwarded message, a delivery) keeps its
/// sender's bytes, member order and spacing included.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttachmentData {
    /// A detached JWS over the content.
    #[serde(default)]
    pub jws: Option<Value>,
    /// Multihash of the content; required with `links`.
    #[serde(default)]
    pub hash: Option<String>,
    /// Locations the content can be fetched from.
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// Inline content, base64url.
    #[serde(default)]
    pub base64: Option<String>,
    /// Inline JSON content.
    #[serde(default)]
    pub json: Option<Value>,
    /// `json` as the text it arrived in.
    #[serde(skip)]
    pub(crate) json_text: Option<JsonText>,
}

/// The text of an inline `json`, as received: the same content as `json`, only its spelling
/// (so equality of attachment data ignores it, and `Debug` shows only its length).
#[derive(Clone)]
pub(crate) struct JsonText(Box<RawValue>);

impl PartialEq for AttachmentData {
    fn eq(&self, other: &AttachmentData) -> bool {
        self.jws == other.jws
            && self.hash == other.hash
            && self.links == other.links
            && self.base64 == other.base64
            && self.json == other.json
    }
}

impl core::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "JsonText({} bytes)", self.0.get().len())
    }
}

/// How a message is carried inline in an attachment (a forward's, a delivery's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum AttachmentForm {
    /// `data.base64`, as the spec shows.
    #[default]
    Base64,
    /// `data.json` (what Veramo, the reference libraries' forwards and some mediators send).
    Json,
}

impl AttachmentData {
    /// Inline JSON given as text, kept exactly as written (see [`AttachmentData::json_text`]).
    pub fn json_exact(text: impl Into<String>) -> Result<AttachmentData> {
        let raw = RawValue::from_string(text.into())
            .map_err(|e| super::json_error("attachment 'data.json'", &e))?;
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|e| super::json_error("attachment 'data.json'", &e))?;
        Ok(AttachmentData {
            json: Some(value),
            json_text: Some(JsonText(raw)),
            ..AttachmentData::default()
        })
    }

    /// The text `json` arrived as, when it was parsed from text (or made by
    /// [`AttachmentData::json_exact`]), while it still says what `json` says: after a change
    /// to `json` there is none (and writing the data writes the changed value).
    pub fn json_text(&self) -> Option<&str> {
        self.current_json_text().map(RawValue::get)
    }

    /// Which inline form carries the content: `json` when present (it wins over `base64`, as
    /// when reading), else `base64`; `None` for content by reference only.
    pub fn inline_form(&self) -> Option<AttachmentForm> {
        if self.json.is_some() {
            Some(AttachmentForm::Json)
        } else if self.base64.is_some() {
            Some(AttachmentForm::Base64)
        } else {
            None
        }
    }

    pub(super) fn keep_json_text(&mut self, text: &RawValue) {
        self.json_text = Some(JsonText(text.to_owned()));
    }

    /// The kept text, if it still says what `json` says (a changed `json` is written anew).
    fn current_json_text(&self) -> Option<&RawValue> {
        let text = self.json_text.as_ref()?;
        let json = self.json.as_ref()?;
        let same = serde_json::from_str::<Value>(text.0.get()).is_ok_and(|v| &v == json);
        same.then_some(&*text.0)
    }
}

impl Serialize for AttachmentData {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        let count = [
            self.jws.is_some(),
            self.hash.is_some(),
            self.links.is_some(),
            self.base64.is_some(),
            self.json.is_some(),
        ]
        .into_iter()
        .filter(|present| *present)
        .count();
        let mut map = serializer.serialize_map(Some(count))?;
        if let Some(jws) = &self.jws {
            map.serialize_entry("jws", jws)?;
        }
        if let Some(hash) = &self.hash {
            map.serialize_entry("hash", hash)?;
        }
        if let Some(links) = &self.links {
            map.serialize_entry("links", links)?;
        }
        if let Some(base64) = &self.base64 {
            map.serialize_entry("base64", base64)?;
        }
        match (self.current_json_text(), &self.json) {
            (Some(text), _) => map.serialize_entry("json", text)?,
            (None, Some(json)) => map.serialize_entry("json", json)?,
            (None, None) => {}
        }
        map.end()
    }
}

impl Attachment {
    /// An attachment carrying JSON inline.
    pub fn json(id: impl Into<String>, json: Value) -> Attachment {
        Attachment::with_data(
            id,
            AttachmentData {
                json: Some(json),
                ..AttachmentData::default()
            },
        )
    }

    /// An attachment carrying bytes inline (base64url-encoded).
    pub fn base64(id: impl Into<String>, bytes: &[u8]) -> Attachment {
        Attachment::with_data(
            id,
            AttachmentData {
                base64: Some(crate::b64::encode(bytes)),
                ..AttachmentData::default()
            },
        )
    }

    /// An attachment referring to content by links and hash.
    pub fn links(id: impl Into<String>, links: Vec<String>, hash: impl Into<String>) -> Attachment {
        Attachment::with_data(
            id,
            AttachmentData {
                links: Some(links),
                hash: Some(hash.into()),
                ..AttachmentData::default()
            },
        )
    }

    fn with_data(id: impl Into<String>, data: AttachmentData) -> Attachment {
        Attachment {
            id: Some(id.into()),
            description: None,
            filename: None,
            media_type: None,
            format: None,
            lastmod_time: None,
            byte_count: None,
            data,
            extra: BTreeMap::new(),
        }
    }

    /// Set the media type.
    #[must_use]
    pub fn with_media_type(mut self, media_type: impl Into<String>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    pub(crate) fn from_value(value: Value) -> Result<Attachment> {
        let Value::Object(mut map) = value else {
            return Err(Error::malformed("an attachment must be a JSON object"));
        };
        let data = match map.remove("data") {
            Some(Value::Object(mut data)) => AttachmentData {
                jws: match data.remove("jws") {
                    None | Some(Value::Null) => None,
                    Some(v @ (Value::Object(_) | Value::String(_))) => Some(v),
                    Some(_) => return Err(Error::malformed("'data.jws' must be a JWS")),
                },
                hash: take_string(&mut data, "hash")?,
                links: take_string_array(&mut data, "links")?,
                base64: take_string(&mut data, "base64")?,
                json: data.remove("json"),
                json_text: None,
            },
            Some(_) => return Err(Error::malformed("attachment 'data' must be a JSON object")),
            None => return Err(Error::malformed("attachment has no 'data'")),
        };
        let attachment = Attachment {
            id: take_string(&mut map, "id")?,
            description: take_string(&mut map, "description")?,
            filename: take_string(&mut map, "filename")?,
            media_type: take_string(&mut map, "media_type")?,
            format: take_string(&mut map, "format")?,
            lastmod_time: take_time(&mut map, "lastmod_time")?,
            byte_count: take_time(&mut map, "byte_count")?,
            data,
            extra: map.into_iter().collect(),
        };
        attachment.validate()?;
        Ok(attachment)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let d = &self.data;
        if d.base64.is_none()
            && d.json.is_none()
            && d.links.is_none()
            && d.jws.is_none()
            && d.hash.is_none()
        {
            return Err(Error::malformed(
                "attachment 'data' needs one of 'base64', 'json', 'links', 'jws' or 'hash'",
            ));
        }
        if d.links.is_some() && d.hash.is_none() {
            return Err(Error::malformed(
                "attachment 'data.links' requires 'data.hash'",
            ));
        }
        Ok(())
    }
}
