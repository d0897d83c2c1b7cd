//! [`ResolverChain`]: the built-in DID methods, then the host's resolver for the rest.
//!
//! The chain keeps no document cache of its own: the engine ([`crate::DidComm`]) caches parsed
//! documents and keys per DID, for as long as [`DidResolver::cache_policy`] allows (forever for
//! did:key, did:peer and did:jwk, whose documents are the DID itself; the did:web time to live
//! for did:web). What the chain does remember is the long forms of peer DIDs it has seen, because
//! a did:peer:3 or a short did:peer:4 can only be resolved through its long form.

use crate::prelude::*;

use alloc::sync::Arc;

use async_trait::async_trait;

use super::doc::DidDocument;
use super::methods::peer::{self, PeerForm};
use super::methods::web::{self, WebResolver};
use super::methods::{self, jwk, key, DidKeyFormat};
use super::resolver::{CachePolicy, DidResolver};
use crate::cache::BoundedCache;
use crate::error::{Error, Result};

/// How many peer DID long forms the chain remembers by default.
pub const DEFAULT_PEER_MEMORY: usize = 4096;

enum Web {
    /// A resolver with the host's HTTP client or settings.
    Custom(WebResolver),
    /// None given (the default: the core opens no connection): did:web goes to the host
    /// resolver, and without one is an error that says what is missing.
    Unset,
    /// Left to the host resolver on purpose ([`ResolverChain::without_web`]): without one,
    /// did:web DIDs are simply not resolved.
    Disabled,
}

/// Resolves did:key, did:peer (0, 2, 3, 4) and did:jwk itself, did:web through the
/// [`WebResolver`] given with [`ResolverChain::with_web`], asks an optional
/// *pinned* resolver first (documents the host holds, such as a wallet's) and an optional *host*
/// resolver for every other method.
pub struct ResolverChain {
    pinned: Option<Arc<dyn DidResolver>>,
    host: Option<Arc<dyn DidResolver>>,
    web: Web,
    key_format: DidKeyFormat,
    /// did:peer:3 and short did:peer:4 -> their long form.
    long_forms: BoundedCache<String, String>,
}

impl core::fmt::Debug for ResolverChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResolverChain")
            .field("pinned", &self.pinned.is_some())
            .field("host", &self.host.is_some())
            .field("key_format", &self.key_format)
            .finish_non_exhaustive()
    }
}

impl Default for ResolverChain {
    fn default() -> Self {
        Self::new()
    }
}

