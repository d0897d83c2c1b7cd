//! The host's side: a DID resolver and a secrets store the app implements (a phone keeps its keys
//! in its keystore), their in-memory versions, and the resolver chain that puts the built-in DID
//! methods in front of the host's resolver.
//!
//! Both traits are synchronous. They are called on the thread that runs the operation: the
//! caller's thread for `*_blocking` methods, a background thread for async ones, so an
//! implementation may block (a network lookup, a keystore unlock) without stalling an event loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use didcomm_edge::{DidDocument, Secret};

use crate::error::{DidCommError, Result};
use crate::json::{json_error, to_json};

/// Resolves DIDs to DID documents. Implement it to resolve DID methods the library does not
/// know (the built-in ones are did:key, did:peer, did:jwk and did:web, see [`ResolverChain`]).
#[uniffi::export(with_foreign)]
pub trait DidResolver: Send + Sync {
    /// The DID document of `did` as JSON text, or nothing when the DID does not exist. Raise
    /// `ResolverFailure` when resolution could not be attempted (network down); any other
    /// exception is reported as `ResolverFailure` too.
    fn resolve(&self, did: String) -> Result<Option<String>>;
}

/// Gives the library the private keys of the local identities, one at a time.
#[uniffi::export(with_foreign)]
pub trait SecretsStore: Send + Sync {
    /// The secret for `kid` as JSON text
    /// (`{"kid", "type", "privateKeyJwk": {...}}` or `{"kid", "type", "privateKeyMultibase"}`),
    /// or nothing when it is not held.
    fn get_secret(&self, kid: String) -> Result<Option<String>>;

    /// Which of `kids` are held, in the order given.
    fn find_secrets(&self, kids: Vec<String>) -> Result<Vec<String>>;
}

/// Recover a poisoned lock: the maps below are never left half-updated, so the data is sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parse a DID document given by the host.
pub(crate) fn parse_document(json: &str, what: &str) -> Result<DidDocument> {
    DidDocument::from_json(json).map_err(|e| DidCommError::from(e.context(what)))
}

/// Parse a secret given by the host; serde's own messages could quote key material.
pub(crate) fn parse_secret(json: &str) -> Result<Secret> {
    let secret: Secret = serde_json::from_str(json).map_err(|e| json_error("a secret", &e))?;
    // Every key must parse now, not at first use (and the store never holds junk).
    secret.key_pair()?;
    Ok(secret)
}

/// The core's resolver trait over a host resolver.
pub(crate) struct HostResolver(pub(crate) Arc<dyn DidResolver>);

#[async_trait]
impl didcomm_edge::DidResolver for HostResolver {
    async fn resolve(&self, did: &str) -> didcomm_edge::Result<Option<DidDocument>> {
        let Some(json) = self.0.resolve(did.to_owned())? else {
            return Ok(None);
        };
        let what = format!("the host resolver's document for {did}");
        Ok(Some(parse_document(&json, &what)?))
    }
}

/// The core's secrets trait over a host store.
pub(crate) struct HostSecrets(pub(crate) Arc<dyn SecretsStore>);

#[async_trait]
impl didcomm_edge::SecretsResolver for HostSecrets {
    async fn get_secret(&self, kid: &str) -> didcomm_edge::Result<Option<Secret>> {
        let Some(json) = self.0.get_secret(kid.to_owned())? else {
            return Ok(None);
        };
        let secret = parse_secret(&json)
            .map_err(|e| DidCommError::from(didcomm_edge::Error::from(e).context(kid)))?;
        if secret.kid != kid {
            return Err(DidCommError::malformed(format!(
                "the secrets store answered {kid} with the secret of {}",
                secret.kid
            ))
            .into());
        }
        Ok(Some(secret))
    }

    async fn find_secrets(&self, kids: &[String]) -> didcomm_edge::Result<Vec<String>> {
        let found = self.0.find_secrets(kids.to_vec())?;
        // Only what was asked, in the order asked, whatever the host returned.
        Ok(kids.iter().filter(|k| found.contains(k)).cloned().collect())
    }
}

