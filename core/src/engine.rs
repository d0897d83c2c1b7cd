//! [`DidComm`]: the envelope engine. It holds the host's resolver and secrets store and the
//! caches that make repeated work cheap; the pack and unpack operations live in `pack.rs` and
//! `unpack.rs`.

use crate::prelude::*;

use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use core::time::Duration;

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
    /// How many signatures a signed message may carry (default 8). A message with more is
    /// refused before any signature is looked at.
    pub max_signatures: usize,
    /// How many recipients an encrypted message may list (default 16). A message with more is
    /// refused before any recipient entry is decoded.
    pub max_recipients: usize,
    /// How many attachments a plaintext message may carry (default 1,000). A message with
    /// more is refused before any attachment is read; an agent that asks for pickup batches
    /// larger than this raises it.
    pub max_attachments: usize,
    /// How long a failed DID resolution is remembered (default 30 s; zero disables): within it,
    /// the same DID fails again without asking the resolver, so a stranger cannot make us
    /// resolve one bad DID over and over. Only for DIDs whose resolution cannot change
    /// ([`CachePolicy::Immutable`]: did:key, did:peer, did:jwk) or has a lifetime
    /// ([`CachePolicy::Ttl`], at most that long: did:web); a host resolver's DIDs
    /// ([`CachePolicy::Default`]) are asked again, since its store may learn them at any time.
    /// Bounded by [`Config::did_cache_capacity`] entries.
    pub did_miss_ttl: Duration,
    /// How many JSON values one layer of a message may have (default 100,000), counted before
    /// it is parsed: the parsed tree of a megabyte of tiny values would take 20 MiB.
    pub max_json_values: usize,
    /// How far a `from_prior` JWT's `exp`, `nbf` and `iat` may be off our clock (default
    /// 300 s).
    pub clock_skew: Duration,
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
            max_signatures: 8,
            max_recipients: 16,
            max_attachments: 1_000,
            max_json_values: crate::message::DEFAULT_MAX_JSON_VALUES,
            did_miss_ttl: Duration::from_secs(30),
            clock_skew: Duration::from_secs(crate::message::from_prior::DEFAULT_CLOCK_SKEW_SECONDS),
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

    /// Set the most signatures and recipients a message may have.
    #[must_use]
    pub fn with_envelope_limits(mut self, max_signatures: usize, max_recipients: usize) -> Self {
        self.max_signatures = max_signatures;
        self.max_recipients = max_recipients;
        self
    }

    /// Set the most attachments a plaintext message may carry.
    #[must_use]
    pub fn with_max_attachments(mut self, max_attachments: usize) -> Self {
        self.max_attachments = max_attachments;
        self
    }

    /// Set how long failed DID resolutions are remembered (zero disables).
    #[must_use]
    pub fn with_did_miss_ttl(mut self, ttl: Duration) -> Self {
        self.did_miss_ttl = ttl;
        self
    }

    /// Set the clock skew allowed for `from_prior` time claims.
    #[must_use]
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
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
    /// Failed resolutions, by SHA-256 of the DID (a fixed-size key whatever the DID's length).
    did_misses: BoundedCache<[u8; 32], Error>,
    key_pairs: BoundedCache<String, Arc<KeyPair>>,
    static_secrets: BoundedCache<[u8; 32], Arc<Zeroizing<Vec<u8>>>>,
}

impl core::fmt::Debug for DidComm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
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
            did_misses: BoundedCache::new(if config.did_miss_ttl.is_zero() {
                0
            } else {
                config.did_cache_capacity
            }),
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
    /// A DID longer than [`crate::did::MAX_DID_LEN`] is refused before anything else; a DID
    /// that failed to resolve fails again, from the cache, for [`Config::did_miss_ttl`].
    pub async fn resolve(&self, did: &str) -> Result<Arc<ResolvedDid>> {
        crate::did::check_did_len(did, "DID")?;
        if let Some(hit) = self.dids.get(did) {
            return Ok(hit);
        }
        let miss_key: [u8; 32] = Sha256::digest(did.as_bytes()).into();
        if let Some(miss) = self.did_misses.get(&miss_key) {
            return Err(miss);
        }
        match self.resolve_uncached(did).await {
            Ok(resolved) => Ok(resolved),
            Err(e) => {
                // Only where the answer cannot change (methods derived from the DID itself) or
                // has a lifetime (did:web), never longer than a document would be kept. A host
                // resolver's store (`CachePolicy::Default`) may learn the DID at any moment,
                // so it is asked again, as it is when it asks for no caching.
                let ttl = match self.resolver.cache_policy(did) {
                    CachePolicy::Immutable => Some(self.config.did_miss_ttl),
                    CachePolicy::Default => None,
                    CachePolicy::Ttl(ttl) => Some(ttl.min(self.config.did_miss_ttl)),
                    CachePolicy::NoCache => None,
                };
                if let Some(ttl) = ttl.filter(|t| !t.is_zero()) {
                    self.did_misses.insert(miss_key, e.clone(), Some(ttl));
                }
                Err(e)
            }
        }
    }

    async fn resolve_uncached(&self, did: &str) -> Result<Arc<ResolvedDid>> {
        let quoted = crate::error::excerpt(did);
        let doc = self
            .resolver
            .resolve(did)
            .await
            .map_err(|e| e.context(format!("resolving {quoted}")))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DidNotResolved,
                    format!("{quoted} did not resolve"),
                )
            })?;
        if doc.id != did {
            return Err(Error::new(
                ErrorKind::DidNotResolved,
                format!("the resolver answered {quoted} with a document for another DID"),
            ));
        }
        // A document naming other forms of its DID (did:peer:2 -> did:peer:3, long -> short
        // did:peer:4) makes those resolvable now: forget their misses.
        for other in &doc.also_known_as {
            let key: [u8; 32] = Sha256::digest(other.as_bytes()).into();
            self.did_misses.remove(&key);
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
        let miss_key: [u8; 32] = Sha256::digest(did.as_bytes()).into();
        self.did_misses.remove(&miss_key);
    }

    /// Drop a cached private key and every static secret (after deleting or replacing a key).
    pub fn forget_secret(&self, kid: &str) {
        self.key_pairs.remove(kid);
        self.static_secrets.clear();
    }

    /// Drop every cached document, key and shared secret.
    pub fn clear_caches(&self) {
        self.dids.clear();
        self.did_misses.clear();
        self.key_pairs.clear();
        self.static_secrets.clear();
    }

    /// Drop the cached documents of one DID method prefix (e.g. `did:web:`).
    pub fn invalidate_dids_with_prefix(&self, prefix: &str) {
        self.dids.retain(|did| !did.starts_with(prefix));
        // Misses are keyed by hash: forget them all.
        self.did_misses.clear();
    }

    /// The private key for `kid`, parsed once and cached; `None` if the host holds no such secret.
    pub(crate) async fn key_pair(&self, kid: &str) -> Result<Option<Arc<KeyPair>>> {
        if let Some(hit) = self.key_pairs.get(kid) {
            return Ok(Some(hit));
        }
        let Some(secret) = self.secrets.get_secret(kid).await.map_err(|e| {
            e.context(format!(
                "looking up the secret of {}",
                crate::error::excerpt(kid)
            ))
        })?
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
        // Sets, not nested scans: `kids` comes from the message.
        let unknown: BTreeSet<&str> = unknown.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = found.iter().map(String::as_str).collect();
        Ok(kids
            .iter()
            .filter(|k| !unknown.contains(k.as_str()) || found.contains(k.as_str()))
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
