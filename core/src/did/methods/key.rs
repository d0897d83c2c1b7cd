//! `did:key` (W3C CCG did-method-key): the DID is a multibase, multicodec public key and the
//! document is expanded from it, with no look-up.
//!
//! Ed25519 keys get the derived X25519 key as their `keyAgreement` method (the spec's
//! encryption key derivation); X25519 keys are key agreement only; NIST and secp256k1 keys
//! serve every relationship, as in the published test vectors.

use crate::prelude::*;

use serde_json::Value;

use crate::crypto::{multikey, KeyType, PublicKey};
use crate::did::doc::{DidDocument, VerificationMethod, VerificationRelationship};
use crate::error::{Error, Result};

/// The DID Core context, first in every generated document.
pub(crate) const DID_CONTEXT: &str = "https://www.w3.org/ns/did/v1";
/// The context of the `Multikey` verification method type.
pub(crate) const MULTIKEY_CONTEXT: &str = "https://w3id.org/security/multikey/v1";

/// How the verification methods of an expanded did:key document are written. All forms name
/// the same keys under the same ids; they differ in method type and key encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DidKeyFormat {
    /// `Multikey` with `publicKeyMultibase` (the current did:key and did:peer:2 form).
    #[default]
    Multikey,
    /// `JsonWebKey2020` with `publicKeyJwk`.
    JsonWebKey2020,
    /// `Ed25519VerificationKey2020` / `X25519KeyAgreementKey2020` with `publicKeyMultibase`
    /// (other curves fall back to `Multikey`).
    Suite2020,
    /// The 2018/2019 suites with `publicKeyBase58`: `Ed25519VerificationKey2018`,
    /// `X25519KeyAgreementKey2019`, `EcdsaSecp256k1VerificationKey2019`, `P256Key2021`, ...
    Legacy,
}

/// The did:key DID of a public key.
pub fn did_key_for(key: &PublicKey) -> String {
    format!("did:key:{}", multikey::public_key_to_multibase(key))
}

/// Decode the multibase key of a did:key / did:peer:0 identifier, refusing anything but the
/// canonical encoding (compressed points, exact lengths, minimal varint).
pub(crate) fn decode_canonical_multikey(multibase: &str) -> Result<PublicKey> {
    if !multibase.starts_with('z') {
        return Err(Error::malformed(
            "a did:key identifier must be base58btc multibase ('z')",
        ));
    }
    let key = multikey::public_key_from_multibase(multibase)?;
    if multikey::public_key_to_multibase(&key) != multibase {
        return Err(Error::malformed(format!(
            "the {} key is not in its canonical (compressed, exact length) encoding",
            key.key_type()
        )));
    }
    Ok(key)
}

/// Resolve a `did:key` DID to its document.
pub fn resolve(did: &str, format: DidKeyFormat) -> Result<DidDocument> {
    crate::did::check_did_len(did, "did:key DID")?;
    let multibase = did
        .strip_prefix("did:key:")
        .ok_or_else(|| Error::illegal_argument("not a did:key DID"))?;
    let key = decode_canonical_multikey(multibase)?;
    Ok(expand(did, &key, format))
}

/// The verification method type, key material and context of `key` in `format`.
fn method(
    id: String,
    controller: &str,
    key: &PublicKey,
    format: DidKeyFormat,
) -> (VerificationMethod, &'static str) {
    let key_type = key.key_type();
    let mut vm = VerificationMethod::multikey(id, controller, key);
    let mut context = MULTIKEY_CONTEXT;
    match format {
        DidKeyFormat::Multikey => {}
        DidKeyFormat::JsonWebKey2020 => {
            vm = VerificationMethod::json_web_key(vm.id, controller, key);
            context = "https://w3id.org/security/suites/jws-2020/v1";
        }
        DidKeyFormat::Suite2020 => match key_type {
            KeyType::Ed25519 => {
                vm.type_ = "Ed25519VerificationKey2020".into();
                context = "https://w3id.org/security/suites/ed25519-2020/v1";
            }
            KeyType::X25519 => {
                vm.type_ = "X25519KeyAgreementKey2020".into();
                context = "https://w3id.org/security/suites/x25519-2020/v1";
            }
            _ => {}
        },
        DidKeyFormat::Legacy => {
            let (type_, ctx) = match key_type {
                KeyType::Ed25519 => (
                    "Ed25519VerificationKey2018",
                    "https://w3id.org/security/suites/ed25519-2018/v1",
                ),
                KeyType::X25519 => (
                    "X25519KeyAgreementKey2019",
                    "https://w3id.org/security/suites/x25519-2019/v1",
                ),
                KeyType::Secp256k1 => (
                    "EcdsaSecp256k1VerificationKey2019",
                    "https://w3id.org/security/suites/secp256k1-2019/v1",
                ),
                KeyType::P256 => (
                    "P256Key2021",
                    "https://w3id.org/security/suites/multikey-2021/v1",
                ),
                KeyType::P384 => (
                    "P384Key2021",
                    "https://w3id.org/security/suites/multikey-2021/v1",
                ),
                KeyType::P521 => (
                    "P521Key2021",
                    "https://w3id.org/security/suites/multikey-2021/v1",
                ),
            };
            vm.type_ = type_.into();
            vm.public_key_multibase = None;
            vm.public_key_base58 = Some(bs58::encode(key.to_bytes()).into_string());
            context = ctx;
        }
    }
    (vm, context)
}