/// DID documents kept in memory (pinned peers, test parties, a wallet's documents). Changes are
/// seen by engines already using it (after `DidComm.invalidateDid` for a cached DID).
#[derive(Debug, Default, uniffi::Object)]
pub struct InMemoryDidResolver {
    docs: Mutex<HashMap<String, DidDocument>>,
}

impl InMemoryDidResolver {
    pub(crate) fn from_documents(docs: impl IntoIterator<Item = DidDocument>) -> Self {
        InMemoryDidResolver {
            docs: Mutex::new(docs.into_iter().map(|d| (d.id.clone(), d)).collect()),
        }
    }

    pub(crate) fn documents(&self) -> Vec<DidDocument> {
        let mut docs: Vec<DidDocument> = lock(&self.docs).values().cloned().collect();
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        docs
    }

    pub(crate) fn insert(&self, doc: DidDocument) {
        lock(&self.docs).insert(doc.id.clone(), doc);
    }
}

#[uniffi::export]
impl InMemoryDidResolver {
    /// A resolver knowing `documents` (DID documents as JSON text).
    #[uniffi::constructor(default(documents = []))]
    pub fn new(documents: Vec<String>) -> Result<Arc<Self>> {
        let docs = documents
            .iter()
            .enumerate()
            .map(|(i, json)| parse_document(json, &format!("documents[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(InMemoryDidResolver::from_documents(docs)))
    }

    /// Add or replace a document (keyed by its `id`).
    pub fn add(&self, document: String) -> Result<()> {
        self.insert(parse_document(&document, "the document")?);
        Ok(())
    }

    /// Remove a document; true if it was there.
    pub fn remove(&self, did: String) -> bool {
        lock(&self.docs).remove(&did).is_some()
    }

    /// The DIDs known, sorted.
    pub fn dids(&self) -> Vec<String> {
        let mut dids: Vec<String> = lock(&self.docs).keys().cloned().collect();
        dids.sort();
        dids
    }
}

#[uniffi::export]
impl DidResolver for InMemoryDidResolver {
    fn resolve(&self, did: String) -> Result<Option<String>> {
        lock(&self.docs)
            .get(&did)
            .map(|doc| to_json(doc, "a DID document"))
            .transpose()
    }
}

#[async_trait]
impl didcomm_edge::DidResolver for InMemoryDidResolver {
    async fn resolve(&self, did: &str) -> didcomm_edge::Result<Option<DidDocument>> {
        Ok(lock(&self.docs).get(did).cloned())
    }
}

/// Secrets kept in memory, keyed by `kid`. Changes are seen by engines already using it (after
/// `DidComm.forgetSecret` for a key the engine has used).
#[derive(Default, uniffi::Object)]
pub struct InMemorySecretsStore {
    secrets: Mutex<HashMap<String, Secret>>,
}

impl std::fmt::Debug for InMemorySecretsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemorySecretsStore")
            .field("kids", &lock(&self.secrets).len())
            .finish()
    }
}

impl InMemorySecretsStore {
    pub(crate) fn from_secrets(secrets: impl IntoIterator<Item = Secret>) -> Self {
        InMemorySecretsStore {
            secrets: Mutex::new(secrets.into_iter().map(|s| (s.kid.clone(), s)).collect()),
        }
    }

    pub(crate) fn secrets(&self) -> Vec<Secret> {
        let mut secrets: Vec<Secret> = lock(&self.secrets).values().cloned().collect();
        secrets.sort_by(|a, b| a.kid.cmp(&b.kid));
        secrets
    }

    pub(crate) fn insert(&self, secret: Secret) {
        lock(&self.secrets).insert(secret.kid.clone(), secret);
    }
}

#[uniffi::export]
impl InMemorySecretsStore {
    /// A store holding `secrets` (JSON text each); every key is checked now.
    #[uniffi::constructor(default(secrets = []))]
    pub fn new(secrets: Vec<String>) -> Result<Arc<Self>> {
        let parsed = secrets
            .iter()
            .map(|json| parse_secret(json))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(InMemorySecretsStore::from_secrets(parsed)))
    }

