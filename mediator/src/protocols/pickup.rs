//! Message Pickup 3.0 and 4.0 (mediator side), on the core's message types: `status-request`,
//! `delivery-request`, `messages-received`, `live-delivery-change`, and live `delivery`
//! pushes. Replies use the request's version (3.0 times in seconds, 4.0 in milliseconds; 3.0
//! answers an empty `delivery-request` with a `status`, 4.0 with an empty `delivery`; 4.0's
//! `messages-received` has no reply).
//!
//! A delivery carries at most the requested (and [`MAX_DELIVERY`]) number of messages and at
//! most `delivery_max_bytes` of them, but always one if any waits: a large message goes
//! alone and never blocks the queue.
//!
//! Only the DID holding the mediation grant may pick up, and only from its own keys' queues;
//! requests must be authcrypted. Messages leave a queue only through `messages-received`.
//! Live mode needs a WebSocket; it covers every key of the DID, including keys added later.

use didcomm_edge::protocols::pickup::{
    AttachmentForm, DeliveredMessage, Delivery, PickupMessage, PickupVersion, Status,
};
use didcomm_edge::protocols::report_problem::codes;
use didcomm_edge::protocols::threading::reply_to;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;

use crate::error::{Error, ErrorKind, Result};
use crate::handler::Connection;
use crate::mediator::{Mediator, Request};
use crate::storage::{now_ms, StoredMessage};

/// Most messages one `delivery` carries.
pub const MAX_DELIVERY: usize = 100;

/// Most messages pushed to a live connection and not yet acknowledged.
pub const MAX_IN_FLIGHT: usize = 2_000;

/// Most ids one `messages-received` may acknowledge.
pub const MAX_ACK: usize = 10_000;

/// Most keys of one DID looked at per request.
const MAX_KEYS: u64 = 10_000;

/// The keys of `owner` a request may touch: all of them, or the one named by `recipient_did`.
async fn scope(m: &Mediator, owner: &str, recipient_did: Option<&str>) -> Result<Vec<String>> {
    if m.storage.grant(owner).await?.is_none() {
        return Err(Error::forbidden(
            "pickup from a DID without a mediation grant",
        ));
    }
    let (keys, _) = m.storage.keylist(owner, 0, MAX_KEYS).await?;
    match recipient_did {
        None => Ok(keys),
        Some(wanted) if keys.iter().any(|k| k == wanted) => Ok(vec![wanted.to_owned()]),
        Some(_) => Err(Error::forbidden(
            "recipient_did is not in the requester's keylist",
        )),
    }
}

/// Handle a Message Pickup 3.0 or 4.0 message; returns the replies (threaded, addressed).
pub async fn handle(m: &Mediator, request: &Request<'_>) -> Result<Vec<Message>> {
    let owner = request.authenticated_sender()?.to_owned();
    let connection = request.connection;
    let reply = match PickupMessage::parse(&request.message)? {
        PickupMessage::StatusRequest(r) => {
            let keys = scope(m, &owner, r.recipient_did.as_deref()).await?;
            Some(status(m, connection, r.version, &keys, r.recipient_did).await?)
        }
        PickupMessage::DeliveryRequest(r) => {
            let keys = scope(m, &owner, r.recipient_did.as_deref()).await?;
            let limit = usize::try_from(r.limit)
                .unwrap_or(MAX_DELIVERY)
                .min(MAX_DELIVERY);
            let messages = m
                .storage
                .fetch(&keys, limit, m.delivery_max_bytes, now_ms())
                .await?;
            if messages.is_empty() && r.version == PickupVersion::V3 {
                Some(status(m, connection, r.version, &keys, r.recipient_did).await?)
            } else {
                m.metrics.delivered(messages.len() as u64);
                Some(delivery(r.version, &messages, r.recipient_did)?)
            }
        }
        PickupMessage::MessagesReceived(r) => {
            if r.message_id_list.len() > MAX_ACK {
                return Err(Error::illegal_argument(format!(
                    "messages-received may acknowledge at most {MAX_ACK} ids"
                )));
            }
            let keys = scope(m, &owner, None).await?;
            let deleted = m.storage.ack(&keys, &r.message_id_list).await?;
            m.metrics.acknowledged(deleted);
            connection.acknowledged(&r.message_id_list);
            if connection.live_owner().is_some() {
                // Room was made: what waits behind the in-flight limit can go now.
                connection.poke();
            }
            match r.version {
                PickupVersion::V3 => Some(status(m, connection, r.version, &keys, None).await?),
                PickupVersion::V4 => None,
            }
        }
        PickupMessage::LiveDeliveryChange(r) => {
            let keys = scope(m, &owner, None).await?;
            if r.live_delivery {
                if !connection.start_live(&owner, r.version) {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        "Connection does not support Live Delivery (use the WebSocket at /ws)",
                    )
                    .with_problem_code(codes::LIVE_MODE_NOT_SUPPORTED));
                }
            } else {
                connection.stop_live();
            }
            Some(status(m, connection, r.version, &keys, None).await?)
        }
        PickupMessage::Status(_) | PickupMessage::Delivery(_) => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this Message Pickup message is for recipients, not for the mediator",
            ))
        }
    };
    Ok(reply
        .map(|r| reply_to(&request.message, r))
        .into_iter()
        .collect())
}

