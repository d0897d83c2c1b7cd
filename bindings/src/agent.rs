//! `EdgeAgent`: the edge agent client (`didcomm-edge-agent`) as an object: connect to a
//! mediator, send, pick up, receive live, rotate. Conversions only; every rule is in the agent.
//!
//! Every network operation comes twice, like the engine's: `x` is async (Kotlin `suspend`,
//! Swift `async`; it runs as a task of the shared tokio runtime, which the agent's transports
//! need, and dropping the caller's future cancels that task) and `x_blocking` runs on the
//! caller's thread inside the runtime's context (the Python package calls those from executor
//! threads). Messages cross as JSON text, results as records.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use didcomm_edge::protocols::mediation::MediationVersion as CoreMediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion as CorePickupVersion;
use didcomm_edge_agent as agent;
use tokio::sync::{watch, Mutex};

use crate::engine::{parse_message, UnpackMetadata};
use crate::error::{DidCommError, Result};
use crate::json::to_json;
use crate::runtime::{block_on, on_runtime};

/// Coordinate Mediation version spoken to the mediator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MediationVersion {
    /// 2.0 (`keylist-*` messages): the agent's default.
    V2,
    /// 3.0 (`recipient-*` messages).
    V3,
}

/// Message Pickup version spoken to the mediator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PickupVersion {
    /// 3.0 (`messagepickup`): the agent's default, and what live delivery speaks.
    V3,
    /// 4.0 (`message-pickup`).
    V4,
}

/// How `send` protects a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SendMode {
    /// Authcrypt from our DID (the default): the recipient learns and can trust who sent it.
    Authcrypt,
    /// Authcrypt wrapped in anoncrypt: the sender's key id is hidden on the path.
    AuthcryptProtectSender,
    /// Anoncrypt: the recipient does not learn who sent it.
    Anoncrypt,
}

/// The agent's settings; every field left out (`None`) keeps the agent's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct AgentConfig {
    /// Coordinate Mediation version (default 2.0).
    #[uniffi(default = None)]
    pub mediation_version: Option<MediationVersion>,
    /// Message Pickup version (default 3.0).
    #[uniffi(default = None)]
    pub pickup_version: Option<PickupVersion>,
    /// How messages to peers are protected (default authcrypt).
    #[uniffi(default = None)]
    pub send_mode: Option<SendMode>,
    /// Longest one request may take, in milliseconds (default 10 000).
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
    /// Attempts of a repeatable request, retries included (default 4; 1: no retry).
    #[uniffi(default = None)]
    pub retry_attempts: Option<u32>,
    /// Most messages one pickup asks for (default 50).
    #[uniffi(default = None)]
    pub batch_size: Option<u64>,
    /// Answer `please_ack` with an `ack` once a message is acknowledged (default true).
    #[uniffi(default = None)]
    pub auto_ack: Option<bool>,
    /// Answer peers' trust pings (default true).
    #[uniffi(default = None)]
    pub auto_ping_response: Option<bool>,
    /// The mediator's WebSocket URL for live mode (default: from its DID, or its HTTP
    /// endpoint with `/ws`).
    #[uniffi(default = None)]
    pub websocket_url: Option<String>,
}

impl From<&AgentConfig> for agent::AgentConfig {
    fn from(c: &AgentConfig) -> Self {
        let mut config = agent::AgentConfig::default();
        if let Some(v) = c.mediation_version {
            config = config.mediation_version(match v {
                MediationVersion::V2 => CoreMediationVersion::V2,
                MediationVersion::V3 => CoreMediationVersion::V3,
            });
        }
        if let Some(v) = c.pickup_version {
            config = config.pickup_version(match v {
                PickupVersion::V3 => CorePickupVersion::V3,
                PickupVersion::V4 => CorePickupVersion::V4,
            });
        }
        if let Some(mode) = c.send_mode {
            config = config.send_mode(match mode {
                SendMode::Authcrypt => agent::SendMode::Authcrypt,
                SendMode::AuthcryptProtectSender => agent::SendMode::AuthcryptProtectSender,
                SendMode::Anoncrypt => agent::SendMode::Anoncrypt,
            });
        }
        if let Some(ms) = c.request_timeout_ms {
            config = config.request_timeout(Duration::from_millis(ms));
        }
        if let Some(attempts) = c.retry_attempts {
            config = config.retry(agent::RetryPolicy {
                attempts: attempts.max(1),
                ..agent::RetryPolicy::default()
            });
        }
        if let Some(url) = &c.websocket_url {
            config = config.websocket_url(url.clone());
        }
        if let Some(size) = c.batch_size {
            config.batch_size = size;
        }
        if let Some(on) = c.auto_ack {
            config.auto_ack = on;
        }
        if let Some(on) = c.auto_ping_response {
            config.auto_ping_response = on;
        }
        config
    }
}