/// Expand `key` into the did:key-style document of `did` (also used for did:peer:0).
pub(crate) fn expand(did: &str, key: &PublicKey, format: DidKeyFormat) -> DidDocument {
    let mut doc = DidDocument::new(did);
    let mut contexts = vec![DID_CONTEXT];
    let mut add = |doc: &mut DidDocument, key: &PublicKey| -> String {
        let id = format!("{did}#{}", multikey::public_key_to_multibase(key));
        let (vm, context) = method(id.clone(), did, key, format);
        if !contexts.contains(&context) {
            contexts.push(context);
        }
        doc.verification_method.push(vm);
        id
    };
    let reference = |id: &str| VerificationRelationship::Reference(id.to_owned());
    if key.key_type() == KeyType::X25519 {
        let id = add(&mut doc, key);
        doc.key_agreement.push(reference(&id));
    } else {
        let id = add(&mut doc, key);
        doc.authentication.push(reference(&id));
        doc.assertion_method.push(reference(&id));
        doc.capability_invocation.push(reference(&id));
        doc.capability_delegation.push(reference(&id));
        let derived = match key.key_type() {
            KeyType::Ed25519 => key.ed25519_to_x25519().ok(),
            // NIST and secp256k1 keys agree with themselves.
            _ => None,
        };
        let agreement_id = match derived {
            Some(derived) => add(&mut doc, &derived),
            None => id,
        };
        doc.key_agreement.push(reference(&agreement_id));
    }
    doc.context = Some(Value::Array(
        contexts
            .into_iter()
            .map(|c| Value::String(c.into()))
            .collect(),
    ));
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn spec_example_expands() {
        let did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
        let doc = resolve(did, DidKeyFormat::Suite2020).unwrap();
        assert_eq!(doc.verification_method.len(), 2);
        assert_eq!(
            doc.key_agreement[0].id(),
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p"
        );
        assert_eq!(
            doc.verification_method[1].type_,
            "X25519KeyAgreementKey2020"
        );
    }

    #[test]
    fn bad_identifiers_are_typed_errors() {
        for (did, kind) in [
            ("did:key:", ErrorKind::Malformed),
            (
                "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
                ErrorKind::Malformed,
            ),
            ("did:key:z0OIl", ErrorKind::Malformed),
            ("did:key:zQ3s", ErrorKind::Unsupported),
            // A valid base58 string whose multicodec is not a key.
            ("did:key:z2222222222222222", ErrorKind::Unsupported),
        ] {
            let err = resolve(did, DidKeyFormat::Multikey).unwrap_err();
            assert_eq!(err.kind(), kind, "{did}: {err}");
        }
        // Ed25519 codec with 31 bytes; P-256 codec with an uncompressed point.
        let mut short = vec![0xed, 0x01];
        short.extend_from_slice(&[7u8; 31]);
        let did = format!("did:key:{}", multikey::encode_multibase(&short));
        assert_eq!(
            resolve(&did, DidKeyFormat::Multikey).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        let pair = crate::KeyPair::generate(KeyType::P256).unwrap();
        let (x, y) = pair.public().coordinates();
        let mut long = vec![0x80, 0x24, 0x04];
        long.extend(x);
        long.extend(y.unwrap());
        let did = format!("did:key:{}", multikey::encode_multibase(&long));
        assert_eq!(
            resolve(&did, DidKeyFormat::Multikey).unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }
}
