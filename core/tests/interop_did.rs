#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Interop with the reference `didcomm` crate (0.4.1) on generated did:peer:2, did:peer:4 and
//! did:key identities: its resolver is fed the documents our [`ResolverChain`] resolves
//! (converted to its `DIDDoc`), and messages go both ways.

use std::sync::Arc;

use async_trait::async_trait;
use didcomm_edge::crypto::jwk;
use didcomm_edge::did::{DidResolver, Relationship};
use didcomm_edge::{
    DidComm, DidCommService, Identity, IdentityMethod, InMemorySecrets, Message,
    PackEncryptedOptions, ResolvedDid, ResolverChain, Secret, SecretMaterial, UnpackOptions,
};
use didcomm_reference as reference;
use reference::did::{
    DIDCommMessagingService, DIDDoc, Service, ServiceKind, VerificationMaterial,
    VerificationMethod, VerificationMethodType,
};
use reference::secrets::resolvers::ExampleSecretsResolver;
use serde_json::json;

/// Our resolution, in the reference crate's document type. `legacy_ids` renames each key as
/// peer-did libraries of the sicpa family did (`#` + multibase without `z`), so the reference
/// side addresses our keys by those ids.
struct OurResolution {
    chain: ResolverChain,
    legacy_ids: bool,
}

fn to_reference(resolved: &ResolvedDid, legacy_ids: bool) -> DIDDoc {
    let did = resolved.did().to_owned();
    let rename = |kid: &str| -> String {
        if !legacy_ids {
            return kid.to_owned();
        }
        let key = resolved.key(kid).unwrap();
        let mb = didcomm_edge::crypto::multikey::public_key_to_multibase(key);
        format!("{did}#{}", &mb[1..])
    };
    let mut methods = vec![];
    let mut ids = |rel: Relationship| -> Vec<String> {
        resolved
            .usable_keys(rel)
            .map(|(kid, key)| {
                let id = rename(kid);
                if !methods.iter().any(|m: &VerificationMethod| m.id == id) {
                    methods.push(VerificationMethod {
                        id: id.clone(),
                        type_: VerificationMethodType::JsonWebKey2020,
                        controller: did.clone(),
                        verification_material: VerificationMaterial::JWK {
                            public_key_jwk: jwk::public_key_to_jwk(key),
                        },
                    });
                }
                id
            })
            .collect()
    };
    let key_agreement = ids(Relationship::KeyAgreement);
    let authentication = ids(Relationship::Authentication);
    let service = resolved
        .document()
        .didcomm_endpoints()
        .into_iter()
        .map(|e| Service {
            id: e.service_id,
            service_endpoint: ServiceKind::DIDCommMessaging {
                value: DIDCommMessagingService {
                    uri: e.uri,
                    accept: Some(e.accept),
                    routing_keys: e.routing_keys,
                },
            },
        })
        .collect();
    DIDDoc {
        id: did,
        key_agreement,
        authentication,
        verification_method: methods,
        service,
    }
}

#[async_trait(?Send)]
impl reference::did::DIDResolver for OurResolution {
    async fn resolve(&self, did: &str) -> reference::error::Result<Option<DIDDoc>> {
        Ok(self
            .chain
            .resolve(did)
            .await
            .unwrap()
            .map(|doc| to_reference(&ResolvedDid::new(doc), self.legacy_ids)))
    }
}

/// Our secrets for the reference crate, optionally under the legacy ids.
fn reference_secrets(identity: &Identity, legacy_ids: bool) -> ExampleSecretsResolver {
    let resolved = ResolvedDid::new(identity.document.clone());
    let secrets = identity
        .secrets
        .iter()
        .map(|s: &Secret| {
            let SecretMaterial::Jwk(private) = &s.material else {
                panic!("JWK secrets")
            };
            let id = if legacy_ids {
                let mb = didcomm_edge::crypto::multikey::public_key_to_multibase(
                    resolved.key(&s.kid).unwrap(),
                );
                format!("{}#{}", identity.did, &mb[1..])
            } else {
                s.kid.clone()
            };
            reference::secrets::Secret {
                id,
                type_: reference::secrets::SecretType::JsonWebKey2020,
                secret_material: reference::secrets::SecretMaterial::JWK {
                    private_key_jwk: private.clone(),
                },
            }
        })
        .collect();
    ExampleSecretsResolver::new(secrets)
}

fn our_engine(identity: &Identity) -> DidComm {
    DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::new(identity.secrets.iter().cloned())),
    )
}

