//! What the agent hands to the application: decrypted messages ([`Received`]), messages it
//! could not open ([`Undecryptable`]), and pickup batches ([`Batch`]) that are acknowledged to
//! the mediator only when the application says it has them.

use didcomm_edge::protocols::ack::is_pure_ack;
use didcomm_edge::protocols::pickup::PickupMessage;
use didcomm_edge::protocols::rotation::{received_ending, received_rotation};
use didcomm_edge::{Message, UnpackMetadata};

use crate::agent::{authenticated_sender, Acknowledged, EdgeAgent};
use crate::error::{Error, Result};

/// A message delivered by the mediator and decrypted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The mediator's id for it (what `messages-received` names).
    pub queue_id: String,
    /// The plaintext.
    pub message: Message,
    /// How it was protected (encrypted, authenticated, sender key, `from_prior`, ...).
    pub metadata: UnpackMetadata,
    /// Its size as delivered, in bytes.
    pub packed_len: usize,
}

impl Received {
    /// The sender's DID when the envelope authenticated it (authcrypt or signature); `None`
    /// for anonymous messages.
    pub fn sender(&self) -> Option<&str> {
        authenticated_sender(&self.message, &self.metadata)
    }

    /// A DID rotation this message announced and unpack verified: `(prior DID, new DID)`.
    pub fn rotation(&self) -> Option<(String, String)> {
        received_rotation(&self.message, &self.metadata)
    }

    /// The peer DID whose relationship this message ended (a verified `from_prior` without
    /// `sub` on a message without `from`); the agent has already forgotten that peer.
    pub fn ending(&self) -> Option<String> {
        received_ending(&self.message, &self.metadata)
    }

    /// Whether this message replies to (is in the thread of) the message `id`.
    pub fn is_reply_to(&self, id: &str) -> bool {
        self.message.thid.as_deref() == Some(id)
    }

    /// Whether this is a pure acknowledgement (an empty message with `ack`).
    pub fn is_pure_ack(&self) -> bool {
        is_pure_ack(&self.message)
    }
}

/// A delivered message the agent could not or would not open: larger than
/// [`AgentConfig::max_message_size`](crate::AgentConfig::max_message_size) (kind
/// [`TooLarge`](didcomm_edge::ErrorKind::TooLarge), not unpacked at all), not a packed message
/// (`Malformed`), not for our keys, tampered, signed or sent by a DID that does not resolve.
/// It is handed to the application like the others and acknowledged with them, so the
/// mediator deletes it: it would never open later either.
#[derive(Debug, Clone)]
pub struct Undecryptable {
    /// The mediator's id for it.
    pub queue_id: String,
    /// Why it could not be opened.
    pub error: Error,
    /// Its size as delivered, in bytes (0 when the attachment carried no readable message).
    pub packed_len: usize,
}

/// The outcome of opening one delivered message.
#[derive(Debug)]
pub(crate) enum Inbound {
    Message(Box<Received>),
    Failed(Undecryptable),
    /// Already handed over and acknowledged (the acknowledgement did not reach the mediator):
    /// acknowledged again, not handed over again.
    AlreadyAcknowledged(String),
}

/// One pickup batch. Take the messages, then [`Batch::acknowledge`]: only then does the
/// mediator delete them. A batch dropped without acknowledgement is delivered again.
#[derive(Debug)]
pub struct Batch {
    agent: EdgeAgent,
    /// The decrypted messages, oldest first.
    pub messages: Vec<Received>,
    /// The messages that could not be opened.
    pub failed: Vec<Undecryptable>,
    /// Queue ids delivered again after an acknowledgement that got lost (acknowledged again
    /// with the batch, not shown to the application).
    pub redelivered: Vec<String>,
}

impl Batch {
    pub(crate) fn new(agent: EdgeAgent) -> Batch {
        Batch {
            agent,
            messages: vec![],
            failed: vec![],
            redelivered: vec![],
        }
    }

    /// Whether the batch carried nothing at all.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.failed.is_empty() && self.redelivered.is_empty()
    }

    /// How many queue entries the batch covers.
    pub fn len(&self) -> usize {
        self.messages.len() + self.failed.len() + self.redelivered.len()
    }

    /// The queue ids the batch covers.
    pub fn queue_ids(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| m.queue_id.clone())
            .chain(self.failed.iter().map(|f| f.queue_id.clone()))
            .chain(self.redelivered.iter().cloned())
            .collect()
    }

    /// Tell the mediator the whole batch was received (it deletes the messages), then send the
    /// automatic replies (`ping-response`, `ack` for `please_ack`).
    pub async fn acknowledge(self) -> Result<Acknowledged> {
        let ids = self.queue_ids();
        self.agent.acknowledge(ids, &self.messages).await
    }
}

