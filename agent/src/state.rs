//! What a device keeps between runs: its identities (with their private keys), its mediator
//! connection and mediation state, the rotation it is announcing, the rotations peers
//! announced, and the ids it recently acknowledged. One JSON file, written atomically with mode
//! 0600 (it holds private keys).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write as _;
use std::path::Path;
use std::sync::RwLock;

use async_trait::async_trait;
use didcomm_edge::protocols::mediation::MediationClient;
use didcomm_edge::protocols::rotation::DidRotation;
use didcomm_edge::{Secret, SecretsResolver, Wallet};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The file format version.
pub const STATE_FORMAT: u32 = 1;

/// How many acknowledged queue ids are remembered (to acknowledge a redelivery without handing
/// the message to the application twice).
pub(crate) const RECENT_ACKS: usize = 1024;

/// One DID with its document and private keys (the wallet-file form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIdentity {
    /// The DID.
    pub did: String,
    /// Its document and secrets.
    pub wallet: Wallet,
}

impl StoredIdentity {
    pub(crate) fn from_identity(identity: &didcomm_edge::Identity) -> Result<StoredIdentity> {
        Ok(StoredIdentity {
            did: identity.did.clone(),
            wallet: identity.to_wallet()?,
        })
    }
}

/// The mediator a device is connected to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediatorLink {
    /// The mediator's DID.
    pub did: String,
    /// Where requests are POSTed (`http://` or `https://`).
    pub http_endpoint: String,
    /// Where live mode connects (`ws://` or `wss://`).
    pub websocket_url: String,
    /// The Coordinate Mediation state (grant, routing DIDs, confirmed keys).
    pub mediation: MediationClient,
}

/// Everything persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// File format version.
    pub format: u32,
    /// The DID that asks for mediation and picks up (it never leaves the device–mediator link).
    pub control: StoredIdentity,
    /// The DID peers write to; its service names the mediator. `None` until connected.
    #[serde(default)]
    pub messaging: Option<StoredIdentity>,
    /// Earlier messaging DIDs still registered with the mediator after a rotation (their keys
    /// are kept so messages still addressed to them can be read).
    #[serde(default)]
    pub prior: Vec<StoredIdentity>,
    /// The rotation being announced (`from_prior` on messages to peers until they write to the
    /// new DID).
    #[serde(default)]
    pub rotation: Option<DidRotation>,
    /// Peers that have written to the new DID since the rotation (no more `from_prior` for them).
    #[serde(default)]
    pub rotation_seen_by: BTreeSet<String>,
    /// The mediator, once connected.
    #[serde(default)]
    pub mediator: Option<MediatorLink>,
    /// DID rotations peers announced: prior DID → new DID.
    #[serde(default)]
    pub peer_rotations: BTreeMap<String, String>,
    /// Queue ids recently acknowledged to the mediator (newest last).
    #[serde(default)]
    pub recent_acks: VecDeque<String>,
}

impl AgentState {
    /// A fresh state around a control identity.
    pub(crate) fn new(control: StoredIdentity) -> AgentState {
        AgentState {
            format: STATE_FORMAT,
            control,
            messaging: None,
            prior: vec![],
            rotation: None,
            rotation_seen_by: BTreeSet::new(),
            mediator: None,
            peer_rotations: BTreeMap::new(),
            recent_acks: VecDeque::new(),
        }
    }

    /// Every identity held, control first.
    pub(crate) fn identities(&self) -> impl Iterator<Item = &StoredIdentity> {
        std::iter::once(&self.control)
            .chain(self.messaging.iter())
            .chain(self.prior.iter())
    }

    /// Remember acknowledged ids, keeping the newest [`RECENT_ACKS`].
    pub(crate) fn remember_acks(&mut self, ids: &[String]) {
        for id in ids {
            if !self.recent_acks.contains(id) {
                self.recent_acks.push_back(id.clone());
            }
        }
        while self.recent_acks.len() > RECENT_ACKS {
            self.recent_acks.pop_front();
        }
    }

    /// Forget the peer known by `did` (it ended the relationship, or we did): the rotations
    /// leading to or from it, and whether it wrote to our new DID. Whether anything changed.
    pub(crate) fn forget_peer(&mut self, did: &str) -> bool {
        let mut chain = BTreeSet::from([did.to_owned()]);
        // Every pass joins the DIDs one rotation away; bounded like `current_peer_did`.
        for _ in 0..16 {
            let before = chain.len();
            for (prior, new) in &self.peer_rotations {
                if chain.contains(prior) || chain.contains(new) {
                    chain.insert(prior.clone());
                    chain.insert(new.clone());
                }
            }
            if chain.len() == before {
                break;
            }
        }
        let (rotations, seen) = (self.peer_rotations.len(), self.rotation_seen_by.len());
        self.peer_rotations
            .retain(|prior, _| !chain.contains(prior));
        self.rotation_seen_by.retain(|d| !chain.contains(d));
        rotations != self.peer_rotations.len() || seen != self.rotation_seen_by.len()
    }

    /// The DID `did` is now known as, following announced rotations.
    pub(crate) fn current_peer_did(&self, did: &str) -> String {
        let mut current = did.to_owned();
        // Bounded: a cycle of rotations must not loop forever.
        for _ in 0..16 {
            match self.peer_rotations.get(&current) {
                Some(next) if *next != current => current = next.clone(),
                _ => break,
            }
        }
        current
    }

