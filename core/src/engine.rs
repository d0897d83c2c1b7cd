//! [`DidComm`]: the envelope engine. It holds the host's resolver and secrets store and the
//! caches that make repeated work cheap; the pack and unpack operations live in `pack.rs` and
//! `unpack.rs`.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::cache::BoundedCache;
use crate::crypto::{KeyPair, PublicKey};
use crate::did::{CachePolicy, DidResolver, ResolvedDid};
use crate::error::{Error, ErrorKind, Result};
use crate::secrets::SecretsResolver;

/// Tuning of the engine. The defaults suit a phone as well as a mediator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Packed messages longer than this many bytes are refused before parsing.
    pub max_message_size: usize,
    /// How many resolved DID documents (with their parsed keys) to keep.
    pub did_cache_capacity: usize,
    /// How long a resolved document stays cached (`None`: until evicted), unless the resolver
    /// says otherwise for its method ([`crate::did::CachePolicy`]: did:key, did:peer and did:jwk
    /// documents never expire; did:web has its own time to live).
    pub did_cache_ttl: Option<Duration>,
    /// How many parsed private keys to keep (signing keys stay expanded).
    pub secret_cache_capacity: usize,
    /// How many ECDH-1PU static-static secrets (one per sender/recipient key pair) to keep.
    pub static_secret_cache_capacity: usize,
    /// How many forwards addressed to us may be unwrapped within one unpack.
    pub max_forward_unwraps: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 4 * 1024 * 1024,
            did_cache_capacity: 1024,
            did_cache_ttl: Some(Duration::from_secs(600)),
            secret_cache_capacity: 256,
            static_secret_cache_capacity: 1024,
            max_forward_unwraps: 4,
        }
    }
}

impl Config {
    /// Set the size limit.
    #[must_use]
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Set the DID cache capacity and time to live.
    #[must_use]
    pub fn with_did_cache(mut self, capacity: usize, ttl: Option<Duration>) -> Self {
        self.did_cache_capacity = capacity;
        self.did_cache_ttl = ttl;
        self
    }

    /// Set the private key and static secret cache capacities (0 disables each).
    #[must_use]
    pub fn with_key_caches(mut self, secrets: usize, static_secrets: usize) -> Self {
        self.secret_cache_capacity = secrets;
        self.static_secret_cache_capacity = static_secrets;
        self
    }
}

/// The DIDComm v2 envelope engine: pack, unpack and resolve.
///
/// Cheap to share (`Arc<DidComm>`), `Send + Sync` on native targets. The engine does no I/O of
/// its own: DID resolution and secret lookup go through the host's [`DidResolver`] and
/// [`SecretsResolver`].
pub struct DidComm {
    pub(crate) resolver: Arc<dyn DidResolver>,
    pub(crate) secrets: Arc<dyn SecretsResolver>,
    pub(crate) config: Config,
    dids: BoundedCache<String, Arc<ResolvedDid>>,
    key_pairs: BoundedCache<String, Arc<KeyPair>>,
    static_secrets: BoundedCache<[u8; 32], Arc<Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for DidComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidComm")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DidComm {
    /// An engine over the host's resolver and secrets, with default [`Config`].
    pub fn new(resolver: Arc<dyn DidResolver>, secrets: Arc<dyn SecretsResolver>) -> DidComm {
        DidComm::with_config(resolver, secrets, Config::default())
    }

