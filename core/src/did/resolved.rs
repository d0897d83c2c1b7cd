//! A DID document with its keys parsed once, ready for the envelope engine.

use crate::prelude::*;

use crate::sync::OnceLock;
use alloc::collections::BTreeMap;

use super::doc::{absolute_id, DidDocument, VerificationMethod, VerificationRelationship};
use crate::crypto::PublicKey;
use crate::error::{excerpt, Error, ErrorKind, Result};

/// A verification relationship of a DID document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relationship {
    /// `authentication` (DIDComm signatures).
    Authentication,
    /// `assertionMethod`.
    AssertionMethod,
    /// `keyAgreement` (DIDComm encryption).
    KeyAgreement,
    /// `capabilityInvocation`.
    CapabilityInvocation,
    /// `capabilityDelegation`.
    CapabilityDelegation,
}

impl Relationship {
    fn name(self) -> &'static str {
        match self {
            Relationship::Authentication => "authentication",
            Relationship::AssertionMethod => "assertionMethod",
            Relationship::KeyAgreement => "keyAgreement",
            Relationship::CapabilityInvocation => "capabilityInvocation",
            Relationship::CapabilityDelegation => "capabilityDelegation",
        }
    }
}

/// A verification method whose key is parsed on first use, then kept.
#[derive(Debug)]
struct LazyKey {
    method: VerificationMethod,
    parsed: OnceLock<Result<PublicKey>>,
}

impl LazyKey {
    fn new(method: VerificationMethod) -> Self {
        LazyKey {
            method,
            parsed: OnceLock::new(),
        }
    }

    fn get(&self) -> &Result<PublicKey> {
        self.parsed.get_or_init(|| self.method.public_key())
    }
}

/// A resolved DID: its document and its keys, each parsed and validated once, on first use.
///
/// A method whose key cannot be parsed does not make the whole document unusable: the error is
/// kept and reported only when that key is used.
#[derive(Debug)]
pub struct ResolvedDid {
    document: DidDocument,
    keys: BTreeMap<String, LazyKey>,
    relationships: [Vec<String>; 5],
    /// Other ids of the same methods (legacy did:peer key ids) -> the document's ids.
    aliases: BTreeMap<String, String>,
}

impl ResolvedDid {
    /// Index the verification methods of `document` (keys are parsed when first used).
    pub fn new(document: DidDocument) -> ResolvedDid {
        let doc_id = document.id.clone();
        let mut keys = BTreeMap::new();
        for vm in &document.verification_method {
            keys.insert(absolute_id(&doc_id, &vm.id), LazyKey::new(vm.clone()));
        }
        // Pre-DID-Core documents (DIDComm v1 era, some did:peer:4 inputs) list their keys
        // under `publicKey`.
        if let Some(serde_json::Value::Array(legacy)) = document.extra.get("publicKey") {
            for value in legacy {
                if let Ok(vm) = serde_json::from_value::<VerificationMethod>(value.clone()) {
                    let id = absolute_id(&doc_id, &vm.id);
                    keys.entry(id).or_insert_with(|| LazyKey::new(vm));
                }
            }
        }
        let mut collect = |entries: &[VerificationRelationship]| -> Vec<String> {
            entries
                .iter()
                .map(|entry| {
                    let id = absolute_id(&doc_id, entry.id());
                    if let VerificationRelationship::Embedded(vm) = entry {
                        keys.entry(id.clone())
                            .or_insert_with(|| LazyKey::new(vm.clone()));
                    }
                    id
                })
                .collect()
        };
        let relationships = [
            collect(&document.authentication),
            collect(&document.assertion_method),
            collect(&document.key_agreement),
            collect(&document.capability_invocation),
            collect(&document.capability_delegation),
        ];
        let aliases = legacy_peer_aliases(&document, &keys);
        ResolvedDid {
            document,
            keys,
            relationships,
            aliases,
        }
    }

    /// The document's own id for `kid` (itself, or the method a legacy alias names).
    fn canonical<'a>(&'a self, kid: &'a str) -> &'a str {
        if self.keys.contains_key(kid) {
            return kid;
        }
        self.aliases.get(kid).map_or(kid, String::as_str)
    }

    /// The DID.
    pub fn did(&self) -> &str {
        &self.document.id
    }

    /// The document as resolved.
    pub fn document(&self) -> &DidDocument {
        &self.document
    }