/// The outcome of `connect`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Connection {
    /// The mediator's DID.
    pub mediator_did: String,
    /// Its HTTP endpoint.
    pub http_endpoint: String,
    /// Its WebSocket URL (live mode).
    pub websocket_url: String,
    /// The routing DIDs of the grant.
    pub routing_did: Vec<String>,
    /// Our messaging DID: registered at the mediator, its service names the mediator.
    pub did: String,
    /// Whether this call did the mediation exchange (`false`: the saved grant was reused).
    pub newly_granted: bool,
}

impl From<agent::Connection> for Connection {
    fn from(c: agent::Connection) -> Self {
        Connection {
            mediator_did: c.mediator_did,
            http_endpoint: c.http_endpoint,
            websocket_url: c.websocket_url,
            routing_did: c.routing_did,
            did: c.did,
            newly_granted: c.newly_granted,
        }
    }
}

/// What `send` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Sent {
    /// The message id.
    pub id: String,
    /// The recipient DID it was packed for (after following announced rotations).
    pub to: String,
    /// The transport URI it went to.
    pub uri: String,
    /// The mediators it travels through, first receiver first.
    pub hops: Vec<String>,
    /// The message packed for the recipient (what the recipient decrypts).
    pub packed: String,
    /// What went on the wire: the outer forward (or `packed` without hops).
    pub wire: String,
    /// Whether `from_prior` announced our DID rotation on this message.
    pub announced_rotation: bool,
}

impl From<agent::Sent> for Sent {
    fn from(s: agent::Sent) -> Self {
        Sent {
            id: s.id,
            to: s.to,
            uri: s.uri,
            hops: s.hops,
            packed: s.packed,
            wire: s.wire,
            announced_rotation: s.announced_rotation,
        }
    }
}

/// What `rotate` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rotated {
    /// The DID rotated away from (still registered until `retire_prior_dids`).
    pub prior_did: String,
    /// The new messaging DID.
    pub new_did: String,
    /// The `from_prior` JWT the next messages to each peer carry.
    pub from_prior: String,
}

/// A delivered message, decrypted.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReceivedMessage {
    /// The mediator's id for it (what an acknowledgement names).
    pub queue_id: String,
    /// The plaintext message, JSON text.
    pub message: String,
    /// How it was protected.
    pub metadata: UnpackMetadata,
    /// The sender's DID when the envelope authenticated it; `None` for anonymous messages.
    pub sender: Option<String>,
    /// The DID the sender rotated away from, when the message announced a verified rotation.
    pub rotated_from: Option<String>,
    /// The peer DID whose relationship this message ended (a verified `from_prior` without
    /// `sub`, no `from`); the agent has already forgotten that peer.
    pub ended_relationship: Option<String>,
    /// Its size as delivered, in bytes.
    pub packed_len: u64,
}

impl ReceivedMessage {
    fn of(r: &agent::Received) -> Result<Self> {
        Ok(ReceivedMessage {
            queue_id: r.queue_id.clone(),
            message: r.message.to_json()?,
            metadata: UnpackMetadata::from(&r.metadata),
            sender: r.sender().map(str::to_owned),
            rotated_from: r.rotation().map(|(prior, _)| prior),
            ended_relationship: r.ending(),
            packed_len: r.packed_len as u64,
        })
    }
}