/// One attachment of a `delivery`: the mediator's id, and the packed message or why the
/// attachment carries none the agent can read.
#[derive(Debug)]
pub(crate) struct DeliveredItem {
    pub(crate) id: String,
    pub(crate) message: Result<String>,
}

/// What the mediator answered a `delivery-request` (or pushed in live mode).
#[derive(Debug)]
pub(crate) enum DeliveryReply {
    /// A `status` (a Pickup 3.0 answer when nothing waits).
    Status,
    /// The delivered messages, in the mediator's order.
    Delivery(Vec<DeliveredItem>),
}

/// Read a `delivery` attachment by attachment: one that is not an inline JSON object fails
/// alone (as a rejected item), never the whole delivery, which would then come again and fail
/// again at every pickup. An attachment without an id cannot be acknowledged or reported and
/// is skipped (the mediator names every message it delivers).
pub(crate) fn read_delivery(mut reply: Message) -> Result<Option<DeliveryReply>> {
    let attachments = reply.attachments.take();
    let kind = match PickupMessage::parse(&reply) {
        Ok(kind) => kind,
        // A message of another protocol (the caller says what it expected).
        Err(_) if !reply.type_.contains("/messagepickup/") => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match kind {
        PickupMessage::Status(_) => Ok(Some(DeliveryReply::Status)),
        PickupMessage::Delivery(_) => {
            let mut items = Vec::new();
            for attachment in attachments.into_iter().flatten() {
                let Some(id) = attachment.id.clone().filter(|id| !id.is_empty()) else {
                    continue;
                };
                let mut one = reply.clone();
                one.attachments = Some(vec![attachment]);
                let message = match PickupMessage::parse(&one) {
                    Ok(PickupMessage::Delivery(mut d)) if d.messages.len() == 1 => {
                        d.messages.pop().map(|m| m.message).ok_or_else(|| {
                            Error::protocol("a delivery attachment without a message")
                        })
                    }
                    Ok(_) => Err(Error::protocol("a delivery attachment without a message")),
                    Err(e) => Err(Error::from(e)),
                };
                items.push(DeliveredItem { id, message });
            }
            Ok(Some(DeliveryReply::Delivery(items)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use didcomm_edge::protocols::pickup::{DeliveredMessage, Delivery, PickupVersion};
    use didcomm_edge::protocols::ProtocolMessage;

    #[test]
    fn one_bad_attachment_fails_alone() {
        let good = DeliveredMessage {
            id: "good".into(),
            message: r#"{"protected":"e30"}"#.into(),
            form: None,
        };
        let mut message = Delivery {
            version: PickupVersion::V3,
            recipient_did: None,
            messages: vec![good.clone(), good],
            form: Default::default(),
        }
        .to_message()
        .unwrap();
        // The second attachment carries base64 of text that is no JSON object, the third none.
        let attachments = message.attachments.as_mut().unwrap();
        attachments[1].id = Some("bad".into());
        attachments[1].data.base64 = Some("WzEsMiwzXQ".into()); // [1,2,3]
        let mut empty = attachments[1].clone();
        empty.id = Some("empty".into());
        empty.data.base64 = None;
        attachments.push(empty);
        // The core's strict reading refuses the whole delivery.
        assert!(PickupMessage::parse(&message).is_err());
        let Some(DeliveryReply::Delivery(items)) = read_delivery(message).unwrap() else {
            panic!("not read as a delivery");
        };
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["good", "bad", "empty"]);
        assert_eq!(
            items[0].message.as_deref().unwrap(),
            r#"{"protected":"e30"}"#
        );
        for bad in &items[1..] {
            let e = bad.message.as_ref().unwrap_err();
            assert_eq!(
                e.kind(),
                crate::ErrorKind::Envelope(didcomm_edge::ErrorKind::Malformed),
                "{e}"
            );
        }
    }

    #[test]
    fn other_messages_are_no_delivery() {
        let ping = didcomm_edge::protocols::trust_ping::Ping::default()
            .to_message()
            .unwrap();
        assert!(read_delivery(ping).unwrap().is_none());
    }
}
