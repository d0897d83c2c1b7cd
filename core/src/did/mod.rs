//! DIDs: the document model, parsed keys, resolution.

mod chain;
mod doc;
pub mod methods;
mod resolved;
mod resolver;

pub use chain::{ResolverChain, DEFAULT_PEER_MEMORY};
pub use doc::{
    absolute_id, DidCommEndpoint, DidDocument, Service, VerificationMethod,
    VerificationRelationship,
};
pub use methods::DidKeyFormat;
pub use resolved::{Relationship, ResolvedDid};
pub use resolver::{CachePolicy, DidResolver, InMemoryDidResolver};

/// The longest DID or DID URL (key id) we accept, in bytes. Every identifier an attacker can
/// put into a message (`skid`, a JWS `kid`, a recipient `kid`, a forward's `next`, `from_prior`
/// `iss`) is checked against it before anything is decoded or resolved. 8 KiB leaves room for
/// a long form did:peer:4 with several keys and services (the published examples are about
/// 1 KiB) while bounding the quadratic base58 decoding of its document.
pub const MAX_DID_LEN: usize = 8 * 1024;

/// Refuse a DID or DID URL longer than [`MAX_DID_LEN`] (kind [`crate::ErrorKind::TooLarge`]);
/// `what` names the field in the reason, which quotes only an [`crate::error::excerpt`].
pub fn check_did_len(value: &str, what: &str) -> crate::Result<()> {
    if value.len() > MAX_DID_LEN {
        return Err(crate::Error::new(
            crate::ErrorKind::TooLarge,
            format!(
                "{what} of {} bytes exceeds the limit of {MAX_DID_LEN} bytes ({})",
                value.len(),
                crate::error::excerpt(value)
            ),
        ));
    }
    Ok(())
}

/// The DID part of a DID or DID URL (everything before the first `/`, `?` or `#`).
pub fn did_of(did_or_url: &str) -> &str {
    let end = did_or_url.find(['/', '?', '#']).unwrap_or(did_or_url.len());
    did_or_url.get(..end).unwrap_or(did_or_url)
}

/// Whether `value` is a DID URL with a fragment (a key id) rather than a bare DID.
pub fn is_did_url_with_fragment(value: &str) -> bool {
    value.contains('#')
}

/// Whether `value` looks like a DID (`did:<method>:<id>`).
pub fn is_did(value: &str) -> bool {
    let mut parts = value.splitn(3, ':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("did"), Some(method), Some(id))
            if !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && !id.is_empty()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_parts() {
        assert_eq!(did_of("did:example:alice#key-1"), "did:example:alice");
        assert_eq!(did_of("did:example:alice"), "did:example:alice");
        assert_eq!(
            did_of("did:web:example.com/path?x#y"),
            "did:web:example.com"
        );
        assert!(is_did("did:peer:2.Ez6L"));
        assert!(!is_did("did::x"));
        assert!(!is_did("did:Ex:x"));
        assert!(!is_did("https://example.com"));
    }
}