/// A delivered message the agent could not open (acknowledge it with the others: it would
/// never open later either).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UndecryptableMessage {
    /// The mediator's id for it.
    pub queue_id: String,
    /// Why it could not be opened: the error kind's snake_case name and reason.
    pub error_kind: String,
    /// The reason.
    pub reason: String,
    /// Its size as delivered, in bytes.
    pub packed_len: u64,
}

impl From<&agent::Undecryptable> for UndecryptableMessage {
    fn from(u: &agent::Undecryptable) -> Self {
        let error = DidCommError::from(u.error.clone());
        UndecryptableMessage {
            queue_id: u.queue_id.clone(),
            error_kind: error.name().to_owned(),
            reason: error.reason().to_owned(),
            packed_len: u.packed_len as u64,
        }
    }
}

/// What acknowledging led to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Acknowledged {
    /// Queue ids the mediator was told to delete.
    pub ids: Vec<String>,
    /// Automatic replies sent afterwards (`ack` for `please_ack`, `ping-response`).
    pub replies: Vec<Sent>,
    /// Automatic replies that could not be sent, as `kind: reason` (the acknowledgement itself
    /// succeeded).
    pub reply_errors: Vec<String>,
}

impl From<agent::Acknowledged> for Acknowledged {
    fn from(a: agent::Acknowledged) -> Self {
        Acknowledged {
            ids: a.ids,
            replies: a.replies.into_iter().map(Sent::from).collect(),
            reply_errors: a
                .reply_errors
                .into_iter()
                .map(|e| DidCommError::from(e).to_string())
                .collect(),
        }
    }
}

/// The mediator's queue for this device (Message Pickup `status`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PickupStatus {
    /// Messages waiting.
    pub message_count: u64,
    /// Whether live delivery is on, when the mediator says.
    pub live_delivery: Option<bool>,
    /// Every field of the `status` message, JSON text (the typed form of
    /// `parse_protocol_message`).
    pub fields: String,
}

/// Where a live connection stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum LiveState {
    /// Opening the first connection.
    Connecting,
    /// Connected, live delivery on.
    Live,
    /// The connection dropped; trying again.
    Reconnecting {
        /// Attempts since the connection was last live.
        attempt: u32,
        /// Why the last attempt failed.
        last_error: String,
    },
    /// Stopped for good (refused, or closed).
    Closed,
}

impl From<agent::LiveState> for LiveState {
    fn from(s: agent::LiveState) -> Self {
        match s {
            agent::LiveState::Connecting => LiveState::Connecting,
            agent::LiveState::Live => LiveState::Live,
            agent::LiveState::Reconnecting {
                attempt,
                last_error,
            } => LiveState::Reconnecting {
                attempt,
                last_error,
            },
            agent::LiveState::Closed => LiveState::Closed,
        }
    }
}

/// One message pushed in live mode: decrypted (`message`) or not (`undecryptable`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LiveMessage {
    /// The mediator's id for it: what `LiveStream.ack` takes.
    pub queue_id: String,
    /// The decrypted message.
    pub message: Option<ReceivedMessage>,
    /// Why it could not be opened.
    pub undecryptable: Option<UndecryptableMessage>,
}

/// A DIDComm v2 edge device: connects to a mediator, sends, picks up, receives live, rotates.
#[derive(Debug, uniffi::Object)]
pub struct EdgeAgent {
    inner: agent::EdgeAgent,
}

/// Run an agent operation as a task of the runtime (async methods).
macro_rules! on_runtime {
    ($self:ident, |$agent:ident| $body:expr) => {{
        let $agent = $self.inner.clone();
        on_runtime(async move { $body.await }).await?
    }};
}

mod ops {
    use super::*;

    pub(super) async fn connect(a: &agent::EdgeAgent, invitation: &str) -> Result<Connection> {
        Ok(a.connect(invitation).await?.into())
    }

    pub(super) async fn send(a: &agent::EdgeAgent, to: &str, message: &str) -> Result<Sent> {
        let message = parse_message(message)?;
        Ok(a.send(to, message).await?.into())
    }