    /// An engine with explicit configuration.
    pub fn with_config(
        resolver: Arc<dyn DidResolver>,
        secrets: Arc<dyn SecretsResolver>,
        config: Config,
    ) -> DidComm {
        DidComm {
            dids: BoundedCache::new(config.did_cache_capacity),
            key_pairs: BoundedCache::new(config.secret_cache_capacity),
            static_secrets: BoundedCache::new(config.static_secret_cache_capacity),
            resolver,
            secrets,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Resolve `did` through the host resolver, parsing its keys once and caching the result.
    pub async fn resolve(&self, did: &str) -> Result<Arc<ResolvedDid>> {
        if let Some(hit) = self.dids.get(did) {
            return Ok(hit);
        }
        let doc = self
            .resolver
            .resolve(did)
            .await
            .map_err(|e| e.context(format!("resolving {did}")))?
            .ok_or_else(|| {
                Error::new(ErrorKind::DidNotResolved, format!("{did} did not resolve"))
            })?;
        if doc.id != did {
            return Err(Error::new(
                ErrorKind::DidNotResolved,
                format!("the resolver answered {did} with a document for another DID"),
            ));
        }
        let resolved = Arc::new(ResolvedDid::new(doc));
        let ttl = match self.resolver.cache_policy(did) {
            CachePolicy::Default => Some(self.config.did_cache_ttl),
            CachePolicy::Immutable => Some(None),
            CachePolicy::Ttl(ttl) => Some(Some(ttl)),
            CachePolicy::NoCache => None,
        };
        if let Some(ttl) = ttl {
            self.dids.insert(did.to_owned(), Arc::clone(&resolved), ttl);
        }
        Ok(resolved)
    }

    /// Drop a cached DID document (after learning it changed).
    pub fn invalidate_did(&self, did: &str) {
        self.dids.remove(did);
    }

    /// Drop a cached private key and every static secret (after deleting or replacing a key).
    pub fn forget_secret(&self, kid: &str) {
        self.key_pairs.remove(kid);
        self.static_secrets.clear();
    }

    /// Drop every cached document, key and shared secret.
    pub fn clear_caches(&self) {
        self.dids.clear();
        self.key_pairs.clear();
        self.static_secrets.clear();
    }

    /// Drop the cached documents of one DID method prefix (e.g. `did:web:`).
    pub fn invalidate_dids_with_prefix(&self, prefix: &str) {
        self.dids.retain(|did| !did.starts_with(prefix));
    }

    /// The private key for `kid`, parsed once and cached; `None` if the host holds no such secret.
    pub(crate) async fn key_pair(&self, kid: &str) -> Result<Option<Arc<KeyPair>>> {
        if let Some(hit) = self.key_pairs.get(kid) {
            return Ok(Some(hit));
        }
        let Some(secret) = self
            .secrets
            .get_secret(kid)
            .await
            .map_err(|e| e.context(format!("looking up the secret of {kid}")))?
        else {
            return Ok(None);
        };
        let pair = Arc::new(secret.key_pair()?);
        self.key_pairs
            .insert(kid.to_owned(), Arc::clone(&pair), None);
        Ok(Some(pair))
    }

    /// Which of `kids` we hold secrets for, in the order given. Cached keys answer without
    /// asking the host.
    pub(crate) async fn held_kids(&self, kids: &[String]) -> Result<Vec<String>> {
        let unknown: Vec<String> = kids
            .iter()
            .filter(|k| self.key_pairs.get(k.as_str()).is_none())
            .cloned()
            .collect();
        let found = if unknown.is_empty() {
            vec![]
        } else {
            self.secrets
                .find_secrets(&unknown)
                .await
                .map_err(|e| e.context("looking up secrets"))?
        };
        Ok(kids
            .iter()
            .filter(|k| !unknown.contains(k) || found.contains(k))
            .cloned()
            .collect())
    }

    /// The ECDH-1PU static-static secret Zs between our key and theirs, cached per key pair.
    pub(crate) fn static_secret(
        &self,
        ours: &KeyPair,
        theirs: &PublicKey,
    ) -> Result<Arc<Zeroizing<Vec<u8>>>> {
        // Keyed by both public keys (not kids), so a key replaced under the same kid never
        // meets a stale secret.
        let mut h = Sha256::new();
        h.update(ours.public().to_bytes());
        h.update([0xff]);
        h.update(theirs.to_bytes());
        let key: [u8; 32] = h.finalize().into();
        if let Some(hit) = self.static_secrets.get(&key) {
            return Ok(hit);
        }
        let zs = Arc::new(ours.agree(theirs)?);
        self.static_secrets.insert(key, Arc::clone(&zs), None);
        Ok(zs)
    }
}
