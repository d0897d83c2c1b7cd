//! Receiving: pickup of batches, opening what was delivered, acknowledgements and the
//! automatic replies they lead to.

use didcomm_edge::did::did_of;
use didcomm_edge::protocols::ack::{ack_requests, pure_ack};
use didcomm_edge::protocols::pickup::DeliveryRequest;
use didcomm_edge::protocols::rotation::{received_ending, received_rotation};
use didcomm_edge::protocols::trust_ping::{PingResponse, PING_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{Message, UnpackMetadata, UnpackOptions};

use crate::error::{shorten, Error, ErrorKind, Result};
use crate::pickup::{
    read_delivery, Batch, DeliveredItem, DeliveryReply, Inbound, Received, Undecryptable,
};

use super::{authenticated_sender, is_too_large, EdgeAgent, MediatorEndpoint, Sent};

/// What acknowledging delivered messages led to.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// Queue ids the mediator was told to delete.
    pub ids: Vec<String>,
    /// Automatic replies sent afterwards (`ack` for `please_ack`, `ping-response`), by id.
    pub replies: Vec<Sent>,
    /// Automatic replies that could not be sent (the acknowledgement itself succeeded).
    pub reply_errors: Vec<Error>,
}

impl EdgeAgent {
    /// Pick up one batch of waiting messages (up to [`AgentConfig::batch_size`]) and decrypt
    /// them. Nothing is deleted at the mediator until [`Batch::acknowledge`] is called, after
    /// the application has taken the messages: a batch dropped unacknowledged comes again.
    ///
    /// A delivered message the device does not open (larger than
    /// [`AgentConfig::max_message_size`], malformed, not for us, badly signed) is in
    /// [`Batch::failed`] and acknowledged with the batch. A delivery larger than
    /// [`AgentConfig::delivery_limit`] is asked for again with half as many messages, down to
    /// one.
    ///
    /// [`AgentConfig::batch_size`]: crate::AgentConfig::batch_size
    /// [`AgentConfig::max_message_size`]: crate::AgentConfig::max_message_size
    /// [`AgentConfig::delivery_limit`]: crate::AgentConfig::delivery_limit
    pub async fn pickup(&self) -> Result<Batch> {
        let delivered = self.request_delivery().await?;
        let mut batch = Batch::new(self.clone());
        for item in delivered {
            match self.open_item(item).await {
                Inbound::Message(m) => batch.messages.push(*m),
                Inbound::Failed(f) => batch.failed.push(f),
                Inbound::AlreadyAcknowledged(id) => batch.redelivered.push(id),
            }
        }
        Ok(batch)
    }

    /// `delivery-request` for up to [`AgentConfig::batch_size`] messages, fewer while the
    /// delivery is too large to read.
    ///
    /// [`AgentConfig::batch_size`]: crate::AgentConfig::batch_size
    pub(crate) async fn request_delivery(&self) -> Result<Vec<DeliveredItem>> {
        let endpoint = self.mediator_endpoint().await?;
        let mut limit = self.inner.config.batch_size.max(1);
        loop {
            let request = DeliveryRequest {
                version: self.inner.config.pickup_version,
                limit,
                recipient_did: None,
            }
            .to_message()?;
            let reply = match self.mediator_call(&endpoint, request).await {
                Ok(reply) => reply,
                Err(e) if is_too_large(&e) && limit > 1 => {
                    limit /= 2;
                    continue;
                }
                Err(e) if is_too_large(&e) => {
                    return Err(e.context(
                        "the oldest waiting message is larger than this device reads \
                         (AgentConfig::max_delivery_size)",
                    ))
                }
                Err(e) => return Err(e),
            };
            let type_ = reply.type_.clone();
            return match read_delivery(reply)? {
                Some(DeliveryReply::Delivery(items)) => Ok(items),
                Some(DeliveryReply::Status) => Ok(vec![]),
                None => Err(Error::protocol(format!(
                    "the mediator answered a delivery-request with {}",
                    shorten(&type_)
                ))),
            };
        }
    }

    /// Open one delivered item: reported as failed when it carries no readable message or is
    /// larger than the device accepts (checked before unpacking).
    pub(crate) async fn open_item(&self, item: DeliveredItem) -> Inbound {
        match item.message {
            Ok(packed) => self.open_delivered(&item.id, &packed).await,
            Err(error) => Inbound::Failed(Undecryptable {
                queue_id: item.id,
                error,
                packed_len: 0,
            }),
        }
    }