    pub(super) async fn ping(a: &agent::EdgeAgent, to: &str) -> Result<Sent> {
        Ok(a.ping(to).await?.into())
    }

    pub(super) async fn end_relationship(a: &agent::EdgeAgent, peer: &str) -> Result<Sent> {
        Ok(a.end_relationship(peer).await?.into())
    }

    pub(super) async fn pickup(a: &agent::EdgeAgent) -> Result<Arc<PickupBatch>> {
        let batch = a.pickup().await?;
        let messages = batch
            .messages
            .iter()
            .map(ReceivedMessage::of)
            .collect::<Result<Vec<_>>>()?;
        let failed = batch
            .failed
            .iter()
            .map(UndecryptableMessage::from)
            .collect();
        Ok(Arc::new(PickupBatch {
            messages,
            failed,
            redelivered: batch.redelivered.clone(),
            batch: Mutex::new(Some(batch)),
        }))
    }

    pub(super) async fn rotate(a: &agent::EdgeAgent) -> Result<Rotated> {
        let r = a.rotate().await?;
        Ok(Rotated {
            prior_did: r.prior_did,
            new_did: r.new_did,
            from_prior: r.from_prior,
        })
    }

    pub(super) async fn keylist(a: &agent::EdgeAgent) -> Result<Vec<String>> {
        Ok(a.keylist().await?)
    }

    pub(super) async fn status(
        a: &agent::EdgeAgent,
        recipient_did: Option<&str>,
    ) -> Result<PickupStatus> {
        let status = a.status(recipient_did).await?;
        Ok(PickupStatus {
            message_count: status.message_count,
            live_delivery: status.live_delivery,
            fields: to_json(&status, "a pickup status")?,
        })
    }

