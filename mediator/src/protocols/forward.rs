//! Routing 2.0 `forward`: queue the attached message(s) for the recipient named in `next`.
//!
//! The forward is read by the core's one parser ([`Forward::from_message`]). The sender needs
//! no grant (anonymous forwards are the point of routing), but the forward must be encrypted to
//! the mediator and `next` must be registered: as given (a DID or a DID URL), as its DID, or as
//! a DID URL of that DID (see [`crate::storage::Storage::find_recipient`]); the message is
//! queued under the key as registered. Each message is durable before this returns (and so
//! before the sender gets 202).
//!
//! A forward carries at most `max_forward_attachments` messages (the setting): the engine's
//! `max_attachments` is set from it, so a forward with more is refused by its count before its
//! attachments are parsed, and never reaches this handler.
//!
//! Each message is stored as the bytes its sender attached (the text of `data.json` as it
//! arrived, or the decoded `data.base64`), with the form it came in, and delivered in that
//! form: a device receives exactly what was sent to it.
//!
//! A device whose DID document names an http(s) endpoint of its own (a gateway) and that is
//! not connected live here gets its messages there instead, through the outbox
//! ([`crate::outbound`]): each is wrapped for the service's routing keys and is durable in the
//! outbox before the sender gets 202.
//!
//! The stored message's id is the SHA-256 of its bytes (base64url), so a sender's retry of the
//! same packed message is stored once, and no sender can pre-empt another message's id.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use didcomm_edge::{Forward, Route, RouteOptions};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::mediator::{Mediator, Request};
use crate::outbound::{destination, Destination, Outbound};
use crate::storage::{now_ms, NewMessage, StoreOutcome};

/// The id a queued message is stored under: base64url(SHA-256(bytes)).
pub fn message_id(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// Queue a forward's messages; returns once they are durable.
pub async fn handle(m: &Mediator, request: &Request<'_>) -> Result<Vec<StoreOutcome>> {
    if !request.metadata.encrypted {
        return Err(Error::illegal_argument(
            "a forward must be encrypted to the mediator",
        ));
    }
    let forward = Forward::from_message(&request.message)?;
    let now = now_ms();
    let ttl = u64::try_from(m.message_ttl.as_millis()).unwrap_or(u64::MAX);
    let mut expires_at_ms = now.saturating_add(ttl);
    if let Some(expires) = forward.expires_time {
        // The sender's expiry wins when it is sooner.
        let expires_ms = expires.saturating_mul(1000);
        if expires_ms <= now {
            return Err(Error::illegal_argument("the forward has expired"));
        }
        expires_at_ms = expires_at_ms.min(expires_ms);
    }
    let (recipient, owner) = m
        .storage
        .find_recipient(&forward.next)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::UnknownRecipient,
                "no mediation grant covers the forward's recipient",
            )
        })?;
    if let Some(outbound) = own_endpoint_delivery(m, &forward.next, &owner).await {
        let (outbound, route) = outbound;
        let mut outcomes = Vec::with_capacity(forward.messages.len());
        for message in forward.messages {
            let wrapped = m
                .didcomm
                .wrap_in_forward(
                    &message,
                    &forward.next,
                    &route.hops,
                    &RouteOptions::default(),
                )
                .await?;
            outcomes.push(outbound.enqueue(&route.uri, wrapped).await?);
        }
        return Ok(outcomes);
    }
    // One form per message (the parser read one message per attachment).
    let forms = request
        .message
        .attachments
        .iter()
        .flatten()
        .map(|a| a.data.inline_form().unwrap_or_default());
    let mut outcomes = Vec::with_capacity(forward.messages.len());
    for (message, form) in forward.messages.into_iter().zip(forms) {
        let body = message.into_bytes();
        let new = NewMessage {
            recipient: recipient.clone(),
            owner: owner.clone(),
            id: message_id(&body),
            body,
            form,
            received_at_ms: now,
            expires_at_ms,
        };
        outcomes.push(store(m, new).await?);
    }
    if let Some(push) = &m.push {
        if outcomes.contains(&StoreOutcome::Stored) && !m.live.is_live(&owner) {
            push.message_queued(&owner);
        }
    }
    Ok(outcomes)
}

/// Whether a forward for `next` (a key of `owner`) goes to the device's own endpoint rather
/// than its queue: outbound delivery is on, the device is not connected live here, and its DID
/// document names an http(s) endpoint of its own (not a route through this mediator).
async fn own_endpoint_delivery<'m>(
    m: &'m Mediator,
    next: &str,
    owner: &str,
) -> Option<(&'m Arc<Outbound>, Route)> {
    let outbound = m.outbound.as_ref()?;
    if m.live.is_live(owner) {
        return None;
    }
    match destination(&m.didcomm, &m.did, next).await {
        Destination::Endpoint(route) => Some((outbound, route)),
        Destination::ThroughUs | Destination::Nowhere => None,
    }
}

/// Queue one message with the configured quota; returns once it is durable.
pub async fn store(m: &Mediator, message: NewMessage) -> Result<StoreOutcome> {
    let started = Instant::now();
    let outcome = m.storage.store(message, m.quota).await?;
    m.metrics
        .stored(outcome == StoreOutcome::Duplicate, started.elapsed());
    Ok(outcome)
}
