//! DID resolution as a host-implementable trait, with an in-memory implementation.

use crate::prelude::*;

use alloc::collections::BTreeMap;
use core::time::Duration;

use async_trait::async_trait;

use super::doc::DidDocument;
use crate::error::Result;
use crate::MaybeSendSync;

/// Resolves DIDs to DID documents.
///
/// Implement this to plug in any DID method or a host's own resolver (a phone app, a JS
/// object). Return `Ok(None)` when the DID does not exist; return an error of kind
/// [`crate::ErrorKind::ResolverFailure`] when resolution could not be attempted (network down).
#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
pub trait DidResolver: MaybeSendSync {
    /// Resolve `did` (a DID, not a DID URL).
    async fn resolve(&self, did: &str) -> Result<Option<DidDocument>>;

    /// How long the engine may keep the document of `did` in its cache. The default leaves it
    /// to the engine's configuration ([`crate::Config::did_cache_ttl`]).
    fn cache_policy(&self, _did: &str) -> CachePolicy {
        CachePolicy::Default
    }
}

/// How long a resolved DID document may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CachePolicy {
    /// Use the engine's configured time to live.
    Default,
    /// The document is derived from the DID itself (did:key, did:peer, did:jwk) and never
    /// changes: keep it until evicted.
    Immutable,
    /// Keep it at most this long (did:web).
    Ttl(Duration),
    /// Do not cache it.
    NoCache,
}

/// A resolver over a fixed set of documents (tests, wallets, pinned peers).
#[derive(Debug, Default, Clone)]
pub struct InMemoryDidResolver {
    docs: BTreeMap<String, DidDocument>,
}

impl InMemoryDidResolver {
    /// A resolver knowing exactly `docs`.
    pub fn new(docs: impl IntoIterator<Item = DidDocument>) -> Self {
        Self {
            docs: docs.into_iter().map(|d| (d.id.clone(), d)).collect(),
        }
    }

    /// Add or replace a document.
    pub fn insert(&mut self, doc: DidDocument) {
        self.docs.insert(doc.id.clone(), doc);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
impl DidResolver for InMemoryDidResolver {
    async fn resolve(&self, did: &str) -> Result<Option<DidDocument>> {
        Ok(self.docs.get(did).cloned())
    }
}