    pub(super) async fn ping_mediator(a: &agent::EdgeAgent) -> Result<u64> {
        let round_trip = a.ping_mediator().await?;
        Ok(u64::try_from(round_trip.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) async fn retire_prior_dids(
        a: &agent::EdgeAgent,
        even_if_messages_wait: bool,
    ) -> Result<Vec<String>> {
        Ok(a.retire_prior_dids(even_if_messages_wait).await?)
    }

    pub(super) async fn live(a: &agent::EdgeAgent) -> Result<Arc<LiveStream>> {
        let stream = a.live().await?;
        let (closed, _) = watch::channel(false);
        Ok(Arc::new(LiveStream {
            handle: stream.handle(),
            stream: Mutex::new(Some(stream)),
            closed,
        }))
    }
}

#[uniffi::export]
impl EdgeAgent {
    /// A device with a fresh control identity, kept in memory only (lost when the object is).
    #[uniffi::constructor(default(config = None))]
    pub fn new(config: Option<AgentConfig>) -> Result<Arc<Self>> {
        let config = agent::AgentConfig::from(&config.unwrap_or_default());
        Ok(Arc::new(EdgeAgent {
            inner: agent::EdgeAgent::new(config)?,
        }))
    }

    /// The device whose state (identities, keys, mediator grant) lives in the file at `path`:
    /// loaded when it exists, else created (mode 0600). It holds private keys.
    #[uniffi::constructor(default(config = None))]
    pub fn open(path: String, config: Option<AgentConfig>) -> Result<Arc<Self>> {
        let config = agent::AgentConfig::from(&config.unwrap_or_default());
        Ok(Arc::new(EdgeAgent {
            inner: agent::EdgeAgent::open(PathBuf::from(path), config)?,
        }))
    }

    /// The DID that talks to the mediator.
    pub fn control_did(&self) -> String {
        self.inner.control_did().to_owned()
    }

    /// The DID peers write to, once connected.
    pub fn did(&self) -> Result<Option<String>> {
        block_on(self.inner.did())
    }

    /// The current DID of a peer, following the rotations it announced.
    pub fn peer_did(&self, did: String) -> Result<String> {
        block_on(self.inner.peer_did(&did))
    }

    /// Every DID this device receives for (messaging, then prior DIDs not yet retired).
    pub fn recipient_dids(&self) -> Result<Vec<String>> {
        block_on(self.inner.recipient_dids())
    }

    /// Connect to a mediator from its invitation (an `_oob` URL, the invitation JSON, or the
    /// mediator's DID): mediation request and grant, a messaging DID naming the mediator,
    /// keylist update. A saved grant from the same mediator is reused.
    pub async fn connect(&self, invitation: String) -> Result<Connection> {
        on_runtime!(self, |a| ops::connect(&a, &invitation))
    }

    /// `connect` on the caller's thread.
    pub fn connect_blocking(&self, invitation: String) -> Result<Connection> {
        block_on(ops::connect(&self.inner, &invitation))?
    }

    /// Send a plaintext message (JSON text) to `to`: `from` and `to` are set here; packed
    /// (authcrypt by default), wrapped in forwards for the recipient's mediators, delivered.
    pub async fn send(&self, to: String, message: String) -> Result<Sent> {
        on_runtime!(self, |a| ops::send(&a, &to, &message))
    }

    /// `send` on the caller's thread.
    pub fn send_blocking(&self, to: String, message: String) -> Result<Sent> {
        block_on(ops::send(&self.inner, &to, &message))?
    }

    /// Trust-ping a peer (the response arrives like any message, in the ping's thread).
    pub async fn ping(&self, to: String) -> Result<Sent> {
        on_runtime!(self, |a| ops::ping(&a, &to))
    }

    /// `ping` on the caller's thread.
    pub fn ping_blocking(&self, to: String) -> Result<Sent> {
        block_on(ops::ping(&self.inner, &to))?
    }

    /// End the relationship with `peer` (DIDComm v2.1 "Ending a Relationship"): an
    /// anoncrypted message without `from` whose `from_prior` (no `sub`) is signed by the DID
    /// the peer knows us by. The peer forgets that DID; this agent forgets the peer once the
    /// message is delivered. Our DID stays registered with the mediator for other peers.
    pub async fn end_relationship(&self, peer: String) -> Result<Sent> {
        on_runtime!(self, |a| ops::end_relationship(&a, &peer))
    }

    /// `end_relationship` on the caller's thread.
    pub fn end_relationship_blocking(&self, peer: String) -> Result<Sent> {
        block_on(ops::end_relationship(&self.inner, &peer))?
    }

    /// Pick up one batch of waiting messages and decrypt them. Nothing is deleted at the
    /// mediator until the batch is acknowledged.
    pub async fn pickup(&self) -> Result<Arc<PickupBatch>> {
        on_runtime!(self, |a| ops::pickup(&a))
    }

    /// `pickup` on the caller's thread.
    pub fn pickup_blocking(&self) -> Result<Arc<PickupBatch>> {
        block_on(ops::pickup(&self.inner))?
    }

    /// Rotate the messaging DID: new keys and DID, keylist update, `from_prior` on the next
    /// messages to each peer.
    pub async fn rotate(&self) -> Result<Rotated> {
        on_runtime!(self, |a| ops::rotate(&a))
    }

    /// `rotate` on the caller's thread.
    pub fn rotate_blocking(&self) -> Result<Rotated> {
        block_on(ops::rotate(&self.inner))?
    }

    /// The recipient DIDs the mediator holds for this device.
    pub async fn keylist(&self) -> Result<Vec<String>> {
        on_runtime!(self, |a| ops::keylist(&a))
    }

    /// `keylist` on the caller's thread.
    pub fn keylist_blocking(&self) -> Result<Vec<String>> {
        block_on(ops::keylist(&self.inner))?
    }

    /// How many messages wait at the mediator (for one recipient DID, or all of ours).
    #[uniffi::method(default(recipient_did = None))]
    pub async fn status(&self, recipient_did: Option<String>) -> Result<PickupStatus> {
        on_runtime!(self, |a| ops::status(&a, recipient_did.as_deref()))
    }

    /// `status` on the caller's thread.
    #[uniffi::method(default(recipient_did = None))]
    pub fn status_blocking(&self, recipient_did: Option<String>) -> Result<PickupStatus> {
        block_on(ops::status(&self.inner, recipient_did.as_deref()))?
    }

    /// Trust-ping the mediator; returns the round trip in milliseconds.
    pub async fn ping_mediator(&self) -> Result<u64> {
        on_runtime!(self, |a| ops::ping_mediator(&a))
    }

    /// `ping_mediator` on the caller's thread.
    pub fn ping_mediator_blocking(&self) -> Result<u64> {
        block_on(ops::ping_mediator(&self.inner))?
    }

    /// Stop receiving for the DIDs rotated away from. Refused while messages wait for one of
    /// them, unless `even_if_messages_wait` (which drops those messages).
    #[uniffi::method(default(even_if_messages_wait = false))]
    pub async fn retire_prior_dids(&self, even_if_messages_wait: bool) -> Result<Vec<String>> {
        on_runtime!(self, |a| ops::retire_prior_dids(&a, even_if_messages_wait))
    }

    /// `retire_prior_dids` on the caller's thread.
    #[uniffi::method(default(even_if_messages_wait = false))]
    pub fn retire_prior_dids_blocking(&self, even_if_messages_wait: bool) -> Result<Vec<String>> {
        block_on(ops::retire_prior_dids(&self.inner, even_if_messages_wait))?
    }

    /// Receive live over the mediator's WebSocket (reconnecting by itself).
    pub async fn live(&self) -> Result<Arc<LiveStream>> {
        on_runtime!(self, |a| ops::live(&a))
    }

    /// `live` on the caller's thread.
    pub fn live_blocking(&self) -> Result<Arc<LiveStream>> {
        block_on(ops::live(&self.inner))?
    }
}

/// One pickup batch: read `messages` (and `failed`), then `acknowledge`: only then does the
/// mediator delete them. A batch never acknowledged is delivered again.
#[derive(Debug, uniffi::Object)]
pub struct PickupBatch {
    messages: Vec<ReceivedMessage>,
    failed: Vec<UndecryptableMessage>,
    redelivered: Vec<String>,
    batch: Mutex<Option<agent::Batch>>,
}

impl PickupBatch {
    async fn take(&self) -> Result<agent::Batch> {
        self.batch
            .lock()
            .await
            .take()
            .ok_or_else(|| DidCommError::illegal("this batch was already acknowledged"))
    }
}

#[uniffi::export]
impl PickupBatch {
    /// The decrypted messages, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.messages.clone()
    }

    /// The messages that could not be opened.
    pub fn failed(&self) -> Vec<UndecryptableMessage> {
        self.failed.clone()
    }

    /// Queue ids delivered again after an acknowledgement that got lost (acknowledged with the
    /// batch, not shown again).
    pub fn redelivered(&self) -> Vec<String> {
        self.redelivered.clone()
    }

    /// Whether the batch carried nothing at all.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.failed.is_empty() && self.redelivered.is_empty()
    }