    /// The absolute ids listed under a relationship, in document order (dangling references
    /// included; [`ResolvedDid::key_in`] reports them).
    pub fn kids(&self, relationship: Relationship) -> &[String] {
        let i = match relationship {
            Relationship::Authentication => 0,
            Relationship::AssertionMethod => 1,
            Relationship::KeyAgreement => 2,
            Relationship::CapabilityInvocation => 3,
            Relationship::CapabilityDelegation => 4,
        };
        self.relationships
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The document's own id of the method `kid` names: `kid` itself, or the method a legacy
    /// did:peer key id (`#6LS...`) stands for; `None` if no method has that id.
    pub fn canonical_kid<'a>(&'a self, kid: &'a str) -> Option<&'a str> {
        let canonical = self.canonical(kid);
        self.keys.contains_key(canonical).then_some(canonical)
    }

    /// The key of a verification method, whatever relationships it is in.
    pub fn key(&self, kid: &str) -> Result<&PublicKey> {
        match self.keys.get(self.canonical(kid)).map(LazyKey::get) {
            Some(Ok(key)) => Ok(key),
            Some(Err(e)) => Err(e.clone().context(format!("key {}", excerpt(kid)))),
            None => Err(Error::new(
                ErrorKind::DidUrlNotFound,
                format!(
                    "{} is not a verification method of {}",
                    excerpt(kid),
                    excerpt(self.did())
                ),
            )),
        }
    }

    /// The key of a verification method that must be authorized for `relationship`.
    pub fn key_in(&self, kid: &str, relationship: Relationship) -> Result<&PublicKey> {
        let canonical = self.canonical(kid);
        if !self.kids(relationship).iter().any(|k| k == canonical) {
            return Err(Error::new(
                ErrorKind::DidUrlNotFound,
                format!(
                    "{} is not in the {} of {}",
                    excerpt(kid),
                    relationship.name(),
                    excerpt(self.did())
                ),
            ));
        }
        self.key(kid)
    }

    /// Usable keys of a relationship, in document order, skipping dangling references and
    /// keys that do not parse.
    pub fn usable_keys(
        &self,
        relationship: Relationship,
    ) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.kids(relationship).iter().filter_map(|kid| {
            match self.keys.get(kid).map(LazyKey::get) {
                Some(Ok(key)) => Some((kid.as_str(), key)),
                _ => None,
            }
        })
    }
}

/// did:peer resolvers of other libraries name keys by their multibase value instead of
/// `#key-N`: with the `z` (`#z6LS...`), without it (`#6LS...`, sicpa peer-did 0.2-0.4) or by its
/// first 8 characters (`#6LSbysY2`, peerdid 0.5). For peer DIDs, those ids find the same keys,
/// so messages whose `kid`s were written that way still verify and decrypt. An alias never
/// shadows an id of the document.
fn legacy_peer_aliases(
    document: &DidDocument,
    keys: &BTreeMap<String, LazyKey>,
) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    if !document.id.starts_with("did:peer:") {
        return aliases;
    }
    for vm in &document.verification_method {
        let Some(multibase) = vm.public_key_multibase.as_deref() else {
            continue;
        };
        let Some(bare) = multibase.strip_prefix('z') else {
            continue;
        };
        let canonical = absolute_id(&document.id, &vm.id);
        for fragment in [multibase, bare, bare.get(..8).unwrap_or(bare)] {
            let alias = format!("{}#{fragment}", document.id);
            if !keys.contains_key(&alias) {
                aliases.entry(alias).or_insert_with(|| canonical.clone());
            }
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_ids_references_and_embedded_methods() {
        let doc = DidDocument::from_value(json!({
            "id": "did:example:a",
            "verificationMethod": [{
                "id": "#k1", "type": "JsonWebKey2020", "controller": "did:example:a",
                "publicKeyJwk": {"kty": "OKP", "crv": "X25519", "x": "avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs"}
            }, {
                "id": "#broken", "type": "JsonWebKey2020", "controller": "did:example:a",
                "publicKeyJwk": {"kty": "OKP", "crv": "X25519", "x": "AAAA"}
            }],
            "keyAgreement": ["#k1", "#dangling", "did:example:a#broken", {
                "id": "did:example:a#k2", "type": "X25519KeyAgreementKey2019", "controller": "did:example:a",
                "publicKeyBase58": "9hFgmPVfmBZwRvFEyniQDBkz9LmV7gDEqytWyGZLmDXE"
            }],
            "authentication": [{
                "id": "#s1", "type": "Multikey", "controller": "did:example:a",
                "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
            }]
        }))
        .unwrap();
        let r = ResolvedDid::new(doc);
        let usable: Vec<_> = r
            .usable_keys(Relationship::KeyAgreement)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(usable, ["did:example:a#k1", "did:example:a#k2"]);
        assert_eq!(
            r.key_in("did:example:a#dangling", Relationship::KeyAgreement)
                .unwrap_err()
                .kind(),
            ErrorKind::DidUrlNotFound
        );
        assert_eq!(
            r.key("did:example:a#broken").unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert!(r
            .key_in("did:example:a#s1", Relationship::Authentication)
            .is_ok());
        assert_eq!(
            r.key_in("did:example:a#s1", Relationship::KeyAgreement)
                .unwrap_err()
                .kind(),
            ErrorKind::DidUrlNotFound
        );
    }
}