    /// Decrypt a delivered message and note what it tells about peers (rotations).
    pub(crate) async fn open_delivered(&self, queue_id: &str, packed: &str) -> Inbound {
        {
            let state = self.inner.state.lock().await;
            if state.recent_acks.iter().any(|id| id == queue_id) {
                return Inbound::AlreadyAcknowledged(queue_id.to_owned());
            }
        }
        let limit = self.inner.config.max_message_size;
        if packed.len() > limit {
            return Inbound::Failed(Undecryptable {
                queue_id: queue_id.to_owned(),
                error: Error::new(
                    ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge),
                    format!(
                        "a delivered message of {} bytes exceeds this device's limit of {limit} bytes",
                        packed.len()
                    ),
                ),
                packed_len: packed.len(),
            });
        }
        match self
            .inner
            .didcomm
            .unpack(packed, &UnpackOptions::default())
            .await
        {
            Ok((message, metadata)) => {
                self.note_received(&message, &metadata).await;
                Inbound::Message(Box::new(Received {
                    queue_id: queue_id.to_owned(),
                    message,
                    metadata,
                    packed_len: packed.len(),
                }))
            }
            Err(e) => Inbound::Failed(Undecryptable {
                queue_id: queue_id.to_owned(),
                error: Error::from(e),
                packed_len: packed.len(),
            }),
        }
    }

    /// Record a peer's rotation, and that a peer wrote to our new DID (no more `from_prior`).
    async fn note_received(&self, message: &Message, metadata: &UnpackMetadata) {
        let mut state = self.inner.state.lock().await;
        let mut changed = false;
        if let Some((prior, new)) = received_rotation(message, metadata) {
            if state.peer_rotations.get(&prior) != Some(&new) {
                state.peer_rotations.insert(prior, new);
                changed = true;
            }
        }
        if let Some(ended) = received_ending(message, metadata) {
            changed |= state.forget_peer(&ended);
        }
        let sender = authenticated_sender(message, metadata);
        let to_new = state
            .rotation
            .as_ref()
            .is_some_and(|r| message.to.iter().flatten().any(|t| did_of(t) == r.new_did));
        if let (Some(sender), true) = (sender, to_new) {
            changed |= state.rotation_seen_by.insert(sender.to_owned());
        }
        if changed {
            if let Err(e) = self.save(&state).await {
                // The next save writes it; the message itself is not at risk.
                let _ = e;
            }
        }
    }

    /// Tell the mediator these delivered messages may be deleted, then send the automatic
    /// replies they asked for. Call only once the application has taken them.
    pub(crate) async fn acknowledge(
        &self,
        ids: Vec<String>,
        handled: &[Received],
    ) -> Result<Acknowledged> {
        if !ids.is_empty() {
            let endpoint = self.mediator_endpoint().await?;
            let request = didcomm_edge::protocols::pickup::MessagesReceived {
                version: self.inner.config.pickup_version,
                message_id_list: ids.clone(),
            }
            .to_message()?;
            self.mediator_received(&endpoint, request).await?;
            let mut state = self.inner.state.lock().await;
            state.remember_acks(&ids);
            self.save(&state).await?;
        }
        let mut out = Acknowledged {
            ids,
            ..Acknowledged::default()
        };
        for received in handled {
            self.auto_reply(received, &mut out).await;
        }
        Ok(out)
    }

    /// `messages-received`: 3.0 answers with a status, 4.0 with nothing.
    async fn mediator_received(&self, endpoint: &MediatorEndpoint, request: Message) -> Result<()> {
        match self.mediator_call(endpoint, request).await {
            Ok(_) => Ok(()),
            Err(e)
                if e.kind() == ErrorKind::Protocol
                    && self.inner.config.pickup_version
                        == didcomm_edge::protocols::pickup::PickupVersion::V4
                    && e.reason().contains("without replying") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The automatic replies to a handled message: `ping-response`, `ack`.
    pub(crate) async fn auto_reply(&self, received: &Received, out: &mut Acknowledged) {
        let Some(sender) = received.sender() else {
            return;
        };
        let sender = sender.to_owned();
        let config = &self.inner.config;
        if config.auto_ping_response && received.message.type_ == PING_TYPE {
            match PingResponse::answer(&received.message) {
                Ok(Some(reply)) => match self.send(&sender, reply).await {
                    Ok(sent) => out.replies.push(sent),
                    Err(e) => out.reply_errors.push(e),
                },
                Ok(None) => {}
                Err(e) => out.reply_errors.push(e.into()),
            }
        }
        if config.auto_ack {
            let ids = ack_requests(&received.message);
            match pure_ack(&ids) {
                Ok(Some(ack)) => {
                    let ack = ack.thid(received.message.thread_id().to_owned());
                    match self.send(&sender, ack).await {
                        Ok(sent) => out.replies.push(sent),
                        Err(e) => out.reply_errors.push(e),
                    }
                }
                Ok(None) => {}
                Err(e) => out.reply_errors.push(e.into()),
            }
        }
    }
}
