//! New identities: fresh keys, their DID and document, and the secrets in wallet form, with key
//! ids that match the document's verification methods (so [`crate::DidComm`] packs and unpacks
//! with them as they are).

use crate::prelude::*;

use serde_json::{json, Value};

use crate::crypto::{multikey, KeyPair, KeyType};
use crate::did::methods::key::{self, DidKeyFormat, DID_CONTEXT, MULTIKEY_CONTEXT};
use crate::did::methods::peer::{self, Purpose};
use crate::did::DidDocument;
use crate::error::{Error, Result};
use crate::secrets::Secret;
use crate::wallet::Wallet;

/// A DIDComm v2 messaging service to publish in a new DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidCommService {
    /// Transport URI (`https://...`, `wss://...`) or the DID of a mediator.
    pub uri: String,
    /// Routing keys (DID URLs of the mediators' keys), outermost mediator last.
    pub routing_keys: Vec<String>,
    /// Accepted profiles; `didcomm/v2` by default.
    pub accept: Vec<String>,
}

impl DidCommService {
    /// A service at `uri` accepting `didcomm/v2`, without routing keys.
    pub fn new(uri: impl Into<String>) -> Self {
        DidCommService {
            uri: uri.into(),
            routing_keys: vec![],
            accept: vec!["didcomm/v2".into()],
        }
    }

    /// Set the routing keys.
    #[must_use]
    pub fn with_routing_keys(mut self, keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.routing_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The DID Core service object (DIDComm v2.1 form), without an id.
    fn to_value(&self) -> Value {
        json!({
            "type": "DIDCommMessaging",
            "serviceEndpoint": {
                "uri": self.uri,
                "accept": self.accept,
                "routingKeys": self.routing_keys,
            }
        })
    }

    fn check(&self) -> Result<()> {
        if self.uri.trim().is_empty() {
            return Err(Error::illegal_argument("the service URI is empty"));
        }
        if let Some(bad) = self
            .routing_keys
            .iter()
            .find(|k| !crate::did::is_did(crate::did::did_of(k)))
        {
            return Err(Error::illegal_argument(format!(
                "routing key '{bad}' is not a DID URL"
            )));
        }
        Ok(())
    }
}

/// Which DID method a new identity uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityMethod {
    /// `did:peer:2` with an Ed25519 signing key (`#key-1`) and an X25519 key agreement key
    /// (`#key-2`), and the service if any.
    Peer2,
    /// Long form `did:peer:4` with the same keys and service.
    Peer4,
    /// `did:key` for an Ed25519 key (key agreement through its derived X25519 key); no service.
    Key,
}

/// A generated identity: the DID, its resolved document, and its secrets.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The DID.
    pub did: String,
    /// Its document, as the built-in resolver derives it.
    pub document: DidDocument,
    /// The private keys, one per verification method, named by the methods' absolute ids.
    pub secrets: Vec<Secret>,
}

impl Identity {
    /// A new identity with fresh keys.
    pub fn generate(method: IdentityMethod, service: Option<&DidCommService>) -> Result<Identity> {
        Identity::generate_with_services(method, service.map_or(&[], core::slice::from_ref))
    }

    /// A new identity with fresh keys and `services` in its document, in that order (for
    /// example an HTTP and a WebSocket endpoint). Their ids are `#service`, `#service-1`, ...
    pub fn generate_with_services(
        method: IdentityMethod,
        services: &[DidCommService],
    ) -> Result<Identity> {
        match method {
            IdentityMethod::Peer2 | IdentityMethod::Peer4 => {
                let signing = KeyPair::generate(KeyType::Ed25519)?;
                let agreement = KeyPair::generate(KeyType::X25519)?;
                if method == IdentityMethod::Peer2 {
                    Identity::peer2_with_services(&signing, &agreement, services)
                } else {
                    Identity::peer4_with_services(&signing, &agreement, services)
                }
            }
            IdentityMethod::Key => {
                if !services.is_empty() {
                    return Err(Error::illegal_argument(
                        "a did:key cannot carry a service: use did:peer:2 or did:peer:4",
                    ));
                }
                Identity::did_key(KeyType::Ed25519)
            }
        }
    }

    /// A `did:key` identity for a fresh key of `key_type`.
    pub fn did_key(key_type: KeyType) -> Result<Identity> {
        Identity::did_key_from(&KeyPair::generate(key_type)?)
    }

