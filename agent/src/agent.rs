//! [`EdgeAgent`]: one device's DIDComm client. It holds two identities — a *control* DID that
//! talks to the mediator (mediation, keylist, pickup) and a *messaging* DID peers write to,
//! whose `DIDCommMessaging` service names the mediator — a resolver, a key store and the
//! persisted state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::did::{did_of, is_did, Relationship};
use didcomm_edge::protocols::ack::{ack_requests, pure_ack};
use didcomm_edge::protocols::empty::Empty;
use didcomm_edge::protocols::mediation::{
    MediationClient, MediationEvent, RecipientUpdateItem, UpdateResult,
};
use didcomm_edge::protocols::oob::Invitation;
use didcomm_edge::protocols::pickup::{DeliveryRequest, PickupMessage, Status, StatusRequest};
use didcomm_edge::protocols::report_problem::{is_problem_report, ProblemReport};
use didcomm_edge::protocols::return_route::{with_return_route, ReturnRoute};
use didcomm_edge::protocols::rotation::{received_ending, received_rotation, RotationOptions};
use didcomm_edge::protocols::trust_ping::{Ping, PingResponse, PING_RESPONSE_TYPE, PING_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::routing::mediator_websocket_url;
use didcomm_edge::{
    Config as EngineConfig, DidComm, DidCommService, Identity, IdentityMethod, Message,
    PackEncryptedOptions, ResolverChain, RouteOptions, UnpackMetadata, UnpackOptions,
};
use tokio::sync::{watch, Mutex};

use crate::config::{AgentConfig, EndpointStyle, SendMode};
use crate::error::shorten;
use crate::error::{Error, ErrorKind, Result};
use crate::pickup::{
    read_delivery, Batch, DeliveredItem, DeliveryReply, Inbound, Received, Undecryptable,
};
use crate::state::{AgentState, KeyStore, MediatorLink, StoredIdentity};
use crate::transport::{self, HttpTransport};

/// A DIDComm v2 edge device: connects to a mediator, sends, picks up, receives live, rotates.
///
/// Cheap to clone (one shared inner state); every clone is the same device.
#[derive(Clone)]
pub struct EdgeAgent {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: AgentConfig,
    pub(crate) didcomm: Arc<DidComm>,
    /// The engine that opens the mediator's replies (same keys and resolver, the delivery
    /// size limit).
    replies: Arc<DidComm>,
    keys: Arc<KeyStore>,
    pub(crate) http: HttpTransport,
    pub(crate) state: Mutex<AgentState>,
    path: Option<PathBuf>,
    pub(crate) control_did: String,
    /// Bumped whenever the set of recipient DIDs changes (live mode re-registers).
    pub(crate) keys_version: watch::Sender<u64>,
    /// Sends whose delivery failed, newest last (see [`EdgeAgent::send`]).
    outbox: std::sync::Mutex<std::collections::VecDeque<Sent>>,
}

/// How many failed sends are kept for a re-send of the same message id.
const OUTBOX_CAPACITY: usize = 64;

impl std::fmt::Debug for EdgeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeAgent")
            .field("control_did", &self.inner.control_did)
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// The mediator's DID and where to POST to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediatorEndpoint {
    pub(crate) did: String,
    pub(crate) http: String,
}

/// The outcome of [`EdgeAgent::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The mediator's DID.
    pub mediator_did: String,
    /// Its HTTP endpoint.
    pub http_endpoint: String,
    /// Its WebSocket URL (live mode).
    pub websocket_url: String,
    /// The routing DIDs of the grant.
    pub routing_did: Vec<String>,
    /// Our messaging DID (registered in the mediator's keylist, its service names the mediator).
    pub did: String,
    /// Whether this call did the mediation exchange (`false`: the saved connection was reused).
    pub newly_granted: bool,
}

/// What [`EdgeAgent::send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message id.
    pub id: String,
    /// The recipient DID it was packed for (after following announced rotations).
    pub to: String,
    /// The transport URI it went to.
    pub uri: String,
    /// The mediators it travels through (the forward layers), first receiver first.
    pub hops: Vec<String>,
    /// The message packed for the recipient (what the recipient decrypts).
    pub packed: String,
    /// What went on the wire: the outer forward (or `packed` itself without hops).
    pub wire: String,
    /// Whether `from_prior` announced our DID rotation on this message.
    pub announced_rotation: bool,
}

