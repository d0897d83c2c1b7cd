//! DID parsing and resolution of the built-in methods must never panic, whatever the bytes: as
//! a DID, as the tail of a did:peer:2 / did:peer:4 / did:key / did:jwk / did:web DID, and as a
//! DID document.
#![no_main]

use didcomm_edge::did::methods::{peer, resolve_self_contained, web, DidKeyFormat};
use didcomm_edge::did::{DidDocument, ResolvedDid};
use libfuzzer_sys::fuzz_target;

fn exercise(did: &str) {
    for format in [DidKeyFormat::Multikey, DidKeyFormat::JsonWebKey2020, DidKeyFormat::Legacy] {
        if let Ok(Some(doc)) = resolve_self_contained(did, format) {
            // What resolves is a document for that DID, whose keys parse or fail cleanly.
            assert_eq!(doc.id, did);
            let resolved = ResolvedDid::new(doc.clone());
            for vm in &doc.verification_method {
                let _ = resolved.key(&didcomm_edge::did::absolute_id(did, &vm.id));
            }
            let _ = doc.didcomm_endpoints();
            let _ = doc.to_value();
        }
    }
    if did.starts_with("did:peer:2") {
        let _ = peer::peer2_to_peer3(did);
    }
    if did.starts_with("did:peer:4") {
        if let Ok(short) = peer::peer4_short_form(did) {
            let _ = peer::resolve_peer4_short(&short, did);
        }
    }
    let _ = web::document_url(did, true);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    exercise(text);
    // The first byte picks a method prefix, so the fuzzer spends its time past the prefix.
    if let Some((first, rest)) = text.split_at_checked(1) {
        let prefix = match first.as_bytes().first().map(|b| b % 8) {
            Some(0) => "did:peer:2.",
            Some(1) => "did:peer:2.V",
            Some(2) => "did:peer:2.S",
            Some(3) => "did:peer:4zQm",
            Some(4) => "did:key:z",
            Some(5) => "did:jwk:",
            Some(6) => "did:web:",
            _ => "did:peer:0z",
        };
        exercise(&format!("{prefix}{rest}"));
    }
    if let Ok(doc) = DidDocument::from_json(text) {
        let resolved = ResolvedDid::new(doc.clone());
        let _ = resolved.usable_keys(didcomm_edge::did::Relationship::KeyAgreement).count();
        let _ = doc.didcomm_endpoints();
    }
    let _ = peer::encode_peer4_json(text);
});
