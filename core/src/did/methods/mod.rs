//! Built-in DID methods: `did:key`, `did:peer` (0, 2, 3, 4), `did:jwk` and `did:web`.
//!
//! Every method but did:web is pure computation on the DID string. [`super::ResolverChain`]
//! puts them together behind [`super::DidResolver`].

pub mod jwk;
pub mod key;
pub mod peer;
pub mod web;

pub use key::DidKeyFormat;

use super::doc::DidDocument;
use crate::error::Result;

/// The method name of a DID (`key` for `did:key:z...`), if it looks like one.
pub fn method_of(did: &str) -> Option<&str> {
    did.strip_prefix("did:")?.split(':').next()
}

/// Resolve a DID whose document the DID itself carries: did:key, did:jwk, did:peer:0, did:peer:2
/// and long form did:peer:4. `Ok(None)` for other methods and for forms that need earlier
/// knowledge (did:peer:3, short form did:peer:4); an error for a malformed DID.
pub fn resolve_self_contained(did: &str, format: DidKeyFormat) -> Result<Option<DidDocument>> {
    crate::did::check_did_len(did, "DID")?;
    match method_of(did) {
        Some("key") => key::resolve(did, format).map(Some),
        Some("jwk") => jwk::resolve(did).map(Some),
        Some("peer") => match peer::peer_form(did)? {
            peer::PeerForm::Numalgo0 => peer::resolve_peer0(did, format).map(Some),
            peer::PeerForm::Numalgo2 => peer::resolve_peer2(did).map(Some),
            peer::PeerForm::Numalgo4Long => peer::resolve_peer4(did).map(Some),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}