/// What [`EdgeAgent::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The DID rotated away from (still registered until [`EdgeAgent::retire_prior_dids`]).
    pub prior_did: String,
    /// The new messaging DID.
    pub new_did: String,
    /// The `from_prior` JWT the next messages to each peer carry.
    pub from_prior: String,
}

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
    /// A device with a fresh control identity, kept in memory only.
    pub fn new(config: AgentConfig) -> Result<EdgeAgent> {
        let control = Identity::generate(IdentityMethod::Peer2, None)?;
        let state = AgentState::new(StoredIdentity::from_identity(&control)?);
        EdgeAgent::from_state(state, None, config)
    }

    /// The device whose state lives at `path`: loaded when the file exists, else created (a
    /// fresh control identity) and written with mode 0600. Every change is saved there, so a
    /// restarted device continues where it stopped.
    pub fn open(path: impl AsRef<Path>, config: AgentConfig) -> Result<EdgeAgent> {
        let path = path.as_ref();
        let state = if path.exists() {
            AgentState::load(path)?
        } else {
            let control = Identity::generate(IdentityMethod::Peer2, None)?;
            let state = AgentState::new(StoredIdentity::from_identity(&control)?);
            state.save(path)?;
            state
        };
        EdgeAgent::from_state(state, Some(path.to_path_buf()), config)
    }

    /// A device over an existing state, saved to `path` when given.
    pub fn from_state(
        state: AgentState,
        path: Option<PathBuf>,
        config: AgentConfig,
    ) -> Result<EdgeAgent> {
        let keys = Arc::new(KeyStore::new(
            state
                .identities()
                .flat_map(|i| i.wallet.secrets.iter().cloned()),
        ));
        let pinned = didcomm_edge::InMemoryDidResolver::new(
            state
                .identities()
                .flat_map(|i| i.wallet.did_docs.iter().cloned()),
        );
        let mut chain = ResolverChain::new()
            .with_pinned(Arc::new(pinned))
            .with_web(didcomm_edge_web::resolver()?);
        if let Some(host) = &config.host_resolver {
            chain = chain.with_host(Arc::clone(host));
        }
        let chain: Arc<dyn didcomm_edge::DidResolver> = Arc::new(chain);
        let secrets = Arc::clone(&keys) as Arc<dyn didcomm_edge::SecretsResolver>;
        // Peers' messages are opened within the device's limit; the mediator's replies, which
        // carry them base64 inside a delivery, within the larger delivery limit.
        let didcomm = Arc::new(DidComm::with_config(
            Arc::clone(&chain),
            Arc::clone(&secrets),
            EngineConfig::default().with_max_message_size(config.max_message_size),
        ));
        let replies = Arc::new(DidComm::with_config(chain, secrets, {
            let engine = EngineConfig::default().with_max_message_size(config.delivery_limit());
            // A pickup delivery carries up to one batch of attachments.
            let batch = usize::try_from(config.batch_size).unwrap_or(usize::MAX);
            let most = engine.max_attachments.max(batch);
            engine.with_max_attachments(most)
        }));
        let http = HttpTransport::new(config.request_timeout)?.max_reply(config.delivery_limit());
        let control_did = state.control.did.clone();
        let (keys_version, _) = watch::channel(0);
        Ok(EdgeAgent {
            inner: Arc::new(Inner {
                config,
                didcomm,
                replies,
                keys,
                http,
                state: Mutex::new(state),
                path,
                control_did,
                keys_version,
                outbox: std::sync::Mutex::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// The envelope engine holding this device's keys (to pack or unpack by hand).
    pub fn didcomm(&self) -> &Arc<DidComm> {
        &self.inner.didcomm
    }

    /// The DID that talks to the mediator.
    pub fn control_did(&self) -> &str {
        &self.inner.control_did
    }

    /// The DID peers write to, once connected.
    pub async fn did(&self) -> Option<String> {
        self.inner
            .state
            .lock()
            .await
            .messaging
            .as_ref()
            .map(|m| m.did.clone())
    }

    /// A copy of the persisted state (it holds private keys: keep it private).
    pub async fn state(&self) -> AgentState {
        self.inner.state.lock().await.clone()
    }

    /// The current DID of a peer, following the rotations it announced.
    pub async fn peer_did(&self, did: &str) -> String {
        self.inner.state.lock().await.current_peer_did(did)
    }

    pub(crate) async fn save(&self, state: &AgentState) -> Result<()> {
        match &self.inner.path {
            Some(path) => state.save(path),
            None => Ok(()),
        }
    }

    pub(crate) async fn mediator_endpoint(&self) -> Result<MediatorEndpoint> {
        let state = self.inner.state.lock().await;
        let link = state.mediator.as_ref().ok_or_else(not_connected)?;
        Ok(MediatorEndpoint {
            did: link.did.clone(),
            http: link.http_endpoint.clone(),
        })
    }

    // ------------------------------------------------------------------------------------
    // Connecting.

    /// Connect to a mediator from its invitation: an `_oob` URL, the invitation JSON, or the
    /// mediator's DID (which must publish an HTTP endpoint). Asks for mediation, makes the
    /// messaging DID whose service names the mediator, and registers it in the keylist.
    ///
    /// When the state already holds a grant from this mediator, nothing is asked again (a
    /// restarted device). A different mediator is refused: one agent, one mediator.
    pub async fn connect(&self, invitation: &str) -> Result<Connection> {
        let target = self.read_invitation(invitation).await?;
        {
            let state = self.inner.state.lock().await;
            if let Some(link) = &state.mediator {
                if link.did != target.did {
                    return Err(Error::illegal_argument(format!(
                        "this device is connected to the mediator {}; one agent uses one mediator",
                        link.did
                    )));
                }
                if let (Some(routing), Some(messaging)) =
                    (link.mediation.routing_did(), &state.messaging)
                {
                    if link.mediation.recipient_dids.contains(&messaging.did) {
                        return Ok(Connection {
                            mediator_did: link.did.clone(),
                            http_endpoint: link.http_endpoint.clone(),
                            websocket_url: link.websocket_url.clone(),
                            routing_did: routing.to_vec(),
                            did: messaging.did.clone(),
                            newly_granted: false,
                        });
                    }
                }
            }
        }
        let endpoint = MediatorEndpoint {
            did: target.did.clone(),
            http: target.http.clone(),
        };

        // Mediation request → grant.
        let mut client = MediationClient::new(self.inner.config.mediation_version, &target.did);
        let mut request = client.request(&self.inner.control_did)?;
        // The request answers the invitation: its id is the parent thread (mediators with an
        // invitation-token grant policy check it).
        request.pthid.clone_from(&target.invitation_id);
        let reply = self.mediator_call(&endpoint, request).await?;
        let routing_did = match client.handle(&reply)? {
            MediationEvent::Granted { routing_did } => routing_did,
            MediationEvent::Denied => {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!("the mediator {} denied mediation", target.did),
                ))
            }
            other => {
                return Err(Error::protocol(format!(
                    "unexpected answer to mediate-request: {other:?}"
                )))
            }
        };
        {
            let mut state = self.inner.state.lock().await;
            state.mediator = Some(MediatorLink {
                did: target.did.clone(),
                http_endpoint: target.http.clone(),
                websocket_url: target.websocket.clone(),
                mediation: client,
            });
            self.save(&state).await?;
        }

        // The messaging DID names the mediator; register it.
        let existing = self.inner.state.lock().await.messaging.clone();
        let messaging = match existing {
            Some(existing) => existing.did,
            None => {
                let service = self.messaging_service(&routing_did, &target).await?;
                let identity = Identity::generate(IdentityMethod::Peer2, Some(&service))?;
                self.inner.keys.insert(identity.secrets.iter().cloned());
                let stored = StoredIdentity::from_identity(&identity)?;
                let mut state = self.inner.state.lock().await;
                state.messaging = Some(stored);
                self.save(&state).await?;
                identity.did
            }
        };
        self.update_keylist(vec![RecipientUpdateItem::add(messaging.clone())])
            .await?;
        Ok(Connection {
            mediator_did: target.did,
            http_endpoint: target.http,
            websocket_url: target.websocket,
            routing_did,
            did: messaging,
            newly_granted: true,
        })
    }

    /// The mediator named by an invitation, with its endpoints.
    async fn read_invitation(&self, invitation: &str) -> Result<MediatorTarget> {
        let invitation = invitation.trim();
        let (did, url_base, invitation_id) = if is_did(invitation) {
            (invitation.to_owned(), None, None)
        } else if invitation.starts_with('{') {
            let message = Message::from_json(invitation, Default::default())?;
            let parsed = Invitation::from_message(&message)?;
            (parsed.from, None, Some(parsed.id))
        } else {
            let parsed = Invitation::from_url(invitation)?;
            let base = invitation
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_owned();
            (parsed.from, Some(base), Some(parsed.id))
        };
        let doc = self.inner.didcomm.resolve(&did).await.map_err(|e| {
            Error::from(e).context("resolving the mediator named by the invitation")
        })?;
        let endpoints = doc.document().didcomm_endpoints();
        let http = endpoints
            .iter()
            .map(|e| e.uri.clone())
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
            .or(url_base)
            .ok_or_else(|| {
                Error::illegal_argument(format!(
                    "{did} publishes no HTTP endpoint; connect with its _oob URL instead"
                ))
            })?;
        let websocket = match &self.inner.config.websocket_url {
            Some(url) => url.clone(),
            None => endpoints
                .iter()
                .map(|e| e.uri.clone())
                .find(|u| u.starts_with("ws://") || u.starts_with("wss://"))
                .unwrap_or_else(|| mediator_websocket_url(&http)),
        };
        Ok(MediatorTarget {
            did,
            http,
            websocket,
            invitation_id,
        })
    }

    /// The service the messaging DID publishes for the granted `routing_did`.
    async fn messaging_service(
        &self,
        routing_did: &[String],
        target: &MediatorTarget,
    ) -> Result<DidCommService> {
        let routing = routing_did
            .first()
            .ok_or_else(|| Error::protocol("the grant names no routing DID"))?;
        let resolved = self.inner.didcomm.resolve(did_of(routing)).await?;
        let publishes_endpoint = resolved
            .document()
            .didcomm_endpoints()
            .iter()
            .any(|e| !e.uri_is_did());
        let by_did = match self.inner.config.endpoint_style {
            EndpointStyle::MediatorDid => true,
            EndpointStyle::RoutingKeys => false,
            _ => publishes_endpoint,
        };
        if by_did {
            return Ok(DidCommService::new(routing.clone()));
        }
        let key = if routing.contains('#') {
            routing.clone()
        } else {
            resolved
                .kids(Relationship::KeyAgreement)
                .first()
                .cloned()
                .ok_or_else(|| {
                    Error::protocol(format!(
                        "the routing DID {routing} has no key agreement key"
                    ))
                })?
        };
        Ok(DidCommService::new(target.http.clone()).with_routing_keys([key]))
    }

    // ------------------------------------------------------------------------------------
    // Talking to the mediator.

    /// Send a request to the mediator from the control DID (authcrypt, `return_route: all`)
    /// and return its verified reply. Retried while the failure is transient: every request
    /// the agent makes to the mediator is safe to repeat. Each attempt is a message of its own
    /// (a fresh id, packed again): an earlier attempt may have reached the mediator, which
    /// refuses a message id it has seen. The reply, checked to answer the attempt it came
    /// for, is returned threaded to `message`'s id, so the caller sees one exchange.
    pub(crate) async fn mediator_call(
        &self,
        endpoint: &MediatorEndpoint,
        message: Message,
    ) -> Result<Message> {
        let request_id = message.id.clone();
        let message = to_mediator(message, &self.inner.control_did, &endpoint.did);
        let mut attempt = 0u32;
        let (reply, attempt_id) = transport::retrying(&self.inner.config.retry, || {
            attempt += 1;
            let first = attempt == 1;
            let message = &message;
            async move {
                let mut this = message.clone();
                if !first {
                    this.id = didcomm_edge::crypto::uuid_v4()?;
                }
                let packed = pack_for_mediator(
                    &self.inner.didcomm,
                    &this,
                    &self.inner.control_did,
                    &endpoint.did,
                )
                .await?;
                match self.inner.http.post_raw(&endpoint.http, &packed).await? {
                    (200..=299, body) if body.trim().is_empty() => Ok((None, this.id)),
                    (200..=299, body) => Ok((Some(body), this.id)),
                    (status, body) => Err(self.refusal(endpoint, status, &body).await),
                }
            }
        })
        .await?;
        let Some(reply) = reply else {
            return Err(Error::protocol(format!(
                "the mediator accepted {} without replying (does it support return_route?)",
                message.type_
            )));
        };
        let mut reply = self.open_from_mediator(endpoint, &reply).await?;
        let answers = |id: &Option<String>| id.as_deref() == Some(attempt_id.as_str());
        if !answers(&reply.thid) && !answers(&reply.pthid) {
            return Err(Error::protocol(format!(
                "the mediator's {} does not answer our {}",
                reply.type_, message.type_
            )));
        }
        if attempt_id != request_id {
            for id in [&mut reply.thid, &mut reply.pthid] {
                if id.as_deref() == Some(attempt_id.as_str()) {
                    *id = Some(request_id.clone());
                }
            }
        }
        Ok(reply)
    }

    /// The error an HTTP refusal from the mediator stands for: its problem report when the
    /// body is one we can open, else its JSON reason.
    async fn refusal(&self, endpoint: &MediatorEndpoint, status: u16, body: &str) -> Error {
        if body.contains("\"ciphertext\"") {
            if let Err(e) = self.open_from_mediator(endpoint, body).await {
                if e.problem_report().is_some() {
                    return Error::refused_problem_with_status(e, status);
                }
            }
        }
        transport::refusal(&endpoint.http, status, body)
    }

    /// Unpack a message from the mediator: it must be encrypted and authenticated as the
    /// mediator; a problem report becomes a [`ErrorKind::Refused`] error.
    pub(crate) async fn open_from_mediator(
        &self,
        endpoint: &MediatorEndpoint,
        packed: &str,
    ) -> Result<Message> {
        let (message, metadata) = self
            .inner
            .replies
            .unpack(packed, &UnpackOptions::default())
            .await
            .map_err(|e| Error::from(e).context("the mediator's reply"))?;
        let from_mediator = metadata.encrypted
            && metadata.authenticated
            && message
                .from
                .as_deref()
                .is_some_and(|f| did_of(f) == did_of(&endpoint.did));
        if !from_mediator {
            return Err(Error::protocol(
                "a reply that is not authenticated as the mediator was ignored",
            ));
        }
        if is_problem_report(&message.type_) {
            let report = ProblemReport::from_message(&message)?;
            return Err(Error::refused_problem(report));
        }
        Ok(message)
    }

    /// Apply keylist updates, checking each outcome (`success` or `no_change`).
    pub(crate) async fn update_keylist(&self, updates: Vec<RecipientUpdateItem>) -> Result<()> {
        let endpoint = self.mediator_endpoint().await?;
        let request = {
            let mut state = self.inner.state.lock().await;
            let link = state.mediator.as_mut().ok_or_else(not_connected)?;
            link.mediation
                .update(&self.inner.control_did, updates.clone())?
        };
        let reply = self.mediator_call(&endpoint, request).await?;
        let event = {
            let mut state = self.inner.state.lock().await;
            let link = state.mediator.as_mut().ok_or_else(not_connected)?;
            let event = link.mediation.handle(&reply)?;
            self.save(&state).await?;
            event
        };
        let MediationEvent::Updated { updated } = event else {
            return Err(Error::protocol(format!(
                "unexpected answer to a keylist update: {event:?}"
            )));
        };
        for asked in &updates {
            let outcome = updated
                .iter()
                .find(|u| u.recipient_did == asked.recipient_did && u.action == asked.action);
            match outcome.map(|u| u.result) {
                Some(UpdateResult::Success | UpdateResult::NoChange) => {}
                Some(other) => {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!(
                            "the mediator answered {} to {} {}",
                            other.as_str(),
                            asked.action.as_str(),
                            asked.recipient_did
                        ),
                    ))
                }
                None => {
                    return Err(Error::protocol(format!(
                        "the mediator did not answer the update of {}",
                        asked.recipient_did
                    )))
                }
            }
        }
        self.inner.keys_version.send_modify(|v| *v += 1);
        Ok(())
    }

    /// The recipient DIDs the mediator holds for this device (every page).
    pub async fn keylist(&self) -> Result<Vec<String>> {
        let endpoint = self.mediator_endpoint().await?;
        let mut dids = Vec::new();
        let mut offset = 0;
        // Bounded: a mediator that keeps paging forever is not followed.
        for _ in 0..100 {
            let paginate = didcomm_edge::protocols::mediation::Paginate { limit: 100, offset };
            let request = {
                let mut state = self.inner.state.lock().await;
                let link = state.mediator.as_mut().ok_or_else(not_connected)?;
                link.mediation
                    .query(&self.inner.control_did, Some(paginate))?
            };
            let reply = self.mediator_call(&endpoint, request).await?;
            let event = {
                let mut state = self.inner.state.lock().await;
                let link = state.mediator.as_mut().ok_or_else(not_connected)?;
                link.mediation.handle(&reply)?
            };
            let MediationEvent::Listed { list } = event else {
                return Err(Error::protocol(format!(
                    "unexpected answer to a keylist query: {event:?}"
                )));
            };
            let got = list.dids.len() as u64;
            dids.extend(list.dids);
            match list.pagination {
                Some(p) if p.remaining > 0 && got > 0 => offset += got,
                _ => break,
            }
        }
        {
            let mut state = self.inner.state.lock().await;
            if let Some(link) = state.mediator.as_mut() {
                link.mediation.recipient_dids = dids.iter().cloned().collect();
            }
            self.save(&state).await?;
        }
        Ok(dids)
    }

    /// Ask the mediator how many messages wait (for one recipient DID, or all of ours).
    pub async fn status(&self, recipient_did: Option<&str>) -> Result<Status> {
        let endpoint = self.mediator_endpoint().await?;
        let request = StatusRequest {
            version: self.inner.config.pickup_version,
            recipient_did: recipient_did.map(str::to_owned),
        }
        .to_message()?;
        let reply = self.mediator_call(&endpoint, request).await?;
        match PickupMessage::parse(&reply)? {
            PickupMessage::Status(status) => Ok(status),
            _ => Err(Error::protocol(format!(
                "the mediator answered a status-request with {}",
                reply.type_
            ))),
        }
    }

    /// Trust-ping the mediator over the control DID's channel; returns the round trip.
    pub async fn ping_mediator(&self) -> Result<Duration> {
        let endpoint = self.mediator_endpoint().await?;
        let started = Instant::now();
        let reply = self
            .mediator_call(&endpoint, Ping::default().to_message()?)
            .await?;
        if reply.type_ != PING_RESPONSE_TYPE {
            return Err(Error::protocol(format!(
                "the mediator answered a ping with {}",
                reply.type_
            )));
        }
        Ok(started.elapsed())
    }

    // ------------------------------------------------------------------------------------
    // Sending.

    /// Send `message` to `to`: resolve the recipient, pack (authcrypt from our messaging DID by
    /// default), wrap in forwards for its mediators, deliver to its endpoint. `from`, `to` and
    /// (while a rotation is being announced) `from_prior` are set here.
    ///
    /// Transient failures are retried with the very same bytes, so a mediator that did store an
    /// earlier attempt stores the message once. When every attempt failed, sending a message
    /// with the same id to the same peer again (after the network is back) repeats those bytes
    /// too (the last 64 failed sends are kept, in memory).
    pub async fn send(&self, to: &str, message: Message) -> Result<Sent> {
        // A message id identifies the message: re-sending one whose delivery failed sends the
        // bytes of that attempt again (the mediator may have stored them; it stores them once).
        let recipient = self.inner.state.lock().await.current_peer_did(to);
        let earlier = self.inner.outbox.lock().ok().and_then(|mut outbox| {
            let index = outbox
                .iter()
                .position(|s| s.id == message.id && s.to == recipient)?;
            outbox.remove(index)
        });
        if let Some(sent) = earlier {
            return self.deliver_sent(sent).await;
        }
        let (from, to, message, announced) = {
            let state = self.inner.state.lock().await;
            let from = state
                .messaging
                .as_ref()
                .map(|m| m.did.clone())
                .ok_or_else(not_connected)?;
            let to = state.current_peer_did(to);
            let mut message = message.from(from.clone());
            message.to = Some(vec![to.clone()]);
            let announce = state
                .rotation
                .as_ref()
                .filter(|r| r.new_did == from && !state.rotation_seen_by.contains(&to));
            let announced = announce.is_some();
            if let Some(rotation) = announce {
                message = rotation.apply(message);
            }
            (from, to, message, announced)
        };
        let dc = &self.inner.didcomm;
        let options = PackEncryptedOptions::default().enc_alg_anon(self.inner.config.enc_alg_anon);
        let (packed, _) = match self.inner.config.send_mode {
            SendMode::Anoncrypt => {
                let mut message = message.clone();
                message.from = None;
                message.from_prior = None;
                dc.pack_encrypted(&message, &to, None, None, &options)
                    .await?
            }
            SendMode::AuthcryptProtectSender => {
                dc.pack_encrypted(
                    &message,
                    &to,
                    Some(&from),
                    None,
                    &options.protect_sender(true),
                )
                .await?
            }
            _ => {
                dc.pack_encrypted(&message, &to, Some(&from), None, &options)
                    .await?
            }
        };
        let routed = dc
            .route(
                &packed,
                &to,
                &RouteOptions::default().enc_alg_anon(self.inner.config.enc_alg_anon),
            )
            .await?;
        self.deliver_sent(Sent {
            id: message.id,
            to,
            uri: routed.uri,
            hops: routed.hops,
            packed,
            wire: routed.message,
            announced_rotation: announced,
        })
        .await
    }

    /// Deliver a packed send; when delivery fails, keep it for a re-send of the same id.
    async fn deliver_sent(&self, sent: Sent) -> Result<Sent> {
        match self.deliver(&sent.uri, &sent.wire).await {
            Ok(()) => Ok(sent),
            Err(e) => {
                if let Ok(mut outbox) = self.inner.outbox.lock() {
                    outbox.push_back(sent);
                    while outbox.len() > OUTBOX_CAPACITY {
                        outbox.pop_front();
                    }
                }
                Err(e)
            }
        }
    }

    /// Deliver a packed message to a transport URI (HTTP POST or a WebSocket frame).
    async fn deliver(&self, uri: &str, wire: &str) -> Result<()> {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            match self
                .inner
                .http
                .post_with_retry(uri, wire, &self.inner.config.retry)
                .await?
            {
                // A reply on the connection (a peer with its own endpoint honoring return_route)
                // is not expected from a send; it is dropped.
                transport::HttpReply::Accepted | transport::HttpReply::Message(_) => Ok(()),
            }
        } else if uri.starts_with("ws://") || uri.starts_with("wss://") {
            let timeout = self.inner.config.request_timeout;
            transport::retrying(&self.inner.config.retry, || {
                transport::ws_send_once(uri, wire, timeout)
            })
            .await
        } else {
            Err(Error::new(
                ErrorKind::Envelope(didcomm_edge::ErrorKind::Unsupported),
                format!(
                    "the recipient's endpoint '{}' is not an HTTP or WebSocket URL",
                    transport::endpoint_name(uri)
                ),
            ))
        }
    }

    /// Trust-ping a peer (the response arrives like any message: see
    /// [`Received::is_reply_to`]).
    pub async fn ping(&self, to: &str) -> Result<Sent> {
        self.send(to, Ping::default().to_message()?).await
    }

    // ------------------------------------------------------------------------------------
    // Receiving.

    /// Pick up one batch of waiting messages (up to [`AgentConfig::batch_size`]) and decrypt
    /// them. Nothing is deleted at the mediator until [`Batch::acknowledge`] is called, after
    /// the application has taken the messages: a batch dropped unacknowledged comes again.
    ///
    /// A delivered message the device does not open (larger than
    /// [`AgentConfig::max_message_size`], malformed, not for us, badly signed) is in
    /// [`Batch::failed`] and acknowledged with the batch. A delivery larger than
    /// [`AgentConfig::delivery_limit`] is asked for again with half as many messages, down to
    /// one.
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

    // ------------------------------------------------------------------------------------
    // Rotation.

    /// Rotate the messaging DID: new keys and a new did:peer:2 with the same service, the new
    /// DID added to the mediator's keylist, and `from_prior` (signed by the prior DID) on the
    /// next messages to each peer until that peer writes to the new DID. The prior DID stays
    /// registered (messages already on their way still arrive) until
    /// [`EdgeAgent::retire_prior_dids`].
    pub async fn rotate(&self) -> Result<Rotated> {
        let prior = {
            let state = self.inner.state.lock().await;
            state.mediator.as_ref().ok_or_else(not_connected)?;
            state.messaging.clone().ok_or_else(not_connected)?
        };
        let doc = prior
            .wallet
            .did_docs
            .iter()
            .find(|d| d.id == prior.did)
            .ok_or_else(|| Error::new(ErrorKind::Storage, "the messaging DID has no document"))?;
        let service = doc
            .didcomm_endpoints()
            .into_iter()
            .next()
            .map(|e| DidCommService::new(e.uri).with_routing_keys(e.routing_keys));
        let identity = Identity::generate(IdentityMethod::Peer2, service.as_ref())?;
        self.inner.keys.insert(identity.secrets.iter().cloned());
        let mut options = RotationOptions::default();
        options.mediation_version = self.inner.config.mediation_version;
        let rotation = self
            .inner
            .didcomm
            .rotate_did(&prior.did, &identity.did, &options)
            .await?;
        let additions: Vec<RecipientUpdateItem> = rotation
            .keylist_update
            .updates
            .iter()
            .filter(|u| u.action == didcomm_edge::protocols::mediation::UpdateAction::Add)
            .cloned()
            .collect();
        self.update_keylist(additions).await?;
        let rotated = Rotated {
            prior_did: prior.did.clone(),
            new_did: identity.did.clone(),
            from_prior: rotation.from_prior.clone(),
        };
        let mut state = self.inner.state.lock().await;
        state.messaging = Some(StoredIdentity::from_identity(&identity)?);
        state.prior.push(prior);
        state.rotation = Some(rotation);
        state.rotation_seen_by.clear();
        self.save(&state).await?;
        Ok(rotated)
    }

    /// End the relationship with `peer` (DIDComm v2.1 "Ending a Relationship"): an empty
    /// message without `from`, anoncrypted (authcrypt needs a `from`), whose `from_prior` has
    /// no `sub` and is signed by the DID the peer knows us by (the prior DID while the peer
    /// has not yet written to our new one). The peer then forgets that DID. Ours stays
    /// registered with the mediator (other peers write to it); what we knew of the peer (its
    /// rotations, whether it saw ours) is forgotten here once the message is delivered.
    pub async fn end_relationship(&self, peer: &str) -> Result<Sent> {
        let (ours, to) = {
            let state = self.inner.state.lock().await;
            let current = state
                .messaging
                .as_ref()
                .map(|m| m.did.clone())
                .ok_or_else(not_connected)?;
            let to = state.current_peer_did(peer);
            let ours = match &state.rotation {
                Some(r)
                    if r.new_did == current
                        && !state.rotation_seen_by.contains(&to)
                        && state.prior.iter().any(|p| p.did == r.prior_did) =>
                {
                    r.prior_did.clone()
                }
                _ => current,
            };
            (ours, to)
        };
        let dc = &self.inner.didcomm;
        let ending = dc
            .end_relationship(&ours, &RotationOptions::default())
            .await?;
        let mut message = ending.apply(Empty.to_message()?);
        message.to = Some(vec![to.clone()]);
        let anon = self.inner.config.enc_alg_anon;
        let (packed, _) = dc
            .pack_encrypted(
                &message,
                &to,
                None,
                None,
                &PackEncryptedOptions::default().enc_alg_anon(anon),
            )
            .await?;
        let routed = dc
            .route(&packed, &to, &RouteOptions::default().enc_alg_anon(anon))
            .await?;
        let sent = self
            .deliver_sent(Sent {
                id: message.id,
                to: to.clone(),
                uri: routed.uri,
                hops: routed.hops,
                packed,
                wire: routed.message,
                announced_rotation: false,
            })
            .await?;
        let mut state = self.inner.state.lock().await;
        if state.forget_peer(&to) {
            self.save(&state).await?;
        }
        Ok(sent)
    }

    /// Stop receiving for the DIDs rotated away from: remove them from the mediator's keylist
    /// and forget their keys. Refused while messages still wait for one of them (pick them up
    /// first), unless `even_if_messages_wait`, which drops those messages.
    pub async fn retire_prior_dids(&self, even_if_messages_wait: bool) -> Result<Vec<String>> {
        let prior: Vec<String> = self
            .inner
            .state
            .lock()
            .await
            .prior
            .iter()
            .map(|p| p.did.clone())
            .collect();
        if prior.is_empty() {
            return Ok(vec![]);
        }
        if !even_if_messages_wait {
            for did in &prior {
                let waiting = self.status(Some(did)).await?.message_count;
                if waiting > 0 {
                    return Err(Error::illegal_argument(format!(
                        "{waiting} message(s) still wait for {did}: pick them up before retiring it"
                    )));
                }
            }
        }
        self.update_keylist(
            prior
                .iter()
                .map(|d| RecipientUpdateItem::remove(d.clone()))
                .collect(),
        )
        .await?;
        let mut state = self.inner.state.lock().await;
        for did in &prior {
            self.inner.keys.remove_did(did);
        }
        state.prior.clear();
        self.save(&state).await?;
        drop(state);
        self.inner.didcomm.clear_caches();
        self.inner.replies.clear_caches();
        Ok(prior)
    }

    /// Every recipient DID this device receives for (messaging, then prior DIDs).
    pub async fn recipient_dids(&self) -> Vec<String> {
        let state = self.inner.state.lock().await;
        state
            .messaging
            .iter()
            .chain(state.prior.iter())
            .map(|i| i.did.clone())
            .collect()
    }
}

