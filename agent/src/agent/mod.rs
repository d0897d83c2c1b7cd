//! [`EdgeAgent`]: one device's DIDComm client. It holds two identities — a *control* DID that
//! talks to the mediator (mediation, keylist, pickup) and a *messaging* DID peers write to,
//! whose `DIDCommMessaging` service names the mediator — a resolver, a key store and the
//! persisted state.
//!
//! The device's operations are split by what they do: [`connect`] (invitation, mediation, the
//! messaging DID), [`mediator`] (requests to the mediator: the call itself, keylist, status,
//! ping), [`send`] (packing, routing, delivery), [`receive`] (pickup, opening deliveries,
//! acknowledgements and automatic replies) and [`rotation`] (rotating and retiring DIDs,
//! ending a relationship).

mod connect;
mod mediator;
mod receive;
mod rotation;
mod send;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use didcomm_edge::did::did_of;
use didcomm_edge::{
    Config as EngineConfig, DidComm, Identity, IdentityMethod, Message, ResolverChain,
    UnpackMetadata,
};
use tokio::sync::{watch, Mutex};

use crate::config::AgentConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::state::{AgentState, KeyStore, StoredIdentity};
use crate::transport::HttpTransport;

pub use connect::Connection;
pub(crate) use mediator::MediatorEndpoint;
pub use mediator::{pack_for_mediator, to_mediator};
pub use receive::Acknowledged;
pub use rotation::Rotated;
pub use send::Sent;

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

impl std::fmt::Debug for EdgeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeAgent")
            .field("control_did", &self.inner.control_did)
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
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