    /// Tell the mediator the whole batch was received (it deletes the messages), then send
    /// the automatic replies. Once only.
    pub async fn acknowledge(&self) -> Result<Acknowledged> {
        let batch = self.take().await?;
        on_runtime(async move { batch.acknowledge().await })
            .await?
            .map(Acknowledged::from)
            .map_err(DidCommError::from)
    }

    /// `acknowledge` on the caller's thread.
    pub fn acknowledge_blocking(&self) -> Result<Acknowledged> {
        block_on(async {
            let batch = self.take().await?;
            Ok(batch.acknowledge().await?.into())
        })?
    }
}

/// Messages pushed by the mediator as they arrive. `recv` the next, `ack` it once the app has
/// it (the mediator then deletes it), `stop` when done: unacknowledged messages stay queued.
#[derive(Debug, uniffi::Object)]
pub struct LiveStream {
    stream: Mutex<Option<agent::LiveStream>>,
    handle: agent::LiveHandle,
    /// Set by `stop`: a pending `recv` returns.
    closed: watch::Sender<bool>,
}

fn closed_error() -> DidCommError {
    DidCommError::Closed {
        reason: "the live stream was closed".into(),
    }
}

impl LiveStream {
    /// The next event, or `None` after `timeout`. Cancel-safe: a message is taken from the
    /// agent's queue only when it is returned. Needs no runtime context (channels only).
    async fn next(&self, timeout: Option<Duration>) -> Result<Option<LiveMessage>> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return Err(closed_error());
        }
        let mut guard = tokio::select! {
            guard = self.stream.lock() => guard,
            _ = closed.wait_for(|c| *c) => return Err(closed_error()),
        };
        let stream = guard.as_mut().ok_or_else(closed_error)?;
        let received = match timeout {
            None => tokio::select! {
                event = stream.recv() => event,
                _ = closed.wait_for(|c| *c) => return Err(closed_error()),
            },
            Some(timeout) => {
                // A timer without a runtime: the caller's thread is inside `block_on`.
                match tokio::time::timeout(timeout, async {
                    tokio::select! {
                        event = stream.recv() => Ok(event),
                        _ = closed.wait_for(|c| *c) => Err(closed_error()),
                    }
                })
                .await
                {
                    Ok(outcome) => outcome?,
                    Err(_) => return Ok(None),
                }
            }
        };
        drop(guard);
        let event = received?;
        let message = LiveMessage {
            queue_id: event.queue_id().to_owned(),
            message: event.received().map(ReceivedMessage::of).transpose()?,
            undecryptable: match &event {
                agent::LiveEvent::Undecryptable(u) => Some(UndecryptableMessage::from(u)),
                agent::LiveEvent::Message(_) => None,
            },
        };
        Ok(Some(message))
    }

    async fn shut(&self) {
        self.closed.send_replace(true);
        let stream = self.stream.lock().await.take();
        if let Some(stream) = stream {
            stream.close().await;
        }
    }
}