/// The mediator an invitation names.
#[derive(Debug, Clone)]
struct MediatorTarget {
    did: String,
    http: String,
    websocket: String,
    invitation_id: Option<String>,
}

/// Address `message` from `from` (a device's control DID) to the mediator `mediator_did`, and
/// ask for the reply on the same connection (`return_route: all`): how every request the agent
/// makes to its mediator is addressed. Pack it with [`pack_for_mediator`].
pub fn to_mediator(message: Message, from: &str, mediator_did: &str) -> Message {
    with_return_route(message, ReturnRoute::All)
        .from(from.to_owned())
        .to(mediator_did.to_owned())
}

/// Authcrypt `message` (already addressed, see [`to_mediator`]) from `from` to the mediator
/// `mediator_did` with `didcomm`, the way the agent packs its requests to the mediator.
pub async fn pack_for_mediator(
    didcomm: &DidComm,
    message: &Message,
    from: &str,
    mediator_did: &str,
) -> Result<String> {
    let (packed, _) = didcomm
        .pack_encrypted(
            message,
            mediator_did,
            Some(from),
            None,
            &PackEncryptedOptions::default(),
        )
        .await?;
    Ok(packed)
}

/// The sender a message authenticated (authcrypt or signature), as a DID.
pub(crate) fn authenticated_sender<'a>(
    message: &'a Message,
    metadata: &UnpackMetadata,
) -> Option<&'a str> {
    if !metadata.authenticated {
        return None;
    }
    message.from.as_deref().map(did_of)
}

/// Whether `e` says a message or reply exceeded a size limit.
pub(crate) fn is_too_large(e: &Error) -> bool {
    e.kind() == ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge)
}

pub(crate) fn not_connected() -> Error {
    Error::new(
        ErrorKind::NotConnected,
        "not connected to a mediator: call connect() first",
    )
}
