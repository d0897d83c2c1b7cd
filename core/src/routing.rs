//! Routing Protocol 2.0: the **route** of pack / unpack / resolve / route.
//!
//! A sender encrypts a message to its recipient, then [`DidComm::route`] wraps it in one
//! anoncrypted `forward` per mediator named by the recipient's `DIDCommMessaging` service
//! (its `routingKeys`, and the mediator's own keys when the service `uri` is a mediator's DID)
//! and says where to send the result. A mediator reads the `forward` addressed to it with
//! [`DidComm::unwrap_forward`] (or [`Forward::from_message`]) and passes the attached message
//! on to `next`.
//!
//! This module holds the one parser of `forward` messages; unpack uses it to unwrap forwards
//! re-wrapped to us.

use crate::prelude::*;

use alloc::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::crypto::ContentEncAlg;
use crate::did::{absolute_id, did_of, is_did, DidCommEndpoint};
use crate::engine::DidComm;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{json_error, Attachment, AttachmentData, Message, ENCRYPTED_TYP};
use crate::pack::PackEncryptedOptions;
use crate::unpack::{UnpackMetadata, UnpackOptions};

/// The protocol identifier of Routing 2.0.
pub const ROUTING_PIURI: &str = "https://didcomm.org/routing/2.0";
/// The message type of a Routing 2.0 forward.
pub const FORWARD_TYPE: &str = "https://didcomm.org/routing/2.0/forward";
/// The profile a `DIDCommMessaging` endpoint must accept (or leave `accept` empty) to be used.
pub const DIDCOMM_V2_PROFILE: &str = "didcomm/v2";

/// Where a didcomm-edge mediator serves live delivery, given its HTTP endpoint: the same URL
/// with `ws` for `http` and `wss` for `https`, plus `/ws` (a mediator mounted under a path
/// behind a proxy keeps the path). This is our mediator's convention, not the spec's: the
/// mediator advertises this URL in its DID, and agents derive it only when a DID names none.
pub fn mediator_websocket_url(http_url: &str) -> String {
    let trimmed = http_url.trim_end_matches('/');
    let converted = if let Some(rest) = trimmed.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        trimmed.to_owned()
    };
    format!("{converted}/ws")
}

/// More hops than this is a misconfigured or hostile DID document, not a route.
const MAX_HOPS: usize = 32;

/// Options of [`DidComm::route`] and [`DidComm::wrap_in_forward`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RouteOptions {
    /// Content encryption of each anoncrypted forward layer (A256CBC-HS512 by default).
    pub enc_alg_anon: ContentEncAlg,
    /// Use this `DIDCommMessaging` service of the recipient (its absolute id) rather than the
    /// first one that accepts `didcomm/v2`.
    pub service_id: Option<String>,
    /// `expires_time` of every forward (usually the inner message's own expiry).
    pub expires_time: Option<u64>,
    /// `delay_milli` of every forward: ask mediators to hold the message this long (negative:
    /// a random delay up to the absolute value). Mediators may ignore it.
    pub delay_milli: Option<i64>,
    /// Other headers to put on every forward.
    pub forward_headers: BTreeMap<String, Value>,
}

impl RouteOptions {
    /// Set the content encryption of the forward layers.
    #[must_use]
    pub fn enc_alg_anon(mut self, enc: ContentEncAlg) -> Self {
        self.enc_alg_anon = enc;
        self
    }

    /// Choose the recipient's service by id.
    #[must_use]
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.service_id = Some(id.into());
        self
    }

    /// Set `expires_time` on every forward.
    #[must_use]
    pub fn expires_time(mut self, t: u64) -> Self {
        self.expires_time = Some(t);
        self
    }
}

/// Where and how a message for a recipient travels, as read from DID documents (no crypto).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The transport URI to send the outermost message to (`https://`, `wss://`, ...).
    pub uri: String,
    /// The recipient's service that was chosen.
    pub service_id: String,
    /// What the endpoint that receives the transport message accepts (empty: unspecified).
    pub accept: Vec<String>,
    /// The mediators' keys (DID URLs) or DIDs, in the order the message passes them: the first
    /// receives the transport message. Empty when the message goes to the recipient directly.
    pub hops: Vec<String>,
}

/// What [`DidComm::route`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routed {
    /// The message to transmit: the packed input wrapped once per hop (or the input itself).
    pub message: String,
    /// The transport URI to send it to.
    pub uri: String,
    /// The recipient's service that was chosen.
    pub service_id: String,
    /// What the receiving endpoint accepts (empty: unspecified).
    pub accept: Vec<String>,
    /// The hops, first receiver first (see [`Route::hops`]).
    pub hops: Vec<String>,
}