async fn status(
    m: &Mediator,
    connection: &Connection,
    version: PickupVersion,
    keys: &[String],
    recipient_did: Option<String>,
) -> Result<Message> {
    let stats = m.storage.queue_stats(keys).await?;
    let now = now_ms();
    let unit = |ms: u64| match version {
        PickupVersion::V3 => ms / 1000,
        PickupVersion::V4 => ms,
    };
    Ok(Status {
        version,
        recipient_did,
        message_count: stats.messages,
        longest_waited_seconds: match version {
            PickupVersion::V3 => stats
                .oldest_received_at_ms
                .map(|o| now.saturating_sub(o) / 1000),
            PickupVersion::V4 => None,
        },
        newest_received_time: stats.newest_received_at_ms.map(unit),
        oldest_received_time: stats.oldest_received_at_ms.map(unit),
        total_bytes: Some(stats.bytes),
        live_delivery: Some(connection.live_owner().is_some()),
    }
    .to_message()?)
}

fn delivery(
    version: PickupVersion,
    messages: &[StoredMessage],
    recipient_did: Option<String>,
) -> Result<Message> {
    let messages = messages
        .iter()
        .map(|stored| {
            // Stored bodies are the forwarded messages' JSON text, as their senders wrote it.
            let message = String::from_utf8(stored.body.clone()).map_err(|_| {
                Error::new(ErrorKind::Internal, "a queued message is not UTF-8 text")
            })?;
            Ok(DeliveredMessage {
                id: stored.id.clone(),
                message,
                form: Some(stored.form),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Delivery {
        version,
        recipient_did,
        messages,
        form: AttachmentForm::Base64,
    }
    .to_message()?)
}

/// Live mode: the messages queued for any key of `owner` that were not pushed on this
/// connection yet, as one `delivery` (none when nothing new waits). The keylist is read now,
/// so keys added after live delivery started are included. Each delivery asks the
/// connection to look again (more may wait behind the count or byte budget); so does an
/// acknowledgement. At most
/// [`MAX_IN_FLIGHT`] pushed messages wait for acknowledgement: a device that does not
/// acknowledge is not flooded.
pub async fn live_delivery(
    m: &Mediator,
    connection: &Connection,
    owner: &str,
    version: PickupVersion,
) -> Result<Vec<Message>> {
    let in_flight = connection.in_flight();
    if in_flight.len() >= MAX_IN_FLIGHT {
        return Ok(vec![]);
    }
    let (keys, _) = m.storage.keylist(owner, 0, MAX_KEYS).await?;
    if keys.is_empty() {
        return Ok(vec![]);
    }
    let fresh = m
        .storage
        .fetch_excluding(
            &keys,
            MAX_DELIVERY,
            m.delivery_max_bytes,
            now_ms(),
            &in_flight,
        )
        .await?;
    if fresh.is_empty() {
        return Ok(vec![]);
    }
    // The delivery may have been cut by the count or by the byte budget: look again (an
    // empty look costs one read and ends there).
    connection.poke();
    connection.mark_in_flight(fresh.iter().map(|s| s.id.clone()));
    m.metrics.delivered(fresh.len() as u64);
    Ok(vec![delivery(version, &fresh, None)?])
}