#[uniffi::export]
impl LiveStream {
    /// The next message, waiting as long as it takes. `Closed` once the stream stopped (or the
    /// refusal that stopped it).
    pub async fn recv(&self) -> Result<LiveMessage> {
        self.next(None).await?.ok_or_else(closed_error)
    }

    /// The next message on the caller's thread, or `None` when none came within `timeout_ms`.
    pub fn recv_blocking(&self, timeout_ms: u64) -> Result<Option<LiveMessage>> {
        block_on(self.next(Some(Duration::from_millis(timeout_ms))))?
    }

    /// Acknowledge a message the app has taken (by its `queue_id`): the mediator deletes it.
    /// Returns once the mediator confirmed, after the automatic replies it asked for.
    pub async fn ack(&self, queue_id: String) -> Result<Acknowledged> {
        let handle = self.handle.clone();
        Ok(
            on_runtime(async move { handle.ack_queue_id(&queue_id).await })
                .await??
                .into(),
        )
    }

    /// `ack` on the caller's thread.
    pub fn ack_blocking(&self, queue_id: String) -> Result<Acknowledged> {
        Ok(block_on(self.handle.ack_queue_id(&queue_id))??.into())
    }

    /// The connection state now.
    pub fn state(&self) -> LiveState {
        self.handle.state().into()
    }

    /// Wait until the connection is live (`TimedOut` after `timeout_ms`).
    pub async fn wait_live(&self, timeout_ms: u64) -> Result<()> {
        let handle = self.handle.clone();
        Ok(
            on_runtime(async move { handle.wait_live(Duration::from_millis(timeout_ms)).await })
                .await??,
        )
    }

    /// `wait_live` on the caller's thread.
    pub fn wait_live_blocking(&self, timeout_ms: u64) -> Result<()> {
        Ok(block_on(
            self.handle.wait_live(Duration::from_millis(timeout_ms)),
        )??)
    }

    /// Close the connection; a pending `recv` ends with `Closed`. (Not `close`: Kotlin's
    /// `AutoCloseable.close` frees the object.)
    pub async fn stop(&self) {
        self.shut().await;
    }

    /// `stop` on the caller's thread.
    pub fn stop_blocking(&self) {
        let _ = block_on(self.shut());
    }
}