/// A `forward` message: "pass the attached message(s) on to `next`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The DID (or key id, for a last hop) to pass the messages to.
    pub next: String,
    /// The forwarded messages as JSON text (normally one encrypted message).
    pub messages: Vec<String>,
    /// The forward's `expires_time`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_time: Option<u64>,
    /// The requested delivery delay in milliseconds, if any (see [`RouteOptions::delay_milli`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_milli: Option<i64>,
}

impl Forward {
    /// A forward of one packed message to `next`.
    pub fn new(next: impl Into<String>, packed: impl Into<String>) -> Forward {
        Forward {
            next: next.into(),
            messages: vec![packed.into()],
            expires_time: None,
            delay_milli: None,
        }
    }

    /// The plaintext forward message (attachments carry the messages as JSON). Each forwarded
    /// message must be a JSON object.
    pub fn to_message(&self) -> Result<Message> {
        check_next(&self.next).map_err(|e| Error::illegal_argument(e.reason().to_owned()))?;
        if self.messages.is_empty() {
            return Err(Error::illegal_argument(
                "a forward needs a message to forward",
            ));
        }
        forward_message(
            &self.next,
            self.messages.clone(),
            self.expires_time,
            self.delay_milli,
        )
    }

    /// Read a forward: the type must be `forward`, `body.next` a DID or DID URL, and every
    /// attachment must carry a JSON object inline (`json`, or `base64` of JSON text).
    pub fn from_message(message: &Message) -> Result<Forward> {
        if message.type_ != FORWARD_TYPE {
            return Err(Error::malformed(format!(
                "expected a {FORWARD_TYPE} message, not {}",
                crate::error::excerpt(&message.type_)
            )));
        }
        let next = message
            .body
            .as_ref()
            .and_then(|b| b.get("next"))
            .ok_or_else(|| Error::malformed("forward has no 'body.next'"))?
            .as_str()
            .ok_or_else(|| Error::malformed("forward 'body.next' must be a string"))?;
        check_next(next)?;
        let attachments = message.attachments.as_deref().unwrap_or_default();
        if attachments.is_empty() {
            return Err(Error::malformed("forward has no attachment to forward"));
        }
        let messages = attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                attached_json_object(&a.data)
                    .map_err(|e| e.context(format!("forward attachments[{i}]")))
            })
            .collect::<Result<Vec<_>>>()?;
        let delay_milli = match message.extra_headers.get("delay_milli") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| Error::malformed("forward 'delay_milli' must be an integer"))?,
            ),
        };
        Ok(Forward {
            next: next.to_owned(),
            messages,
            expires_time: message.expires_time,
            delay_milli,
        })
    }
}

/// The forward message for packed messages (each the text of a JSON object), attached as
/// inline JSON in exactly that text.
fn forward_message(
    next: &str,
    messages: Vec<String>,
    expires_time: Option<u64>,
    delay_milli: Option<i64>,
) -> Result<Message> {
    let mut message = Message::build(
        crate::crypto::uuid_v4()?,
        FORWARD_TYPE,
        json!({ "next": next }),
    );
    for text in messages {
        let data = AttachmentData::json_exact(text)
            .map_err(|e| Error::illegal_argument(format!("forwarded message: {}", e.reason())))?;
        let Some(Value::Object(map)) = &data.json else {
            return Err(Error::illegal_argument(
                "a forwarded message must be a JSON object",
            ));
        };
        let media_type = looks_encrypted(map).then(|| ENCRYPTED_TYP.to_owned());
        message = message.attachment(Attachment {
            id: None,
            description: None,
            filename: None,
            media_type,
            format: None,
            lastmod_time: None,
            byte_count: None,
            data,
            extra: BTreeMap::new(),
        });
    }
    message.expires_time = expires_time;
    if let Some(delay) = delay_milli {
        message = message.header("delay_milli", json!(delay));
    }
    Ok(message)
}

/// The `next` of a plaintext message in JSON form when it is a forward, without further
/// checks (unpack uses it to decide whether a forward is addressed to us).
pub(crate) fn forward_next(value: &Value) -> Option<&str> {
    let map = value.as_object()?;
    if map.get("type").and_then(Value::as_str) != Some(FORWARD_TYPE) {
        return None;
    }
    map.get("body")?.get("next")?.as_str()
}

fn check_next(next: &str) -> Result<()> {
    crate::did::check_did_len(next, "forward 'body.next'")?;
    if !is_did(did_of(next)) {
        return Err(Error::malformed(
            "forward 'body.next' must be a DID or a DID URL",
        ));
    }
    Ok(())
}