impl ResolverChain {
    /// The built-in methods alone; it opens no connection. did:web goes to the host resolver
    /// until one is given with [`ResolverChain::with_web`] (natively
    /// `didcomm_edge_web::resolver()`; on wasm a `fetch`-backed [`web::HttpClient`]), and with
    /// neither fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    pub fn new() -> ResolverChain {
        ResolverChain {
            pinned: None,
            host: None,
            web: Web::Unset,
            key_format: DidKeyFormat::default(),
            long_forms: BoundedCache::new(DEFAULT_PEER_MEMORY),
        }
    }

    /// Ask `resolver` first, for every DID (a wallet's documents: they win over what the
    /// built-in methods would derive, so identities written by other libraries keep their ids).
    #[must_use]
    pub fn with_pinned(mut self, resolver: Arc<dyn DidResolver>) -> Self {
        self.pinned = Some(resolver);
        self
    }

    /// Ask `resolver` for the methods the chain does not implement (and for did:web when no
    /// [`WebResolver`] is given).
    #[must_use]
    pub fn with_host(mut self, resolver: Arc<dyn DidResolver>) -> Self {
        self.host = Some(resolver);
        self
    }

    /// Resolve did:web with `web` (the host's HTTP client, a time to live, loopback HTTP).
    #[must_use]
    pub fn with_web(mut self, web: WebResolver) -> Self {
        self.web = Web::Custom(web);
        self
    }

    /// Leave did:web to the host resolver on purpose: without one, did:web DIDs are not
    /// resolved (`Ok(None)`) rather than refused as a missing [`WebResolver`].
    #[must_use]
    pub fn without_web(mut self) -> Self {
        self.web = Web::Disabled;
        self
    }

    /// How did:key and did:peer:0 documents write their keys (default `Multikey`).
    #[must_use]
    pub fn with_did_key_format(mut self, format: DidKeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// How many peer DID long forms to remember (0: none, so did:peer:3 and short did:peer:4
    /// go to the host resolver).
    #[must_use]
    pub fn with_peer_memory(mut self, capacity: usize) -> Self {
        self.long_forms = BoundedCache::new(capacity);
        self
    }

    /// Remember a did:peer:2 or long form did:peer:4 (checked), so its short form resolves.
    /// Resolving a long form remembers it too.
    pub fn remember_peer_did(&self, long: &str) -> Result<()> {
        match peer::peer_form(long)? {
            PeerForm::Numalgo2 => {
                peer::resolve_peer2(long)?;
                self.long_forms
                    .insert(peer::peer2_to_peer3(long)?, long.to_owned(), None);
            }
            PeerForm::Numalgo4Long => {
                peer::resolve_peer4(long)?;
                self.long_forms
                    .insert(peer::peer4_short_form(long)?, long.to_owned(), None);
            }
            _ => {
                return Err(Error::illegal_argument(
                    "only did:peer:2 and long form did:peer:4 DIDs can be remembered",
                ))
            }
        }
        Ok(())
    }

    fn web(&self) -> Option<&WebResolver> {
        match &self.web {
            Web::Custom(web) => Some(web),
            Web::Unset | Web::Disabled => None,
        }
    }

    async fn ask_host(&self, did: &str) -> Result<Option<DidDocument>> {
        match &self.host {
            Some(host) => host.resolve(did).await,
            None => Ok(None),
        }
    }

    async fn resolve_peer(&self, did: &str) -> Result<Option<DidDocument>> {
        match peer::peer_form(did)? {
            PeerForm::Numalgo0 => peer::resolve_peer0(did, self.key_format).map(Some),
            PeerForm::Numalgo2 => {
                let doc = peer::resolve_peer2(did)?;
                if let Some(peer3) = doc.also_known_as.first() {
                    self.long_forms.insert(peer3.clone(), did.to_owned(), None);
                }
                Ok(Some(doc))
            }
            PeerForm::Numalgo4Long => {
                let doc = peer::resolve_peer4(did)?;
                self.long_forms
                    .insert(peer::peer4_short_form(did)?, did.to_owned(), None);
                Ok(Some(doc))
            }
            PeerForm::Numalgo3 => match self.long_forms.get(did) {
                Some(long) => peer::resolve_peer3(did, &long).map(Some),
                None => self.ask_host(did).await,
            },
            PeerForm::Numalgo4Short => {
                peer::check_peer4_short(did)?;
                match self.long_forms.get(did) {
                    Some(long) => peer::resolve_peer4_short(did, &long).map(Some),
                    None => self.ask_host(did).await,
                }
            }
            PeerForm::Numalgo1 => match &self.host {
                Some(host) => host.resolve(did).await,
                None => Err(Error::unsupported(
                    "did:peer:1 documents are not in the DID: supply a host resolver",
                )),
            },
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
impl DidResolver for ResolverChain {
    async fn resolve(&self, did: &str) -> Result<Option<DidDocument>> {
        crate::did::check_did_len(did, "DID")?;
        if let Some(pinned) = &self.pinned {
            if let Some(doc) = pinned.resolve(did).await? {
                if matches!(
                    peer::peer_form(did),
                    Ok(PeerForm::Numalgo2 | PeerForm::Numalgo4Long)
                ) {
                    // Best effort: a pinned document under a malformed peer DID is the host's
                    // business, not a reason to refuse it.
                    let _ = self.remember_peer_did(did);
                }
                return Ok(Some(doc));
            }
        }
        match methods::method_of(did) {
            Some("key") => key::resolve(did, self.key_format).map(Some),
            Some("jwk") => jwk::resolve(did).map(Some),
            Some("peer") => self.resolve_peer(did).await,
            Some("web") => match (&self.web, &self.host) {
                (Web::Custom(web), _) => web.resolve(did).await,
                (Web::Unset | Web::Disabled, Some(host)) => host.resolve(did).await,
                (Web::Disabled, None) => Ok(None),
                (Web::Unset, None) => {
                    // A malformed DID is reported as such, whether or not it could be fetched.
                    web::document_url(did, false)?;
                    Err(Error::unsupported(
                        "did:web needs a WebResolver: give one with ResolverChain::with_web \
                         (didcomm_edge_web::resolver() natively) or supply a host resolver",
                    ))
                }
            },
            _ => self.ask_host(did).await,
        }
    }

    fn cache_policy(&self, did: &str) -> CachePolicy {
        let web = match methods::method_of(did) {
            Some("key" | "jwk" | "peer") => return CachePolicy::Immutable,
            Some("web") => self.web(),
            _ => None,
        };
        match (web, &self.host) {
            (Some(web), _) => CachePolicy::Ttl(web.ttl()),
            (None, Some(host)) => host.cache_policy(did),
            (None, None) => CachePolicy::Default,
        }
    }
}
