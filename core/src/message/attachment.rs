//! Message attachments and their data forms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttachmentData {
    /// A detached JWS over the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jws: Option<Value>,
    /// Multihash of the content; required with `links`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Locations the content can be fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Inline content, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Inline JSON content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
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