/// The reference crate (as `alice`) and our engine (as `bob`) exchange messages both ways.
async fn exchange(alice: &Identity, bob: &Identity, legacy_ids: bool) {
    let resolver = OurResolution {
        chain: ResolverChain::new(),
        legacy_ids,
    };
    let alice_secrets = reference_secrets(alice, legacy_ids);
    let bob_dc = our_engine(bob);
    let what = format!(
        "{} -> {} (legacy ids: {legacy_ids})",
        &alice.did[..20],
        &bob.did[..20]
    );

    // Reference -> us: authcrypt, anoncrypt of a signed message, signed.
    let msg =
        reference::Message::build("1".into(), "https://example.com/t".into(), json!({"n": 1}))
            .from(alice.did.clone())
            .to(bob.did.clone())
            .finalize();
    let (packed, meta) = msg
        .pack_encrypted(
            &bob.did,
            Some(&alice.did),
            None,
            &resolver,
            &alice_secrets,
            &reference::PackEncryptedOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: reference pack: {e}"));
    // The reference crate read bob's service (no routing keys: no forward).
    assert!(meta.messaging_service.is_none());
    let (got, meta) = bob_dc
        .unpack(&packed, &UnpackOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{what}: our unpack: {e}"));
    assert_eq!(got.body, Some(json!({"n": 1})));
    assert!(meta.authenticated && meta.encrypted);

    let (packed, _) = msg
        .pack_encrypted(
            &bob.did,
            None,
            Some(&alice.did),
            &resolver,
            &alice_secrets,
            &reference::PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let (_, meta) = bob_dc
        .unpack(&packed, &UnpackOptions::default())
        .await
        .unwrap();
    assert!(meta.non_repudiation && meta.anonymous_sender);

    let (packed, _) = msg
        .pack_signed(&alice.did, &resolver, &alice_secrets)
        .await
        .unwrap();
    let (_, meta) = bob_dc
        .unpack(&packed, &UnpackOptions::default())
        .await
        .unwrap();
    assert!(meta.non_repudiation);

    // Us -> reference: authcrypt (signed too), and anoncrypt. A peer that names our keys the
    // legacy way cannot find the spec ids we sign and encrypt with: that direction needs the
    // peer to resolve did:peer:2 as the spec now says, and is not tried.
    if legacy_ids {
        return;
    }
    let ours = Message::new("https://example.com/t", json!({"n": 2}))
        .unwrap()
        .from(bob.did.as_str())
        .to(alice.did.as_str());
    for (from, sign_by) in [
        (Some(bob.did.as_str()), None),
        (Some(bob.did.as_str()), Some(bob.did.as_str())),
        (None, None),
    ] {
        let (packed, _) = bob_dc
            .pack_encrypted(
                &ours,
                &alice.did,
                from,
                sign_by,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: our pack: {e}"));
        let (got, meta) = reference::Message::unpack(
            &packed,
            &resolver,
            &alice_secrets,
            &reference::UnpackOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: reference unpack: {e}"));
        assert_eq!(got.body, json!({"n": 2}));
        assert_eq!(meta.authenticated, from.is_some());
        assert_eq!(meta.non_repudiation, sign_by.is_some());
    }
}

#[tokio::test]
async fn reference_crate_and_us_on_generated_identities() {
    let service = DidCommService::new("https://bob.example/didcomm");
    let mut exchanges = 0;
    for (alice_method, bob_method) in [
        (IdentityMethod::Peer2, IdentityMethod::Peer2),
        (IdentityMethod::Key, IdentityMethod::Key),
        (IdentityMethod::Peer2, IdentityMethod::Key),
        (IdentityMethod::Key, IdentityMethod::Peer4),
    ] {
        let alice = Identity::generate(alice_method, None).unwrap();
        let bob_service = (bob_method != IdentityMethod::Key).then_some(&service);
        let bob = Identity::generate(bob_method, bob_service).unwrap();
        exchange(&alice, &bob, false).await;
        exchanges += 1;
    }
    assert_eq!(exchanges, 4);
}

/// A peer that names our did:peer:2 keys the legacy way (`#6LS...`, as sicpa's peer-did
/// libraries resolve them) still reaches us: its `skid`, signer `kid` and recipient `kid`s map
/// to our `#key-N` methods.
#[tokio::test]
async fn legacy_did_peer2_key_ids() {
    let alice = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    let bob = Identity::generate(
        IdentityMethod::Peer2,
        Some(&DidCommService::new("https://bob.example/didcomm")),
    )
    .unwrap();
    exchange(&alice, &bob, true).await;
}