/// An attachment's inline content as JSON text of an object.
fn attached_json_object(data: &AttachmentData) -> Result<String> {
    if let Some(json) = &data.json {
        if !json.is_object() {
            return Err(Error::malformed(
                "the attached message must be a JSON object",
            ));
        }
        // As the sender wrote it, when the forward was read from text.
        if let Some(text) = data.json_text() {
            return Ok(text.to_owned());
        }
        return serde_json::to_string(json)
            .map_err(|_| Error::invalid_state("attached message does not serialize"));
    }
    if let Some(b64) = &data.base64 {
        let bytes = crate::b64::decode(b64, "attachment 'data.base64'")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::malformed("the attached message is not UTF-8 text"))?;
        crate::message::check_json_values(
            &text,
            crate::message::DEFAULT_MAX_JSON_VALUES,
            "attached message",
        )?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| json_error("attached message", &e))?;
        if !value.is_object() {
            return Err(Error::malformed(
                "the attached message must be a JSON object",
            ));
        }
        return Ok(text);
    }
    if data.links.is_some() {
        return Err(Error::unsupported(
            "attachments by 'links' are not fetched; send the message inline",
        ));
    }
    Err(Error::malformed(
        "attachment carries neither 'json' nor 'base64'",
    ))
}

fn looks_encrypted(map: &Map<String, Value>) -> bool {
    map.contains_key("ciphertext") && map.contains_key("protected")
}

/// Whether an endpoint may be used for DIDComm v2.
fn accepts_v2(endpoint: &DidCommEndpoint) -> bool {
    !endpoint.uri.is_empty()
        && (endpoint.accept.is_empty() || endpoint.accept.iter().any(|a| a == DIDCOMM_V2_PROFILE))
}

impl DidComm {
    /// Plan the route to `to` (a DID or DID URL): pick its `DIDCommMessaging` service that
    /// accepts `didcomm/v2` (or `options.service_id`), follow a mediator named by DID in the
    /// service `uri` to that mediator's own service, and list the hops.
    ///
    /// When the `uri` is a mediator's DID, the mediator's key agreement keys become the first
    /// hop before the recipient's `routingKeys`; if the mediator's own service has routing keys,
    /// they come first. A mediator whose endpoint is again a DID is refused (the spec advises
    /// against such recursion).
    pub async fn resolve_route(&self, to: &str, options: &RouteOptions) -> Result<Route> {
        let recipient = did_of(to);
        let endpoint = self
            .didcomm_endpoint(recipient, options.service_id.as_deref())
            .await?;
        let mut hops = endpoint.routing_keys.clone();
        let (uri, accept) = if is_did(did_of(&endpoint.uri)) {
            let mediator = did_of(&endpoint.uri);
            let via = self
                .didcomm_endpoint(mediator, None)
                .await
                .map_err(|e| e.context(format!("the mediator {mediator} named by {recipient}")))?;
            if is_did(did_of(&via.uri)) {
                return Err(Error::unsupported(format!(
                    "the endpoint of mediator {mediator} is itself a DID; endpoints are not followed recursively"
                )));
            }
            let mut chain = via.routing_keys.clone();
            chain.push(mediator.to_owned());
            chain.append(&mut hops);
            hops = chain;
            (via.uri, via.accept)
        } else {
            (endpoint.uri.clone(), endpoint.accept.clone())
        };
        check_hops(&hops)?;
        Ok(Route {
            uri,
            service_id: endpoint.service_id,
            accept,
            hops,
        })
    }

    /// Route an encrypted message to `to` (the DID or key id it was encrypted to): wrap it in
    /// an anoncrypted `forward` for each hop of [`DidComm::resolve_route`], innermost first,
    /// and return the outer message with the transport URI.
    ///
    /// Each hop is a DID URL (the forward is encrypted to that key) or a DID (to its key
    /// agreement keys of one curve); both resolve through the engine's resolver. The `next` of
    /// each forward is the following hop, and `to` for the last one.
    pub async fn route(&self, packed: &str, to: &str, options: &RouteOptions) -> Result<Routed> {
        let route = self.resolve_route(to, options).await?;
        let message = self
            .wrap_in_forward(packed, to, &route.hops, options)
            .await?;
        Ok(Routed {
            message,
            uri: route.uri,
            service_id: route.service_id,
            accept: route.accept,
            hops: route.hops,
        })
    }