    /// The `did:key` identity of an existing key pair (Ed25519 keys also get the secret of their
    /// derived X25519 key agreement key).
    pub fn did_key_from(pair: &KeyPair) -> Result<Identity> {
        let did = key::did_key_for(pair.public());
        let document = key::resolve(&did, DidKeyFormat::Multikey)?;
        let kid = |k: &KeyPair| format!("{did}#{}", multikey::public_key_to_multibase(k.public()));
        let mut secrets = vec![Secret::from_key_pair_jwk(kid(pair), pair)];
        if pair.key_type() == KeyType::Ed25519 {
            let derived = pair.ed25519_to_x25519()?;
            secrets.push(Secret::from_key_pair_jwk(kid(&derived), &derived));
        }
        Ok(Identity {
            did,
            document,
            secrets,
        })
    }

    /// The `did:peer:2` identity of an Ed25519 signing key and an X25519 agreement key.
    pub fn peer2_from_keys(
        signing: &KeyPair,
        agreement: &KeyPair,
        service: Option<&DidCommService>,
    ) -> Result<Identity> {
        let services = service.map_or(&[][..], core::slice::from_ref);
        Identity::peer2_with_services(signing, agreement, services)
    }

    fn peer2_with_services(
        signing: &KeyPair,
        agreement: &KeyPair,
        services: &[DidCommService],
    ) -> Result<Identity> {
        check_pair(signing, agreement)?;
        let services = services
            .iter()
            .map(|s| s.check().map(|()| s.to_value()))
            .collect::<Result<Vec<_>>>()?;
        let did = peer::encode_peer2(
            &[
                (Purpose::Verification, signing.public().clone()),
                (Purpose::Encryption, agreement.public().clone()),
            ],
            &services,
        )?;
        let document = peer::resolve_peer2(&did)?;
        Ok(Identity::with_key_ids(did, document, signing, agreement))
    }

    /// The long form `did:peer:4` identity of an Ed25519 signing key and an X25519 agreement key.
    pub fn peer4_from_keys(
        signing: &KeyPair,
        agreement: &KeyPair,
        service: Option<&DidCommService>,
    ) -> Result<Identity> {
        let services = service.map_or(&[][..], core::slice::from_ref);
        Identity::peer4_with_services(signing, agreement, services)
    }

    fn peer4_with_services(
        signing: &KeyPair,
        agreement: &KeyPair,
        services: &[DidCommService],
    ) -> Result<Identity> {
        check_pair(signing, agreement)?;
        let mut input = json!({
            "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
            "verificationMethod": [
                {"id": "#key-1", "type": "Multikey",
                 "publicKeyMultibase": multikey::public_key_to_multibase(signing.public())},
                {"id": "#key-2", "type": "Multikey",
                 "publicKeyMultibase": multikey::public_key_to_multibase(agreement.public())},
            ],
            "authentication": ["#key-1"],
            "assertionMethod": ["#key-1"],
            "keyAgreement": ["#key-2"],
        });
        if let (false, Some(map)) = (services.is_empty(), input.as_object_mut()) {
            let mut written = Vec::with_capacity(services.len());
            for (i, s) in services.iter().enumerate() {
                s.check()?;
                let mut service = s.to_value();
                if let Some(obj) = service.as_object_mut() {
                    // The ids did:peer:2 resolution gives its services, so both methods agree.
                    let id = if i == 0 {
                        "#service".to_owned()
                    } else {
                        format!("#service-{i}")
                    };
                    obj.insert("id".into(), id.into());
                }
                written.push(service);
            }
            map.insert("service".into(), Value::Array(written));
        }
        let did = peer::encode_peer4(&input)?;
        let document = peer::resolve_peer4(&did)?;
        Ok(Identity::with_key_ids(did, document, signing, agreement))
    }

    fn with_key_ids(
        did: String,
        document: DidDocument,
        signing: &KeyPair,
        agreement: &KeyPair,
    ) -> Identity {
        let secrets = vec![
            Secret::from_key_pair_jwk(format!("{did}#key-1"), signing),
            Secret::from_key_pair_jwk(format!("{did}#key-2"), agreement),
        ];
        Identity {
            did,
            document,
            secrets,
        }
    }

