//! Out-of-Band 2.0: an unencrypted invitation passed as a URL or QR code
//! (`https://example.com/path?_oob=<base64url(plaintext JSON)>`).
//!
//! The invitation's `id` becomes the `pthid` of the replies it triggers
//! ([`Invitation::reply`]). Anything in an invitation is public: put no private data in it.

use crate::prelude::*;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_type, put, shorten, Body, ProtocolMessage};
use crate::did::is_did;
use crate::error::{Error, Result};
use crate::message::{Attachment, Message, ParseOptions};
use crate::percent::Undecodable;

/// The protocol identifier.
pub const OOB_PIURI: &str = "https://didcomm.org/out-of-band/2.0";
/// `invitation`.
pub const INVITATION_TYPE: &str = "https://didcomm.org/out-of-band/2.0/invitation";
/// The URL query parameter carrying an invitation.
pub const OOB_QUERY_PARAMETER: &str = "_oob";
/// The URL query parameter of a shortened invitation URL (the invitation must be fetched).
pub const OOB_ID_QUERY_PARAMETER: &str = "_oobid";

/// Invitations larger than this (decoded) are refused: a QR code holds far less.
const MAX_INVITATION_BYTES: usize = 64 * 1024;

/// base64url, padding optional (invitations are not signed, and some writers pad).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An out-of-band invitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    /// The message id, used as `pthid` by the replies.
    pub id: String,
    /// The inviter's DID (required for out-of-band use).
    pub from: String,
    /// A self-attested code of the goal (`issue-vc`, `org.didcomm.mediator`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_code: Option<String>,
    /// A self-attested description of the goal, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Accepted profiles in order of preference (`didcomm/v2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    /// Alternative request messages; the receiver acts on one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// `created_time` of the invitation, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<u64>,
    /// `expires_time` of the invitation, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_time: Option<u64>,
}

impl Invitation {
    /// An invitation from `from` with a fresh id, accepting `didcomm/v2`.
    pub fn new(from: impl Into<String>) -> Result<Invitation> {
        Ok(Invitation {
            id: crate::crypto::uuid_v4()?,
            from: from.into(),
            goal_code: None,
            goal: None,
            accept: vec![crate::routing::DIDCOMM_V2_PROFILE.to_owned()],
            attachments: vec![],
            created_time: Some(crate::time::now_epoch_seconds()),
            expires_time: None,
        })
    }

    /// Set the goal code and goal text.
    #[must_use]
    pub fn goal(mut self, goal_code: impl Into<String>, goal: impl Into<String>) -> Self {
        self.goal_code = Some(goal_code.into());
        self.goal = Some(goal.into());
        self
    }

    /// Attach a request message (inline JSON).
    pub fn attach_message(mut self, message: &Message) -> Result<Self> {
        let id = format!("request-{}", self.attachments.len());
        self.attachments
            .push(Attachment::json(id, message.to_value()?).with_media_type("application/json"));
        Ok(self)
    }

    /// The attached request messages that are DIDComm plaintext messages (inline `json`, or
    /// `base64` of JSON), in order of preference.
    pub fn attached_messages(&self) -> Result<Vec<Message>> {
        self.attachments
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let value = if let Some(json) = &a.data.json {
                    Ok(json.clone())
                } else if let Some(b64) = &a.data.base64 {
                    lenient_b64(b64, "invitation attachment").and_then(|bytes| {
                        crate::message::json_from_slice(&bytes, "invitation attachment")
                    })
                } else {
                    return None;
                };
                Some(
                    value
                        .and_then(|v| Message::from_value(v, ParseOptions::default()))
                        .map_err(|e| e.context(format!("invitation attachments[{i}]"))),
                )
            })
            .collect()
    }

    /// `reply` made the first message of a thread started by this invitation (`pthid` is the
    /// invitation id, `to` the inviter).
    #[must_use]
    pub fn reply(&self, mut reply: Message) -> Message {
        reply.pthid = Some(self.id.clone());
        reply.to = Some(vec![self.from.clone()]);
        reply
    }

    /// The invitation as compact JSON, base64url-encoded without padding.
    pub fn to_encoded(&self) -> Result<String> {
        Ok(URL_SAFE_LENIENT.encode(self.to_message()?.to_json()?))
    }

    /// The invitation URL: `base` with an `_oob` query parameter added.
    pub fn to_url(&self, base: &str) -> Result<String> {
        if base.contains('#') {
            return Err(Error::illegal_argument(
                "the invitation base URL must not have a fragment",
            ));
        }
        let separator = match base.find('?') {
            None => "?",
            Some(q) if q + 1 == base.len() || base.ends_with('&') => "",
            Some(_) => "&",
        };
        Ok(format!(
            "{base}{separator}{OOB_QUERY_PARAMETER}={}",
            self.to_encoded()?
        ))
    }

    /// Read an invitation from its base64url form (padding and the standard alphabet are
    /// tolerated).
    pub fn from_encoded(encoded: &str) -> Result<Invitation> {
        if encoded.len() > MAX_INVITATION_BYTES * 4 / 3 + 4 {
            return Err(Error::new(
                crate::ErrorKind::TooLarge,
                "the invitation is too large",
            ));
        }
        let bytes = lenient_b64(encoded, "'_oob'")?;
        let message = Message::from_json(
            core::str::from_utf8(&bytes)
                .map_err(|_| Error::malformed("'_oob' does not decode to UTF-8 text"))?,
            ParseOptions::default(),
        )?;
        Invitation::from_message(&message)
    }

    /// Read an invitation from a URL with an `_oob` query parameter. A shortened URL
    /// (`_oobid`) is refused with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported):
    /// fetch it (see [`short_url_id`]) and read the answer.
    pub fn from_url(url: &str) -> Result<Invitation> {
        match query_parameter(url, OOB_QUERY_PARAMETER) {
            Some(value) => Invitation::from_encoded(&percent_decode(value)?),
            None if query_parameter(url, OOB_ID_QUERY_PARAMETER).is_some() => Err(
                Error::unsupported("a shortened invitation URL ('_oobid') must be fetched first"),
            ),
            None => Err(Error::malformed("the URL has no '_oob' query parameter")),
        }
    }
}

