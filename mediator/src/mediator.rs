//! The mediator's message handler: unpack with the mediator's identity, dispatch on the
//! message type, pack the replies.
//!
//! **Where protocol handling plugs in**: [`MediatorHandler::dispatch`]. The built-in
//! protocols in [`crate::protocols`] (Routing 2.0 forward, Message Pickup 3.0) work on the core
//! [`Message`] model directly; the typed messages of the protocol layer (Coordinate Mediation
//! 2.0/3.0, Pickup 4.0, Trust Ping, Discover Features, Report Problem) add arms there, each
//! calling the same [`Mediator`] services (storage, quotas, live delivery).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use didcomm_edge::{DidComm, Message, PackEncryptedOptions, UnpackMetadata, UnpackOptions};

use crate::error::{Error, ErrorKind, Result};
use crate::handler::{Connection, MessageHandler};
use crate::metrics::Metrics;
use crate::protocols::{forward, pickup};
use crate::storage::{Quota, Storage};

/// What every protocol handler may use: identity, envelope engine, storage, policy, metrics.
#[derive(Debug)]
pub struct Mediator {
    /// The mediator's DID.
    pub did: String,
    /// The envelope engine holding the mediator's keys.
    pub didcomm: Arc<DidComm>,
    /// Grants, keylists and queues.
    pub storage: Arc<dyn Storage>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// Per-recipient quota.
    pub quota: Quota,
    /// How long a queued message is kept.
    pub message_ttl: Duration,
}

/// An unpacked request and what is known about its envelope.
#[derive(Debug)]
pub struct Request<'a> {
    /// The plaintext.
    pub message: Message,
    /// What protected it.
    pub metadata: UnpackMetadata,
    /// The connection it came on.
    pub connection: &'a Connection,
}

impl Request<'_> {
    /// The sender's DID, when the envelope authenticated it (authcrypt or signature).
    /// Requests that touch a device's queue or keylist must come through here.
    pub fn authenticated_sender(&self) -> Result<&str> {
        match (&self.message.from, self.metadata.authenticated) {
            (Some(from), true) => Ok(from),
            _ => Err(Error::new(
                ErrorKind::Forbidden,
                "this request must be authcrypted by the DID that holds the mediation grant",
            )),
        }
    }

    /// Whether the sender asked for replies on this connection (`return_route`).
    pub fn wants_return_route(&self) -> bool {
        matches!(
            self.message
                .extra_headers
                .get("return_route")
                .and_then(|v| v.as_str()),
            Some("all" | "thread")
        )
    }
}

/// The [`MessageHandler`] of the mediator.
#[derive(Debug, Clone)]
pub struct MediatorHandler {
    mediator: Arc<Mediator>,
}

impl MediatorHandler {
    /// A handler over the mediator's services.
    pub fn new(mediator: Arc<Mediator>) -> Self {
        MediatorHandler { mediator }
    }

    /// The services.
    pub fn mediator(&self) -> &Arc<Mediator> {
        &self.mediator
    }

    /// Route an unpacked request to its protocol. Returns plaintext replies to the sender.
    async fn dispatch(&self, request: &Request<'_>) -> Result<Vec<Message>> {
        let m = &self.mediator;
        let type_ = request.message.type_.as_str();
        if type_ == forward::FORWARD_TYPE {
            forward::handle(m, request).await?;
            return Ok(vec![]);
        }
        if let Some(name) = type_.strip_prefix(pickup::PICKUP_3) {
            return pickup::handle(m, request, name).await;
        }
        // Protocol layer (issue 4) plugs in here: coordinate-mediation/2.0 and 3.0,
        // messagepickup/4.0, trust-ping/2.0, discover-features/2.0, report-problem/2.0.
        Err(Error::bad_request(format!(
            "message type '{type_}' is not supported by this mediator"
        )))
    }

    async fn handle_inner(&self, packed: &[u8], connection: &Connection) -> Result<Vec<String>> {
        let text = std::str::from_utf8(packed)
            .map_err(|_| Error::bad_request("the message is not UTF-8 text"))?;
        let (message, metadata) = self
            .mediator
            .didcomm
            .unpack(text, &UnpackOptions::default())
            .await?;
        let request = Request {
            message,
            metadata,
            connection,
        };
        let replies = self.dispatch(&request).await?;
        if replies.is_empty() {
            return Ok(vec![]);
        }
        if !request.wants_return_route() {
            // Without return_route the reply would need an outbound transport to the
            // sender's endpoint, which the mediator does not open: drop it.
            tracing::debug!(
                connection = connection.id,
                "reply dropped: the request did not ask for return_route"
            );
            return Ok(vec![]);
        }
        let to = request.authenticated_sender()?.to_owned();
        self.pack_replies(replies, &to).await
    }

    /// Authcrypt `replies` from the mediator to `to`.
    async fn pack_replies(&self, replies: Vec<Message>, to: &str) -> Result<Vec<String>> {
        let m = &self.mediator;
        let mut packed = Vec::with_capacity(replies.len());
        for reply in replies {
            let reply = reply.from(m.did.clone()).to(to.to_owned());
            let (text, _) = m
                .didcomm
                .pack_encrypted(
                    &reply,
                    to,
                    Some(&m.did),
                    None,
                    &PackEncryptedOptions::default(),
                )
                .await?;
            packed.push(text);
        }
        Ok(packed)
    }
}

#[async_trait]
impl MessageHandler for MediatorHandler {
    async fn handle(&self, packed: &[u8], connection: &Connection) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = self.handle_inner(packed, connection).await;
        self.mediator
            .metrics
            .handled(connection.transport, started.elapsed());
        result
    }

    async fn deliver_live(&self, recipient: &str, connection: &Connection) -> Result<Vec<String>> {
        let Some(owner) = connection.live_owner() else {
            return Ok(vec![]);
        };
        let replies = pickup::live_delivery(&self.mediator, connection, &owner, recipient).await?;
        self.pack_replies(replies, &owner).await
    }
}