    /// For a long form did:peer:4 identity, the same identity under its short form (peers use
    /// it once they have seen the long form); `None` for other methods.
    pub fn peer4_short_form(&self) -> Result<Option<Identity>> {
        if !matches!(peer::peer_form(&self.did), Ok(peer::PeerForm::Numalgo4Long)) {
            return Ok(None);
        }
        let short = peer::peer4_short_form(&self.did)?;
        let document = peer::resolve_peer4_short(&short, &self.did)?;
        let secrets = self
            .secrets
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if let Some(fragment) = s.kid.strip_prefix(self.did.as_str()) {
                    s.kid = format!("{short}{fragment}");
                }
                s
            })
            .collect();
        Ok(Some(Identity {
            did: short,
            document,
            secrets,
        }))
    }

    /// The identity as a wallet file (a did:peer:4 identity brings its short form too).
    pub fn to_wallet(&self) -> Result<Wallet> {
        let mut wallet = Wallet {
            did_docs: vec![self.document.clone()],
            secrets: self.secrets.clone(),
        };
        if let Some(short) = self.peer4_short_form()? {
            wallet.did_docs.push(short.document);
            wallet.secrets.extend(short.secrets);
        }
        Ok(wallet)
    }
}

fn check_pair(signing: &KeyPair, agreement: &KeyPair) -> Result<()> {
    if signing.key_type() == KeyType::X25519 || !agreement.key_type().can_agree() {
        return Err(Error::illegal_argument(
            "the signing key must be able to sign and the agreement key to agree",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did::{Relationship, ResolvedDid};

    #[test]
    fn several_services_keep_their_order_and_ids() {
        let services = [
            DidCommService::new("https://m.example.com/didcomm"),
            DidCommService::new("wss://m.example.com/ws"),
        ];
        for method in [IdentityMethod::Peer2, IdentityMethod::Peer4] {
            let id = Identity::generate_with_services(method, &services).unwrap();
            let endpoints = id.document.didcomm_endpoints();
            let seen: Vec<(&str, &str)> = endpoints
                .iter()
                .map(|e| (e.service_id.as_str(), e.uri.as_str()))
                .collect();
            assert_eq!(
                seen,
                [
                    (
                        format!("{}#service", id.did).as_str(),
                        "https://m.example.com/didcomm"
                    ),
                    (
                        format!("{}#service-1", id.did).as_str(),
                        "wss://m.example.com/ws"
                    ),
                ],
                "{method:?}"
            );
        }
        assert!(Identity::generate_with_services(IdentityMethod::Key, &services).is_err());
        let empty = [DidCommService::new(" ")];
        assert!(Identity::generate_with_services(IdentityMethod::Peer2, &empty).is_err());
    }

    #[test]
    fn kids_match_the_documents() {
        let service = DidCommService::new("https://example.com/didcomm")
            .with_routing_keys(["did:example:mediator#key-1"]);
        for method in [
            IdentityMethod::Peer2,
            IdentityMethod::Peer4,
            IdentityMethod::Key,
        ] {
            let service = (method != IdentityMethod::Key).then_some(&service);
            let id = Identity::generate(method, service).unwrap();
            let wallet = id.to_wallet().unwrap();
            for doc in &wallet.did_docs {
                let resolved = ResolvedDid::new(doc.clone());
                for rel in [Relationship::Authentication, Relationship::KeyAgreement] {
                    let kids = resolved.kids(rel);
                    assert_eq!(kids.len(), 1, "{method:?} {rel:?}");
                    let secret = wallet.secrets.iter().find(|s| s.kid == kids[0]).unwrap();
                    assert_eq!(
                        secret.key_pair().unwrap().public(),
                        resolved.key(&kids[0]).unwrap()
                    );
                }
                if method != IdentityMethod::Key {
                    let endpoints = doc.didcomm_endpoints();
                    assert_eq!(endpoints[0].routing_keys, ["did:example:mediator#key-1"]);
                }
            }
            assert_eq!(
                wallet.did_docs.len(),
                if method == IdentityMethod::Peer4 {
                    2
                } else {
                    1
                }
            );
        }
        assert!(Identity::generate(IdentityMethod::Key, Some(&service)).is_err());
        let bad = DidCommService::new("https://x").with_routing_keys(["not a did"]);
        assert!(Identity::generate(IdentityMethod::Peer2, Some(&bad)).is_err());
    }
}