    /// Wrap `packed` in forwards along `hops` (first receiver first), the last forward telling
    /// its mediator to pass the message on to `next`. With no hops the message is returned
    /// unchanged. A mediator uses this to re-wrap for routing keys its recipient registered.
    pub async fn wrap_in_forward(
        &self,
        packed: &str,
        next: &str,
        hops: &[String],
        options: &RouteOptions,
    ) -> Result<String> {
        check_next(next).map_err(|_| {
            Error::illegal_argument("the final recipient must be a DID or a DID URL")
        })?;
        check_hops(hops)?;
        match serde_json::from_str::<Value>(packed) {
            Ok(Value::Object(map)) if looks_encrypted(&map) => {}
            Ok(_) => return Err(Error::illegal_argument(
                "only encrypted messages are routed; pack the message with pack_encrypted first",
            )),
            Err(e) => return Err(json_error("message to route", &e)),
        };
        if hops.is_empty() {
            return Ok(packed.to_owned());
        }
        let pack_options = PackEncryptedOptions::default().enc_alg_anon(options.enc_alg_anon);
        let nexts = hops.iter().skip(1).map(String::as_str).chain([next]);
        let layers: Vec<(&String, &str)> = hops.iter().zip(nexts).collect();
        // Each layer attaches the previous one (first the caller's message) as it is written.
        let mut wrapped = packed.to_owned();
        for (hop, hop_next) in layers.into_iter().rev() {
            let mut message = forward_message(
                hop_next,
                vec![core::mem::take(&mut wrapped)],
                options.expires_time,
                options.delay_milli,
            )?
            .to(did_of(hop));
            for (name, value) in &options.forward_headers {
                message = message.header(name.clone(), value.clone());
            }
            wrapped = self
                .pack_encrypted(&message, hop, None, None, &pack_options)
                .await
                .map_err(|e| e.context(format!("wrapping a forward for {hop}")))?
                .0;
        }
        Ok(wrapped)
    }

    /// Mediator side: unpack a message addressed to us and read it as a forward. Returns the
    /// forward (its `next` and the message(s) to pass on) and how the envelope was protected.
    /// A forward that is not encrypted is refused.
    pub async fn unwrap_forward(&self, packed: &str) -> Result<(Forward, UnpackMetadata)> {
        // A forward whose `next` is also ours would otherwise be opened too: the caller
        // asked for this layer.
        let options = UnpackOptions {
            unwrap_re_wrapping_forward: false,
            ..UnpackOptions::default()
        };
        let (message, metadata) = self.unpack(packed, &options).await?;
        if !metadata.encrypted {
            return Err(Error::new(
                ErrorKind::Malformed,
                "a forward must be encrypted to the mediator",
            ));
        }
        Ok((Forward::from_message(&message)?, metadata))
    }

    /// The first `DIDCommMessaging` endpoint of `did` usable for DIDComm v2, or the one of
    /// the given service id.
    async fn didcomm_endpoint(
        &self,
        did: &str,
        service_id: Option<&str>,
    ) -> Result<DidCommEndpoint> {
        let resolved = self.resolve(did).await?;
        let endpoints = resolved.document().didcomm_endpoints();
        let found = match service_id {
            Some(id) => {
                let wanted = absolute_id(did, id);
                let mut of_service = endpoints
                    .into_iter()
                    .filter(|e| e.service_id == wanted)
                    .peekable();
                if of_service.peek().is_none() {
                    return Err(Error::new(
                        ErrorKind::DidUrlNotFound,
                        format!(
                            "{} has no DIDCommMessaging service {}",
                            crate::error::excerpt(did),
                            crate::error::excerpt(id)
                        ),
                    ));
                }
                of_service.find(accepts_v2)
            }
            None => endpoints.into_iter().find(accepts_v2),
        };
        found.ok_or_else(|| {
            Error::new(
                ErrorKind::DidUrlNotFound,
                format!(
                    "{} has no DIDCommMessaging endpoint accepting {DIDCOMM_V2_PROFILE}",
                    crate::error::excerpt(did)
                ),
            )
        })
    }
}

fn check_hops(hops: &[String]) -> Result<()> {
    if hops.len() > MAX_HOPS {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "a route of {} hops exceeds the limit of {MAX_HOPS}",
                hops.len()
            ),
        ));
    }
    for hop in hops {
        if !is_did(did_of(hop)) {
            let shown: String = hop.chars().take(80).collect();
            return Err(Error::new(
                ErrorKind::Malformed,
                format!("routing key '{shown}' is not a DID or a DID URL"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediator_websocket_urls() {
        for (http, ws) in [
            ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("https://m.example/didcomm/", "wss://m.example/didcomm/ws"),
            (
                "https://m.example.com/didcomm",
                "wss://m.example.com/didcomm/ws",
            ),
            ("https://m.example.com", "wss://m.example.com/ws"),
        ] {
            assert_eq!(mediator_websocket_url(http), ws, "{http}");
        }
    }
}
