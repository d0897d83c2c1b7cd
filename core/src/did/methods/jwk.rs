//! `did:jwk`: the DID is the base64url of a public JWK; the document has one verification
//! method, `#0`, of type `JsonWebKey2020`.
//!
//! Relationships follow the JWK's `use` (`sig`: no key agreement; `enc`: key agreement only)
//! and, when `use` is absent, what the key can do: X25519 keys only agree, Ed25519 keys only
//! sign, the Weierstrass curves do both.

use crate::prelude::*;

use serde_json::Value;

use crate::b64;
use crate::crypto::{jwk, KeyType, PublicKey};
use crate::did::doc::{DidDocument, VerificationMethod, VerificationRelationship};
use crate::error::{Error, Result};

use super::key::DID_CONTEXT;

/// The did:jwk DID of a public key.
pub fn did_jwk_for(key: &PublicKey) -> String {
    let jwk = jwk::public_key_to_jwk(key);
    format!("did:jwk:{}", b64::encode(jwk.to_string()))
}

/// Resolve a `did:jwk` DID to its document.
pub fn resolve(did: &str) -> Result<DidDocument> {
    crate::did::check_did_len(did, "did:jwk DID")?;
    let encoded = did
        .strip_prefix("did:jwk:")
        .ok_or_else(|| Error::illegal_argument("not a did:jwk DID"))?;
    let bytes = b64::decode(encoded, "did:jwk identifier")?;
    let jwk_value: Value = crate::message::json_from_slice(&bytes, "did:jwk key")?;
    let members = jwk_value
        .as_object()
        .ok_or_else(|| Error::malformed("did:jwk key is not a JSON object"))?;
    if members.contains_key("d") {
        return Err(Error::malformed("a did:jwk must not hold a private key"));
    }
    let key = jwk::public_key_from_jwk(&jwk_value)?;
    let (sign, agree) = match members.get("use").and_then(Value::as_str) {
        Some("sig") => (true, false),
        Some("enc") => (false, true),
        Some(other) => {
            return Err(Error::malformed(format!(
                "did:jwk key has an unknown 'use' value '{}'",
                crate::error::excerpt(other)
            )))
        }
        None => (
            key.key_type() != KeyType::X25519,
            key.key_type().can_agree(),
        ),
    };
    if (sign && key.key_type() == KeyType::X25519) || (agree && !key.key_type().can_agree()) {
        return Err(Error::malformed(format!(
            "a {} key cannot serve the purpose its 'use' declares",
            key.key_type()
        )));
    }
    let id = format!("{did}#0");
    let mut vm = VerificationMethod::json_web_key(id.clone(), did, &key);
    // The document carries the JWK as the DID encodes it (with `use`, `kid`, ...).
    vm.public_key_jwk = Some(jwk_value);
    let mut doc = DidDocument::new(did);
    doc.context = Some(Value::Array(vec![
        DID_CONTEXT.into(),
        "https://w3id.org/security/suites/jws-2020/v1".into(),
    ]));
    doc.verification_method.push(vm);
    let reference = || VerificationRelationship::Reference(id.clone());
    if sign {
        doc.assertion_method.push(reference());
        doc.authentication.push(reference());
        doc.capability_invocation.push(reference());
        doc.capability_delegation.push(reference());
    }
    if agree {
        doc.key_agreement.push(reference());
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, KeyPair};

    #[test]
    fn spec_examples() {
        // did:jwk spec, P-256 example: every relationship.
        let did = "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
        let doc = resolve(did).unwrap();
        assert_eq!(doc.verification_method[0].id, format!("{did}#0"));
        assert_eq!(doc.authentication.len(), 1);
        assert_eq!(doc.key_agreement.len(), 1);
        // X25519 example with "use": "enc": key agreement only.
        let did = "did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJYMjU1MTkiLCJ1c2UiOiJlbmMiLCJ4IjoiM3A3YmZYdDl3YlRUVzJIQzdPUTFOei1EUThoYmVHZE5yZngtRkctSUswOCJ9";
        let doc = resolve(did).unwrap();
        assert!(doc.authentication.is_empty());
        assert_eq!(doc.key_agreement.len(), 1);
        assert_eq!(
            doc.verification_method[0].public_key_jwk.as_ref().unwrap()["use"],
            "enc"
        );
    }

    #[test]
    fn round_trip_and_errors() {
        let pair = KeyPair::generate(KeyType::Ed25519).unwrap();
        let did = did_jwk_for(pair.public());
        let doc = resolve(&did).unwrap();
        assert_eq!(
            doc.verification_method[0].public_key().unwrap(),
            *pair.public()
        );
        assert!(doc.key_agreement.is_empty());
        for bad in [
            "did:jwk:",
            "did:jwk:e30",                // {}
            "did:jwk:eyJrdHkiOiJPS1AifQ", // {"kty":"OKP"}
            "did:jwk:!!!",
        ] {
            let err = resolve(bad).unwrap_err();
            assert_ne!(err.kind(), ErrorKind::InvalidState, "{bad}");
        }
        let with_d = serde_json::json!({"kty":"OKP","crv":"X25519","x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08","d":"AAAA"});
        let did = format!("did:jwk:{}", b64::encode(with_d.to_string()));
        assert_eq!(resolve(&did).unwrap_err().kind(), ErrorKind::Malformed);
    }
}
