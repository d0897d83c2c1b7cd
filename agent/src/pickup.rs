//! What the agent hands to the application: decrypted messages ([`Received`]), messages it
//! could not open ([`Undecryptable`]), and pickup batches ([`Batch`]) that are acknowledged to
//! the mediator only when the application says it has them.

use didcomm_edge::protocols::ack::is_pure_ack;
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

/// A delivered message the agent could not open (not for our keys, tampered, unknown sender).
/// It is handed to the application like the others and acknowledged with them: it would never
/// open later either.
#[derive(Debug, Clone)]
pub struct Undecryptable {
    /// The mediator's id for it.
    pub queue_id: String,
    /// Why it could not be opened.
    pub error: Error,
    /// Its size as delivered, in bytes.
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