    /// Add or replace a secret.
    pub fn add(&self, secret: String) -> Result<()> {
        self.insert(parse_secret(&secret)?);
        Ok(())
    }

    /// Remove a secret; true if it was there.
    pub fn remove(&self, kid: String) -> bool {
        lock(&self.secrets).remove(&kid).is_some()
    }

    /// The key ids held, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = lock(&self.secrets).keys().cloned().collect();
        kids.sort();
        kids
    }
}

#[uniffi::export]
impl SecretsStore for InMemorySecretsStore {
    fn get_secret(&self, kid: String) -> Result<Option<String>> {
        lock(&self.secrets)
            .get(&kid)
            .map(|secret| to_json(secret, "a secret"))
            .transpose()
    }

    fn find_secrets(&self, kids: Vec<String>) -> Result<Vec<String>> {
        let held = lock(&self.secrets);
        Ok(kids.into_iter().filter(|k| held.contains_key(k)).collect())
    }
}

#[async_trait]
impl didcomm_edge::SecretsResolver for InMemorySecretsStore {
    async fn get_secret(&self, kid: &str) -> didcomm_edge::Result<Option<Secret>> {
        Ok(lock(&self.secrets).get(kid).cloned())
    }

    async fn find_secrets(&self, kids: &[String]) -> didcomm_edge::Result<Vec<String>> {
        let held = lock(&self.secrets);
        Ok(kids
            .iter()
            .filter(|k| held.contains_key(k.as_str()))
            .cloned()
            .collect())
    }
}

/// DID resolution as engines use it: `pinned` first (documents the app holds, which win over
/// what a method would derive), then the built-in methods (did:key, did:peer 0/2/3/4, did:jwk,
/// and did:web over HTTPS unless `did_web` is false), then `host` for every other method.
#[derive(uniffi::Object)]
pub struct ResolverChain {
    pub(crate) inner: Arc<dyn didcomm_edge::DidResolver>,
}

impl std::fmt::Debug for ResolverChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverChain").finish_non_exhaustive()
    }
}

/// A host (or in-memory) resolver given through the FFI, as the core sees it.
fn core_resolver(resolver: Arc<dyn DidResolver>) -> Arc<dyn didcomm_edge::DidResolver> {
    Arc::new(HostResolver(resolver))
}

impl ResolverChain {
    /// A chain over resolvers already on the Rust side (no FFI hop per lookup).
    pub(crate) fn over(
        pinned: Option<Arc<dyn didcomm_edge::DidResolver>>,
        host: Option<Arc<dyn didcomm_edge::DidResolver>>,
        did_web: bool,
    ) -> ResolverChain {
        // As before, a client that cannot be built (no TLS) leaves did:web to `host` rather
        // than failing the constructor, which the bindings expose as infallible.
        let web = did_web
            .then(didcomm_edge_web::resolver)
            .and_then(|r| r.ok());
        let mut chain = match web {
            Some(web) => didcomm_edge::ResolverChain::new().with_web(web),
            None => didcomm_edge::ResolverChain::new().without_web(),
        };
        if let Some(pinned) = pinned {
            chain = chain.with_pinned(pinned);
        }
        if let Some(host) = host {
            chain = chain.with_host(host);
        }
        ResolverChain {
            inner: Arc::new(chain),
        }
    }
}

#[uniffi::export]
impl ResolverChain {
    /// The built-in methods, with optional `pinned` and `host` resolvers.
    #[uniffi::constructor(default(pinned = None, host = None, did_web = true))]
    pub fn new(
        pinned: Option<Arc<dyn DidResolver>>,
        host: Option<Arc<dyn DidResolver>>,
        did_web: bool,
    ) -> Arc<Self> {
        Arc::new(ResolverChain::over(
            pinned.map(core_resolver),
            host.map(core_resolver),
            did_web,
        ))
    }
}
