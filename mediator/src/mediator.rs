//! The mediator's message handler: unpack with the mediator's identity, dispatch on the
//! message type, pack the replies (or a problem report for a refusal).
//!
//! **Where protocol handling plugs in**: [`MediatorHandler::dispatch`]. Every protocol reads and
//! writes its messages with the core's typed protocol layer (`didcomm_edge::protocols`,
//! `didcomm_edge::routing`); the handlers in [`crate::protocols`] add what a server needs on top
//! (storage, grant policy, quotas, live delivery).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use didcomm_edge::did::did_of;
use didcomm_edge::protocols::discover_features::{FeatureRegistry, QUERIES_TYPE};
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::protocols::report_problem::is_problem_report;
use didcomm_edge::protocols::return_route::allows_reply;
use didcomm_edge::protocols::trust_ping::PING_TYPE;
use didcomm_edge::routing::FORWARD_TYPE;
use didcomm_edge::{DidComm, Message, PackEncryptedOptions, UnpackMetadata, UnpackOptions};

use crate::config::{GrantPolicy, KeylistProof};
use crate::error::{Error, ErrorKind, Result};
use crate::handler::{Connection, MessageHandler};
use crate::metrics::Metrics;
use crate::protocols::{discover, forward, mediation, pickup, problem, trust_ping};
use crate::storage::{Quota, Storage};

/// Who may obtain a mediation grant, with the lists the policy needs.
#[derive(Clone, Default)]
pub struct GrantRules {
    /// The policy.
    pub policy: GrantPolicy,
    /// DIDs granted under [`GrantPolicy::AllowList`].
    pub allow_list: HashSet<String>,
    /// Tokens accepted under [`GrantPolicy::Token`].
    pub tokens: Vec<String>,
}

impl std::fmt::Debug for GrantRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are credentials: never printed.
        f.debug_struct("GrantRules")
            .field("policy", &self.policy)
            .field("allow_list", &self.allow_list.len())
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// What every protocol handler may use: identity, envelope engine, storage, policy, metrics.
#[derive(Debug)]
pub struct Mediator {
    /// The mediator's DID (also the routing DID granted devices publish).
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
    /// The grant policy.
    pub grants: GrantRules,
    /// Most keys one granted DID may register.
    pub max_keys_per_client: u64,
    /// What Discover Features discloses.
    pub features: FeatureRegistry,
    // Storage-side limits (issue 12).
    /// What a keylist add must prove (see `mediator/README.md`, "Keylist ownership").
    pub keylist_proof: KeylistProof,
    /// Most bytes one delivery carries (always at least one message).
    pub delivery_max_bytes: u64,
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
    /// The sender's DID, when the envelope is encrypted and authenticated it (authcrypt, or
    /// signed then encrypted). Requests that touch a device's grant, keylist or queue must
    /// come through here.
    pub fn authenticated_sender(&self) -> Result<&str> {
        match &self.message.from {
            Some(from) if self.metadata.authenticated && self.metadata.encrypted => {
                Ok(did_of(from))
            }
            _ => Err(Error::forbidden(
                "this request must be authcrypted by the DID that holds the mediation grant",
            )),
        }
    }

    /// Whether replies about this request may travel back on its connection (`return_route`
    /// `all`, or `thread` for this thread); an unreadable header counts as no.
    pub fn wants_return_route(&self) -> bool {
        allows_reply(&self.message, self.message.thread_id()).unwrap_or(false)
    }

    /// Whom a reply or a problem report can go to on this connection: the authenticated
    /// sender, when it asked for replies here.
    fn reply_target(&self) -> Option<String> {
        if !self.wants_return_route() || !self.metadata.authenticated {
            return None;
        }
        self.message.from.clone()
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

    /// Route an unpacked request to its protocol. Returns the plaintext replies to the sender
    /// (threaded and addressed; `from` is set when they are packed).
    async fn dispatch(&self, request: &Request<'_>) -> Result<Vec<Message>> {
        let m = &self.mediator;
        let type_ = request.message.type_.as_str();
        if type_ == FORWARD_TYPE {
            forward::handle(m, request).await?;
            return Ok(vec![]);
        }
        if MediationVersion::of_type(type_).is_some() {
            return Ok(vec![mediation::handle(m, request).await?]);
        }
        if PickupVersion::of_type(type_).is_some() {
            return pickup::handle(m, request).await;
        }
        if type_ == PING_TYPE {
            return trust_ping::handle(request);
        }
        if type_ == QUERIES_TYPE {
            return discover::handle(m, request);
        }
        if is_problem_report(type_) {
            // A device telling us something went wrong on its side: noted, never answered
            // (answering problem reports with problem reports can loop).
            tracing::info!(
                connection = request.connection.id,
                "problem report received"
            );
            return Ok(vec![]);
        }
        let shown: String = type_.chars().take(100).collect();
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("message type '{shown}' is not served by this mediator"),
        ))
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
        let replies = match self.dispatch(&request).await {
            Ok(replies) => replies,
            Err(error) => return Err(self.refusal(error, &request).await),
        };
        if replies.is_empty() {
            return Ok(vec![]);
        }
        let Some(to) = request.reply_target() else {
            // Without return_route the reply would need an outbound transport to the
            // sender's endpoint, which the mediator does not open: drop it.
            tracing::debug!(
                connection = connection.id,
                "reply dropped: the request did not ask for return_route"
            );
            return Ok(vec![]);
        };
        self.pack_replies(replies, &to).await
    }

    /// A refused request: attach a packed problem report when the sender can read one here.
    async fn refusal(&self, error: Error, request: &Request<'_>) -> Error {
        let Some(to) = request.reply_target() else {
            return error;
        };
        let report = match problem::report(&error, &request.message) {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(error = %e, "a problem report could not be built");
                return error;
            }
        };
        match self.pack_replies(vec![report], &to).await {
            Ok(mut packed) if packed.len() == 1 => {
                let packed = packed.swap_remove(0);
                error.with_report(packed)
            }
            Ok(_) => error,
            Err(e) => {
                tracing::warn!(error = %e, "a problem report could not be packed");
                error
            }
        }
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

    async fn deliver_live(&self, connection: &Connection) -> Result<Vec<String>> {
        let Some((owner, version)) = connection.live_owner() else {
            return Ok(vec![]);
        };
        let replies = pickup::live_delivery(&self.mediator, connection, &owner, version).await?;
        self.pack_replies(replies, &owner).await
    }
}