/// The id of a shortened invitation URL (`?_oobid=...`), which the receiver fetches with an
/// HTTP GET of the URL itself.
pub fn short_url_id(url: &str) -> Option<String> {
    query_parameter(url, OOB_ID_QUERY_PARAMETER).and_then(|v| percent_decode(v).ok())
}

fn lenient_b64(input: &str, what: &str) -> Result<Vec<u8>> {
    let trimmed = input.trim();
    URL_SAFE_LENIENT
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed.trim_end_matches('=')))
        .map_err(|_| Error::malformed(format!("{what} is not base64url")))
}

/// The raw value of query parameter `name` (before percent-decoding).
fn query_parameter<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Decode `%XX` escapes (`+` is kept: base64url does not use it for a space).
fn percent_decode(value: &str) -> Result<String> {
    crate::percent::decode(value).map_err(|e| match e {
        Undecodable::BadEscape => Error::malformed("bad percent-encoding in the URL"),
        Undecodable::NotUtf8 => Error::malformed("the URL parameter is not UTF-8"),
    })
}

impl ProtocolMessage for Invitation {
    fn message_type(&self) -> &'static str {
        INVITATION_TYPE
    }

    /// Keeps the invitation's own `id` (the replies refer to it) and `created_time`.
    fn to_message(&self) -> Result<Message> {
        if !is_did(&self.from) {
            return Err(Error::illegal_argument(
                "an invitation's 'from' must be a DID",
            ));
        }
        if self.id.is_empty() {
            return Err(Error::illegal_argument("an invitation needs an 'id'"));
        }
        let mut body = Map::new();
        put(&mut body, "goal_code", self.goal_code.clone());
        put(&mut body, "goal", self.goal.clone());
        if !self.accept.is_empty() {
            body.insert(
                "accept".into(),
                Value::Array(self.accept.iter().cloned().map(Value::String).collect()),
            );
        }
        let mut message = Message::build(self.id.clone(), INVITATION_TYPE, Value::Object(body))
            .from(self.from.clone());
        message.created_time = self.created_time;
        message.expires_time = self.expires_time;
        if !self.attachments.is_empty() {
            message.attachments = Some(self.attachments.clone());
        }
        Ok(message)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, INVITATION_TYPE)?;
        let body = Body::of(message, "invitation")?;
        let from = message
            .from
            .clone()
            .ok_or_else(|| body.error("'from' is missing (required for out-of-band use)"))?;
        if !is_did(&from) {
            return Err(body.error(format_args!("'from' {} is not a DID", shorten(&from))));
        }
        Ok(Invitation {
            id: message.id.clone(),
            from,
            goal_code: body.string("goal_code")?,
            goal: body.string("goal")?,
            accept: body.strings("accept")?.unwrap_or_default(),
            attachments: message.attachments.clone().unwrap_or_default(),
            created_time: message.created_time,
            expires_time: message.expires_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's example ("Example Out-of-Band Message Encoding").
    const SPEC_ENCODED: &str = "eyJ0eXBlIjoiaHR0cHM6Ly9kaWRjb21tLm9yZy9vdXQtb2YtYmFuZC8yLjAvaW52aXRhdGlvbiIsImlkIjoiNjkyMTJhM2EtZDA2OC00ZjlkLWEyZGQtNDc0MWJjYTg5YWYzIiwiZnJvbSI6ImRpZDpleGFtcGxlOmFsaWNlIiwiYm9keSI6eyJnb2FsX2NvZGUiOiIiLCJnb2FsIjoiIn0sImF0dGFjaG1lbnRzIjpbeyJpZCI6InJlcXVlc3QtMCIsIm1lZGlhX3R5cGUiOiJhcHBsaWNhdGlvbi9qc29uIiwiZGF0YSI6eyJqc29uIjoiPGpzb24gb2YgcHJvdG9jb2wgbWVzc2FnZT4ifX1dfQ";

    #[test]
    fn spec_example_url() {
        let url = format!("https://example.com/path?_oob={SPEC_ENCODED}");
        let inv = Invitation::from_url(&url).unwrap();
        assert_eq!(inv.id, "69212a3a-d068-4f9d-a2dd-4741bca89af3");
        assert_eq!(inv.from, "did:example:alice");
        assert_eq!(inv.goal_code.as_deref(), Some(""));
        assert_eq!(inv.attachments.len(), 1);
        // The attachment is a JSON string, not a message: it is skipped by nothing and
        // refused as a message.
        assert!(inv.attached_messages().is_err());
    }

    #[test]
    fn query_parameters() {
        assert_eq!(
            query_parameter("https://x/p?a=1&_oob=abc#frag", "_oob"),
            Some("abc")
        );
        assert_eq!(query_parameter("https://x/p?_oobid=abc", "_oob"), None);
        assert_eq!(
            short_url_id("https://x/p?_oobid=5f0e%2D3"),
            Some("5f0e-3".to_owned())
        );
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
        assert_eq!(percent_decode("a%3Db").unwrap(), "a=b");
    }
}