    /// Parse a state file.
    pub fn from_json(text: &str) -> Result<AgentState> {
        let state: AgentState = serde_json::from_str(text).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!(
                    "the state file is not valid (line {}, column {}: {})",
                    e.line(),
                    e.column(),
                    category(&e)
                ),
            )
        })?;
        if state.format != STATE_FORMAT {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "state file format {} is not supported (expected {STATE_FORMAT})",
                    state.format
                ),
            ));
        }
        Ok(state)
    }

    /// Read the state file at `path`, refusing one that others can read.
    pub fn load(path: &Path) -> Result<AgentState> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| Error::storage(path.display(), &e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!(
                        "{} is readable by group or others (mode {:o}); run chmod 600 on it",
                        path.display(),
                        mode & 0o777
                    ),
                ));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::storage(path.display(), &e))?;
        AgentState::from_json(&text).map_err(|e| e.context(path.display()))
    }

    /// Write the state to `path` atomically, readable by its owner only (mode 0600).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|_| Error::new(ErrorKind::Storage, "the state does not serialize"))?;
        write_private(path, text.as_bytes()).map_err(|e| Error::storage(path.display(), &e))
    }
}

/// Replace `path` with `bytes` atomically, readable by its owner only: atomic-write-file writes
/// a new temporary file beside it (a random name, created exclusively with mode 0600, so no
/// planted file or link is followed, whatever the mode of the file it replaces), fsyncs it,
/// renames it over `path` and fsyncs the folder.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = atomic_write_file::OpenOptions::new();
    #[cfg(unix)]
    {
        use atomic_write_file::unix::OpenOptionsExt as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).preserve_mode(false);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.commit()
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end",
    }
}

/// The agent's private keys: an in-memory store the agent adds to (rotation) and removes from
/// (retired DIDs), filled from the state file.
#[derive(Debug, Default)]
pub struct KeyStore {
    secrets: RwLock<HashMap<String, Secret>>,
}

impl KeyStore {
    /// A store holding `secrets`.
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> KeyStore {
        KeyStore {
            secrets: RwLock::new(secrets.into_iter().map(|s| (s.kid.clone(), s)).collect()),
        }
    }

    /// Add (or replace) secrets.
    pub fn insert(&self, secrets: impl IntoIterator<Item = Secret>) {
        if let Ok(mut map) = self.secrets.write() {
            for s in secrets {
                map.insert(s.kid.clone(), s);
            }
        }
    }

    /// Remove the secrets of `did`.
    pub fn remove_did(&self, did: &str) {
        if let Ok(mut map) = self.secrets.write() {
            map.retain(|kid, _| didcomm_edge::did::did_of(kid) != did);
        }
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.secrets.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SecretsResolver for KeyStore {
    async fn get_secret(&self, kid: &str) -> didcomm_edge::Result<Option<Secret>> {
        Ok(self
            .secrets
            .read()
            .map_err(|_| {
                didcomm_edge::Error::new(
                    didcomm_edge::ErrorKind::ResolverFailure,
                    "the key store lock is poisoned",
                )
            })?
            .get(kid)
            .cloned())
    }

    async fn find_secrets(&self, kids: &[String]) -> didcomm_edge::Result<Vec<String>> {
        let map = self.secrets.read().map_err(|_| {
            didcomm_edge::Error::new(
                didcomm_edge::ErrorKind::ResolverFailure,
                "the key store lock is poisoned",
            )
        })?;
        Ok(kids
            .iter()
            .filter(|k| map.contains_key(k.as_str()))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use didcomm_edge::{Identity, IdentityMethod};

    #[test]
    fn state_round_trips_through_a_private_file() {
        let id = Identity::generate(IdentityMethod::Peer2, None).unwrap();
        let mut state = AgentState::new(StoredIdentity::from_identity(&id).unwrap());
        state.peer_rotations.insert("did:a".into(), "did:b".into());
        state.peer_rotations.insert("did:b".into(), "did:c".into());
        state.remember_acks(&["x".into(), "y".into(), "x".into()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        state.save(&path).unwrap();
        let back = AgentState::load(&path).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.current_peer_did("did:a"), "did:c");
        assert_eq!(back.recent_acks.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(
                AgentState::load(&path).unwrap_err().kind(),
                ErrorKind::Storage
            );
            // Saving over a file another mode leaves a private file again.
            state.save(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(AgentState::from_json("{").is_err());
        let mut other = state.clone();
        other.format = 99;
        let text = serde_json::to_string(&other).unwrap();
        assert!(AgentState::from_json(&text)
            .unwrap_err()
            .reason()
            .contains("99"));
    }

    #[cfg(unix)]
    #[test]
    fn saving_follows_no_link_planted_where_a_temporary_file_would_go() {
        let id = Identity::generate(IdentityMethod::Peer2, None).unwrap();
        let state = AgentState::new(StoredIdentity::from_identity(&id).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        for name in ["state.json.tmp", ".state.json.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        state.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(AgentState::load(&path).unwrap(), state);
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn rotation_cycles_do_not_loop() {
        let id = Identity::generate(IdentityMethod::Peer2, None).unwrap();
        let mut state = AgentState::new(StoredIdentity::from_identity(&id).unwrap());
        state.peer_rotations.insert("did:a".into(), "did:b".into());
        state.peer_rotations.insert("did:b".into(), "did:a".into());
        let _ = state.current_peer_did("did:a");
    }
}
