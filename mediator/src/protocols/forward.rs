//! Routing 2.0 `forward`: queue the attached message for the recipient key named in `next`.
//!
//! The sender needs no grant (anonymous forwards are the point of routing); the recipient key
//! must be in some granted DID's keylist. The stored message's id is the SHA-256 of its bytes
//! (base64url), so a sender's retry of the same packed message is stored once, and no sender
//! can pre-empt another message's id.

use std::time::Instant;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::mediator::{Mediator, Request};
use crate::storage::{now_ms, NewMessage, StoreOutcome};

/// The Routing 2.0 forward message type.
pub const FORWARD_TYPE: &str = "https://didcomm.org/routing/2.0/forward";

/// The id a queued message is stored under: base64url(SHA-256(bytes)).
pub fn message_id(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// The DID of a DID URL (`did:x:y#key-1` → `did:x:y`).
fn did_of(value: &str) -> &str {
    value.split(['#', '?']).next().unwrap_or(value)
}

/// Extract `next` and the forwarded bytes from a forward message.
pub fn parse(message: &didcomm_edge::Message) -> Result<(String, Vec<u8>)> {
    let next = message
        .body
        .as_ref()
        .and_then(|b| b.get("next"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::bad_request("forward without body.next"))?;
    let attachment = match message.attachments.as_deref() {
        Some([one]) => one,
        Some([]) | None => return Err(Error::bad_request("forward without an attachment")),
        Some(_) => return Err(Error::bad_request("forward with more than one attachment")),
    };
    let bytes = if let Some(json) = &attachment.data.json {
        serde_json::to_vec(json)
            .map_err(|_| Error::new(ErrorKind::Internal, "attachment JSON does not serialize"))?
    } else if let Some(b64) = &attachment.data.base64 {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64.trim_end_matches('='))
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(b64))
            .map_err(|_| Error::bad_request("forward attachment is not base64url"))?
    } else {
        return Err(Error::bad_request(
            "forward attachment carries neither json nor base64",
        ));
    };
    Ok((next.to_owned(), bytes))
}

/// Queue a forwarded message; returns once it is durable.
pub async fn handle(m: &Mediator, request: &Request<'_>) -> Result<StoreOutcome> {
    let (next, bytes) = parse(&request.message)?;
    // Keylists hold DIDs or key ids: try `next` as given, then its DID.
    let recipient = if m.storage.key_owner(&next).await?.is_some() {
        next
    } else if m.storage.key_owner(did_of(&next)).await?.is_some() {
        did_of(&next).to_owned()
    } else {
        return Err(Error::new(
            ErrorKind::UnknownRecipient,
            "no mediation grant covers the forward's recipient",
        ));
    };
    store(m, recipient, bytes).await
}

/// Queue `bytes` for `recipient` with the configured TTL and quota.
pub async fn store(m: &Mediator, recipient: String, bytes: Vec<u8>) -> Result<StoreOutcome> {
    let now = now_ms();
    let ttl = u64::try_from(m.message_ttl.as_millis()).unwrap_or(u64::MAX);
    let message = NewMessage {
        recipient,
        id: message_id(&bytes),
        body: bytes,
        received_at_ms: now,
        expires_at_ms: now.saturating_add(ttl),
    };
    let started = Instant::now();
    let outcome = m.storage.store(message, m.quota).await?;
    m.metrics
        .stored(outcome == StoreOutcome::Duplicate, started.elapsed());
    Ok(outcome)
}
