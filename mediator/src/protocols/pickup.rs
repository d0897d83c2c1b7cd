//! Message Pickup 3.0 (mediator side): `status-request`, `delivery-request`,
//! `messages-received`, `live-delivery-change`, and live `delivery` pushes.
//!
//! Only the DID holding the mediation grant may pick up, and only from its own keys' queues;
//! requests must be authenticated (authcrypt). Messages leave a queue only through
//! `messages-received`.

use base64::Engine as _;
use didcomm_edge::{Attachment, Message};
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::handler::Connection;
use crate::mediator::{Mediator, Request};
use crate::storage::{now_ms, StoredMessage};

/// The Pickup 3.0 type prefix.
pub const PICKUP_3: &str = "https://didcomm.org/messagepickup/3.0/";

/// Most messages one `delivery` carries.
pub const MAX_DELIVERY: usize = 100;

/// Most keys of one DID looked at per request.
const MAX_KEYS: u64 = 10_000;

fn body(message: &Message) -> Map<String, Value> {
    match &message.body {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

/// The keys of `owner` a request may touch: all of them, or the one named by `recipient_did`.
async fn scope(m: &Mediator, owner: &str, recipient_did: Option<&str>) -> Result<Vec<String>> {
    if m.storage.grant(owner).await?.is_none() {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "pickup from a DID without a mediation grant",
        ));
    }
    let (keys, _) = m.storage.keylist(owner, 0, MAX_KEYS).await?;
    match recipient_did {
        None => Ok(keys),
        Some(wanted) if keys.iter().any(|k| k == wanted) => Ok(vec![wanted.to_owned()]),
        Some(_) => Err(Error::new(
            ErrorKind::Forbidden,
            "recipient_did is not in the requester's keylist",
        )),
    }
}

/// Handle a Pickup 3.0 message whose type ends with `name`.
pub async fn handle(m: &Mediator, request: &Request<'_>, name: &str) -> Result<Vec<Message>> {
    let owner = request.authenticated_sender()?.to_owned();
    let body = body(&request.message);
    let recipient_did = body.get("recipient_did").and_then(Value::as_str);
    let thid = request.message.id.clone();
    match name {
        "status-request" => {
            let keys = scope(m, &owner, recipient_did).await?;
            Ok(vec![status(m, request.connection, &keys, recipient_did)
                .await?
                .thid(thid)])
        }
        "delivery-request" => {
            let limit = body
                .get("limit")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::bad_request("delivery-request needs a numeric limit"))?;
            let limit = usize::try_from(limit)
                .unwrap_or(MAX_DELIVERY)
                .min(MAX_DELIVERY);
            let keys = scope(m, &owner, recipient_did).await?;
            let messages = m.storage.fetch(&keys, limit, now_ms()).await?;
            if messages.is_empty() {
                return Ok(vec![status(m, request.connection, &keys, recipient_did)
                    .await?
                    .thid(thid)]);
            }
            m.metrics.delivered(messages.len() as u64);
            Ok(vec![delivery(&messages, recipient_did)?.thid(thid)])
        }
        "messages-received" => {
            let ids: Vec<String> = body
                .get("message_id_list")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::bad_request("messages-received needs message_id_list"))?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let keys = scope(m, &owner, None).await?;
            let deleted = m.storage.ack(&keys, &ids).await?;
            m.metrics.acknowledged(deleted);
            request.connection.acknowledged(&ids);
            Ok(vec![status(m, request.connection, &keys, None)
                .await?
                .thid(thid)])
        }
        "live-delivery-change" => {
            let live = body
                .get("live_delivery")
                .and_then(Value::as_bool)
                .ok_or_else(|| Error::bad_request("live-delivery-change needs live_delivery"))?;
            let keys = scope(m, &owner, None).await?;
            if live {
                if !request.connection.start_live(&owner, &keys) {
                    return Err(Error::bad_request(
                        "live delivery needs a WebSocket connection (e.m.live-mode-not-supported)",
                    ));
                }
            } else {
                request.connection.stop_live();
            }
            Ok(vec![status(m, request.connection, &keys, None)
                .await?
                .thid(thid)])
        }
        other => Err(Error::bad_request(format!(
            "unknown Pickup 3.0 message '{other}'"
        ))),
    }
}

async fn status(
    m: &Mediator,
    connection: &Connection,
    keys: &[String],
    recipient_did: Option<&str>,
) -> Result<Message> {
    let stats = m.storage.queue_stats(keys).await?;
    let now = now_ms();
    let mut body = json!({
        "message_count": stats.messages,
        "total_bytes": stats.bytes,
        "live_delivery": connection.live_owner().is_some(),
    });
    if let Value::Object(map) = &mut body {
        if let Some(did) = recipient_did {
            map.insert("recipient_did".into(), json!(did));
        }
        if let Some(oldest) = stats.oldest_received_at_ms {
            map.insert("oldest_received_time".into(), json!(oldest / 1000));
            map.insert(
                "longest_waited_seconds".into(),
                json!(now.saturating_sub(oldest) / 1000),
            );
        }
        if let Some(newest) = stats.newest_received_at_ms {
            map.insert("newest_received_time".into(), json!(newest / 1000));
        }
    }
    Ok(Message::new(format!("{PICKUP_3}status"), body)?)
}

fn delivery(messages: &[StoredMessage], recipient_did: Option<&str>) -> Result<Message> {
    let mut body = Map::new();
    if let Some(did) = recipient_did {
        body.insert("recipient_did".into(), json!(did));
    }
    let mut message = Message::new(format!("{PICKUP_3}delivery"), Value::Object(body))?;
    message.attachments = Some(
        messages
            .iter()
            .map(|stored| {
                let mut attachment = Attachment::base64(stored.id.clone(), &stored.body);
                // Attachment::base64 writes base64url, as DIDComm attachments use.
                attachment.data.base64 =
                    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&stored.body));
                attachment
            })
            .collect(),
    );
    Ok(message)
}

/// Live mode: the messages queued for `recipient` (or all live keys when `recipient` is
/// empty) that were not pushed on this connection yet, as one `delivery`.
pub async fn live_delivery(
    m: &Mediator,
    connection: &Connection,
    _owner: &str,
    recipient: &str,
) -> Result<Vec<Message>> {
    let keys = if recipient.is_empty() {
        connection.live_keys()
    } else {
        vec![recipient.to_owned()]
    };
    if keys.is_empty() {
        return Ok(vec![]);
    }
    // Look past what is already in flight on this connection.
    let mut limit = MAX_DELIVERY;
    loop {
        let fetched = m.storage.fetch(&keys, limit, now_ms()).await?;
        let exhausted = fetched.len() < limit;
        let fresh: Vec<StoredMessage> = fetched
            .into_iter()
            .filter(|s| !connection.is_in_flight(&s.id))
            .take(MAX_DELIVERY)
            .collect();
        if !fresh.is_empty() {
            connection.mark_in_flight(fresh.iter().map(|s| s.id.clone()));
            m.metrics.delivered(fresh.len() as u64);
            return Ok(vec![delivery(&fresh, None)?]);
        }
        if exhausted || limit >= 20 * MAX_DELIVERY {
            return Ok(vec![]);
        }
        limit *= 4;
    }
}
