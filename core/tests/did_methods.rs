#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The did:key and did:peer vectors of `testdata/vectors/`, the built-in methods through
//! [`ResolverChain`], bad DIDs, and round trips (generate, resolve, pack, unpack) per method.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use std::sync::Arc;

use common::*;
use didcomm_edge::crypto::multikey;
use didcomm_edge::crypto::{jwk, KeyPair, KeyType};
use didcomm_edge::did::methods::web::WebResolver;
use didcomm_edge::did::methods::{jwk as did_jwk, key, peer};
use didcomm_edge::did::{DidKeyFormat, DidResolver, Relationship, ResolverChain};
use didcomm_edge::{
    DidComm, DidCommService, ErrorKind, Identity, IdentityMethod, InMemorySecrets, Message,
    PackEncryptedOptions, Secret, UnpackOptions,
};
use didcomm_edge::{DidDocument, ResolvedDid};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// DID Core treats an empty list and an absent member alike; our model omits empty lists.
fn without_empty_lists(mut doc: Value) -> Value {
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
    }
    doc
}

fn assert_same_document(ours: &didcomm_edge::DidDocument, expected: &Value, what: &str) {
    assert_eq!(
        without_empty_lists(ours.to_value().unwrap()),
        without_empty_lists(expected.clone()),
        "{what}"
    );
}

fn format_of(doc: &Value) -> DidKeyFormat {
    match doc["verificationMethod"][0]["type"].as_str().unwrap() {
        "JsonWebKey2020" => DidKeyFormat::JsonWebKey2020,
        "Multikey" => DidKeyFormat::Multikey,
        "Ed25519VerificationKey2020" | "X25519KeyAgreementKey2020" => DidKeyFormat::Suite2020,
        _ => DidKeyFormat::Legacy,
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every did:key vector: the document as published, and the published private keys belong to it.
#[test]
fn did_key_vectors() {
    let mut documents = 0;
    let mut private_keys = 0;
    for file in [
        "did-key/w3c-ccg-ed25519-x25519.json",
        "did-key/w3c-ccg-x25519.json",
        "did-key/w3c-ccg-secp256k1.json",
        "did-key/w3c-ccg-nist-curves.json",
    ] {
        let data = &read_json(file)["data"];
        // The X25519 file maps DIDs to documents under "didDocument".
        let entries: Vec<(String, Value, Value)> = match data.get("didDocument") {
            Some(docs) => docs
                .as_object()
                .unwrap()
                .iter()
                .map(|(did, doc)| (did.clone(), doc.clone(), Value::Null))
                .collect(),
            None => data
                .as_object()
                .unwrap()
                .iter()
                .map(|(did, v)| (did.clone(), v["didDocument"].clone(), v.clone()))
                .collect(),
        };
        for (did, expected, extra) in entries {
            let doc =
                key::resolve(&did, format_of(&expected)).unwrap_or_else(|e| panic!("{did}: {e}"));
            assert_same_document(&doc, &expected, &did);
            // Every method of the published document parses (2018/2019 base58 suites,
            // P256Key2021, JsonWebKey2020) to the DID's key or its derived X25519 key.
            let published = ResolvedDid::new(DidDocument::from_value(expected.clone()).unwrap());
            let did_key = multikey::public_key_from_multibase(&did["did:key:".len()..]).unwrap();
            let signing: Vec<_> = published
                .usable_keys(Relationship::Authentication)
                .collect();
            let agreement: Vec<_> = published.usable_keys(Relationship::KeyAgreement).collect();
            if did_key.key_type() == KeyType::X25519 {
                assert!(signing.is_empty());
                assert_eq!(*agreement[0].1, did_key);
            } else {
                assert_eq!(*signing[0].1, did_key, "{did}");
                let derived = did_key.ed25519_to_x25519().unwrap_or(did_key);
                assert_eq!(*agreement[0].1, derived, "{did}");
            }
            documents += 1;

            // The published private material derives the DID (and, for Ed25519, the X25519
            // key agreement key).
            let signing_pair = if let Some(seed) = extra.get("seed").and_then(Value::as_str) {
                let kt = if did.starts_with("did:key:z6Mk") {
                    KeyType::Ed25519
                } else {
                    KeyType::Secp256k1
                };
                Some(KeyPair::from_secret_bytes(kt, &hex(seed)).unwrap())
            } else {
                extra["verificationMethod"]
                    .get("privateKeyJwk")
                    .or_else(|| extra["verificationKeyPair"].get("privateKeyJwk"))
                    .map(|private| jwk::key_pair_from_jwk(private).unwrap())
            };
            if let Some(pair) = signing_pair {
                assert_eq!(key::did_key_for(pair.public()), did);
                private_keys += 1;
                if let Some(ka) = extra.get("keyAgreementKeyPair") {
                    let derived = pair.ed25519_to_x25519().unwrap();
                    let expected_secret = match ka.get("privateKeyBase58") {
                        Some(b58) => bs58::decode(b58.as_str().unwrap()).into_vec().unwrap(),
                        None => {
                            let d = ka["privateKeyJwk"]["d"].as_str().unwrap();
                            jwk::key_pair_from_jwk(&ka["privateKeyJwk"]).unwrap();
                            B64.decode(d).unwrap()
                        }
                    };
                    // The vectors publish the clamped scalar: the same X25519 key.
                    let mut ours = derived.secret_bytes().to_vec();
                    ours[0] &= 248;
                    ours[31] = (ours[31] & 127) | 64;
                    assert_eq!(ours, expected_secret, "{did}: derived X25519");
                    let published =
                        KeyPair::from_secret_bytes(KeyType::X25519, &expected_secret).unwrap();
                    assert_eq!(published.public(), derived.public());
                    private_keys += 1;
                }
            }
        }
    }
    assert_eq!((documents, private_keys), (22, 22));
}

#[derive(Deserialize)]
struct Peer4Example {
    input_document: Box<RawValue>,
    long_form: String,
    short_form: String,
    #[serde(alias = "expected_long_form_document")]
    long_form_document: Value,
    #[serde(alias = "expected_short_form_document")]
    short_form_document: Value,
}

fn check_peer4(example: &Peer4Example, name: &str) {
    // Encoding keeps the input's member order, as the reference implementation does.
    assert_eq!(
        peer::encode_peer4_json(example.input_document.get()).unwrap(),
        example.long_form,
        "{name}"
    );
    assert_eq!(
        peer::peer4_short_form(&example.long_form).unwrap(),
        example.short_form,
        "{name}"
    );
    let long = peer::resolve_peer4(&example.long_form).unwrap();
    assert_same_document(&long, &example.long_form_document, name);
    // Every authentication key parses (legacy `publicKey` entries included).
    let resolved = ResolvedDid::new(long.clone());
    assert!(
        !resolved.kids(Relationship::Authentication).is_empty(),
        "{name}"
    );
    for kid in resolved.kids(Relationship::Authentication) {
        resolved
            .key_in(kid, Relationship::Authentication)
            .unwrap_or_else(|e| panic!("{name}: {kid}: {e}"));
    }
    let short = peer::resolve_peer4_short(&example.short_form, &example.long_form).unwrap();
    assert_same_document(&short, &example.short_form_document, name);
}

/// Every example of the Peer DID spec and the did:peer:4 reference examples.
#[tokio::test]
async fn did_peer_vectors() {
    let text = std::fs::read_to_string(vectors_dir().join("did-peer/spec-examples.json")).unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let mut passed = 0;
    for v in spec["did_peer_2"].as_array().unwrap() {
        let did = v["did"].as_str().unwrap();
        let doc = peer::resolve_peer2(did).unwrap();
        assert_same_document(&doc, &v["expected_document"], did);
        assert_eq!(peer::peer2_to_peer3(did).unwrap(), v["expected_did_peer_3"]);
        // Encoding the document's keys and services (without their ids) gives the DID back.
        let keys: Vec<_> = doc
            .verification_method
            .iter()
            .map(|vm| {
                let purpose = if doc.key_agreement.iter().any(|r| r.id() == vm.id) {
                    peer::Purpose::Encryption
                } else {
                    peer::Purpose::Verification
                };
                (purpose, vm.public_key().unwrap())
            })
            .collect();
        let services: Vec<Value> = v["expected_document"]["service"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.as_object_mut().unwrap().remove("id");
                s
            })
            .collect();
        assert_eq!(peer::encode_peer2(&keys, &services).unwrap(), did);
        passed += 1;
    }
    for v in spec["did_peer_3"].as_array().unwrap() {
        let peer2 = v["did_peer_2"].as_str().unwrap();
        let peer3 = v["expected_did_peer_3"].as_str().unwrap();
        assert_eq!(peer::peer2_to_peer3(peer2).unwrap(), peer3);
        // The chain resolves the did:peer:3 once it has seen the did:peer:2.
        let chain = ResolverChain::new();
        assert_eq!(chain.resolve(peer3).await.unwrap(), None);
        chain.resolve(peer2).await.unwrap().unwrap();
        let doc = chain.resolve(peer3).await.unwrap().unwrap();
        assert_eq!(doc.id, peer3);
        assert_eq!(doc.also_known_as, [peer2]);
        passed += 1;
    }
    #[derive(Deserialize)]
    struct Spec {
        did_peer_4: Vec<Peer4Example>,
    }
    #[derive(Deserialize)]
    struct Examples {
        examples: Vec<Peer4Example>,
    }
    let spec4: Spec = serde_json::from_str(&text).unwrap();
    for (i, example) in spec4.did_peer_4.iter().enumerate() {
        check_peer4(example, &format!("spec did:peer:4 {i}"));
        passed += 1;
    }
    let text =
        std::fs::read_to_string(vectors_dir().join("did-peer/did-peer-4-examples.json")).unwrap();
    let examples: Examples = serde_json::from_str(&text).unwrap();
    for (i, example) in examples.examples.iter().enumerate() {
        check_peer4(example, &format!("did-peer-4 example {i}"));
        // Through the chain: the short form resolves only after the long form.
        let chain = ResolverChain::new();
        assert_eq!(chain.resolve(&example.short_form).await.unwrap(), None);
        chain.resolve(&example.long_form).await.unwrap().unwrap();
        let short = chain.resolve(&example.short_form).await.unwrap().unwrap();
        assert_same_document(&short, &example.short_form_document, "chain short form");
        passed += 1;
    }
    assert_eq!(passed, 1 + 2 + 1 + 6);
}

/// Legacy did:peer:2 forms: keys are also found under the ids other libraries give them.
#[test]
fn did_peer2_legacy_key_ids() {
    let did = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.Vz6MkgoLTnTypo3tDRwCkZXSccTPHRLhF4ZnjhueYAFpEX6vg.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXX0=";
    let resolved = didcomm_edge::ResolvedDid::new(peer::resolve_peer2(did).unwrap());
    let canonical = resolved
        .key_in(&format!("{did}#key-1"), Relationship::KeyAgreement)
        .unwrap()
        .clone();
    for legacy in [
        "#6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
        "#z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
        "#6LSbysY2",
    ] {
        let key = resolved
            .key_in(&format!("{did}{legacy}"), Relationship::KeyAgreement)
            .unwrap();
        assert_eq!(*key, canonical, "{legacy}");
    }
    assert!(resolved
        .key_in(&format!("{did}#6MkqRYqQ"), Relationship::Authentication)
        .is_ok());
    assert!(resolved
        .key_in(&format!("{did}#6MkqRYqQ"), Relationship::KeyAgreement)
        .is_err());
    // The v2.0 service (string endpoint, service-level routing keys) reads as a DIDComm endpoint.
    let endpoints = resolved.document().didcomm_endpoints();
    assert_eq!(endpoints[0].uri, "https://example.com/endpoint");
    assert_eq!(
        endpoints[0].routing_keys,
        ["did:example:somemediator#somekey"]
    );
    assert_eq!(endpoints[0].service_id, format!("{did}#service"));
}

/// Documents written by other libraries (sicpa peerdid style) read through the document model.
#[test]
fn legacy_documents_read() {
    let did = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V";
    let doc = didcomm_edge::DidDocument::from_value(json!({
        "id": did,
        "authentication": [{
            "id": format!("{did}#6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V"),
            "type": "Ed25519VerificationKey2020", "controller": did,
            "publicKeyMultibase": "z6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V"
        }],
        "keyAgreement": [{
            "id": format!("{did}#6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"),
            "type": "JsonWebKey2020", "controller": did,
            "publicKeyJwk": {"kty": "OKP", "crv": "X25519", "x": "BIiFcQEn3dfvB2pjlhOQQour6jXy9d5s2FKEJNTOJik"}
        }, {
            "id": "#legacy-2019", "type": "X25519KeyAgreementKey2019", "controller": did,
            "publicKeyBase58": "JhNWeSVLMYccCk7iopQW4guaSJTojqpMEELgSLhKwRr"
        }],
        "service": [{"type": "DIDCommMessaging", "serviceEndpoint": [
            {"uri": "did:example:mediator", "accept": ["didcomm/v2"]},
            "https://example.com/second"
        ]}]
    }))
    .unwrap();
    let resolved = didcomm_edge::ResolvedDid::new(doc.clone());
    let agreement: Vec<_> = resolved
        .usable_keys(Relationship::KeyAgreement)
        .map(|(k, _)| k.to_owned())
        .collect();
    assert_eq!(agreement.len(), 2);
    assert_eq!(agreement[1], format!("{did}#legacy-2019"));
    assert_eq!(
        resolved.usable_keys(Relationship::Authentication).count(),
        1
    );
    let endpoints = doc.didcomm_endpoints();
    assert_eq!(endpoints.len(), 2);
    assert!(endpoints[0].uri_is_did());
    assert!(!endpoints[1].uri_is_did());
}

/// Malformed DIDs of every method give a typed error (never a panic, never an internal error).
#[tokio::test]
async fn bad_dids_are_typed_errors() {
    let ed = key::did_key_for(KeyPair::generate(KeyType::Ed25519).unwrap().public());
    let mb = ed.trim_start_matches("did:key:").to_owned();
    let x = key::did_key_for(KeyPair::generate(KeyType::X25519).unwrap().public());
    let xmb = x.trim_start_matches("did:key:").to_owned();
    let example4 = &read_json("did-peer/did-peer-4-examples.json")["examples"][0];
    let long4 = example4["long_form"].as_str().unwrap();
    let (hash4, doc4) = long4
        .trim_start_matches("did:peer:4")
        .split_once(':')
        .unwrap();
    let other4 = read_json("did-peer/did-peer-4-examples.json")["examples"][1]["long_form"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_doc4 = other4.split(':').nth(3).unwrap().to_owned();
    let cases: Vec<(String, ErrorKind)> = vec![
        // bad multibase
        (
            "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK".into(),
            ErrorKind::Malformed,
        ),
        (
            "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doI".into(),
            ErrorKind::Malformed,
        ),
        ("did:key:mAAAA".into(), ErrorKind::Malformed),
        // wrong multicodec
        ("did:key:z2222222222222222".into(), ErrorKind::Unsupported),
        // wrong purpose for the key type
        (format!("did:peer:2.V{xmb}"), ErrorKind::Malformed),
        (format!("did:peer:2.E{mb}"), ErrorKind::Malformed),
        // bad service JSON
        (
            format!("did:peer:2.V{mb}.SeyJ0IjoiZG0i"),
            ErrorKind::Malformed,
        ),
        (
            format!("did:peer:2.V{mb}.Snotbase64!"),
            ErrorKind::Malformed,
        ),
        // did:peer:4: hash mismatch, bad shapes
        (
            format!("did:peer:4{hash4}:{other_doc4}"),
            ErrorKind::Malformed,
        ),
        (format!("did:peer:4{hash4}:"), ErrorKind::Malformed),
        (format!("did:peer:4zQm:{doc4}"), ErrorKind::Malformed),
        ("did:peer:4zQmshort".into(), ErrorKind::Malformed),
        // other numalgos and methods
        ("did:peer:9xyz".into(), ErrorKind::Unsupported),
        (
            "did:peer:1zQmZMygzYqNwU6Uhmewx5Xepf2VLp5S4HLSwwgf2aiKZuwa".into(),
            ErrorKind::Unsupported,
        ),
        ("did:peer:0".into(), ErrorKind::Malformed),
        ("did:jwk:e30".into(), ErrorKind::Malformed),
        ("did:jwk:!!".into(), ErrorKind::Malformed),
        ("did:web:exa mple.com".into(), ErrorKind::Malformed),
        (
            format!("did:peer:2.V{mb}{}", "A".repeat(70_000)),
            ErrorKind::TooLarge,
        ),
    ];
    let chain = ResolverChain::new();
    for (did, kind) in cases {
        let err = chain.resolve(&did).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{}: {err}", &did[..did.len().min(80)]);
        let dc = DidComm::new(
            Arc::new(ResolverChain::new()),
            Arc::new(InMemorySecrets::default()),
        );
        let err = dc.resolve(&did).await.unwrap_err();
        assert_eq!(err.kind(), kind);
    }
    // Unknown methods are not resolved (no host resolver), which the engine reports as such.
    assert_eq!(chain.resolve("did:example:alice").await.unwrap(), None);
    let dc = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::default()),
    );
    assert_eq!(
        dc.resolve("did:example:alice").await.unwrap_err().kind(),
        ErrorKind::DidNotResolved
    );
}

/// The chain asks the pinned resolver first and the host resolver for other methods.
/// An HTTP client for tests that must not fetch.
struct NoNetwork;

#[async_trait::async_trait]
impl didcomm_edge::did::methods::web::HttpClient for NoNetwork {
    async fn get(
        &self,
        url: &str,
        _max_len: usize,
    ) -> didcomm_edge::Result<didcomm_edge::did::methods::web::HttpResponse> {
        panic!("no fetch expected, got {url}")
    }
}

/// `ResolverChain::new()` opens no connection: did:web needs a resolver given with `with_web`
/// (or goes to the host resolver), and without either fails with a typed error, not a fetch.
#[tokio::test]
async fn did_web_without_a_web_resolver_is_unsupported() {
    let chain = ResolverChain::new();
    let err = chain.resolve("did:web:example.com").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.reason().contains("with_web"), "{err}");
    let dc = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::default()),
    );
    let err = dc.resolve("did:web:example.com").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    // With a host resolver, did:web is the host's to answer.
    let hosted =
        ResolverChain::new().with_host(Arc::new(didcomm_edge::InMemoryDidResolver::new([])));
    assert_eq!(hosted.resolve("did:web:example.com").await.unwrap(), None);
    // Opting out with without_web keeps did:web "not resolved", as before.
    let opted_out = ResolverChain::new().without_web();
    assert_eq!(
        opted_out.resolve("did:web:example.com").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn chain_order_and_cache_policy() {
    use didcomm_edge::did::CachePolicy;
    let bob = wallet("bob");
    let id = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    // A pinned document with other ids than the built-in derivation would give.
    let mut pinned_doc = id.document.clone();
    pinned_doc.extra.insert("pinned".into(), json!(true));
    let chain = ResolverChain::new()
        .with_pinned(Arc::new(didcomm_edge::InMemoryDidResolver::new([
            pinned_doc,
        ])))
        .with_host(Arc::new(bob.resolver()));
    let doc = chain.resolve(&id.did).await.unwrap().unwrap();
    assert_eq!(doc.extra["pinned"], true);
    assert!(chain.resolve("did:example:bob").await.unwrap().is_some());
    assert_eq!(chain.cache_policy(&id.did), CachePolicy::Immutable);
    assert_eq!(chain.cache_policy("did:key:z6Mk"), CachePolicy::Immutable);
    assert_eq!(chain.cache_policy("did:example:bob"), CachePolicy::Default);
    // Without a WebResolver did:web is the host's, and so is its cache policy.
    assert_eq!(
        chain.cache_policy("did:web:example.com"),
        CachePolicy::Default
    );
    let chain = chain.with_web(WebResolver::new(Arc::new(NoNetwork)));
    assert_eq!(
        chain.cache_policy("did:web:example.com"),
        CachePolicy::Ttl(WebResolver::DEFAULT_TTL)
    );
    // Remembering a long form makes its short form resolvable.
    let id4 = Identity::generate(IdentityMethod::Peer4, None).unwrap();
    let short = peer::peer4_short_form(&id4.did).unwrap();
    let fresh = ResolverChain::new();
    assert_eq!(fresh.resolve(&short).await.unwrap(), None);
    fresh.remember_peer_did(&id4.did).unwrap();
    assert_eq!(fresh.resolve(&short).await.unwrap().unwrap().id, short);
    assert!(fresh.remember_peer_did("did:key:z6Mk").is_err());
}

fn engine_for(identity_secrets: &[Secret], chain: ResolverChain) -> DidComm {
    DidComm::new(
        Arc::new(chain),
        Arc::new(InMemorySecrets::new(identity_secrets.iter().cloned())),
    )
}

/// Alice packs to Bob in every mode; Bob unpacks. Both resolve each other with the chain alone.
async fn round_trip(alice_did: &str, alice: &DidComm, bob_did: &str, bob: &DidComm, signs: bool) {
    let msg = Message::new(
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "hi"}),
    )
    .unwrap()
    .from(alice_did)
    .to(bob_did);
    let opts = UnpackOptions::default();
    // authcrypt
    let (packed, _) = alice
        .pack_encrypted(
            &msg,
            bob_did,
            Some(alice_did),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{alice_did} -> {bob_did}: {e}"));
    let (got, meta) = bob.unpack(&packed, &opts).await.unwrap();
    assert!(meta.authenticated && meta.encrypted);
    assert_eq!(got.body, msg.body);
    // anoncrypt
    let (packed, _) = alice
        .pack_encrypted(&msg, bob_did, None, None, &PackEncryptedOptions::default())
        .await
        .unwrap();
    let (_, meta) = bob.unpack(&packed, &opts).await.unwrap();
    assert!(meta.anonymous_sender);
    if signs {
        // signed, and sign-then-authcrypt with the sender hidden
        let (packed, _) = alice.pack_signed(&msg, alice_did).await.unwrap();
        let (_, meta) = bob.unpack(&packed, &opts).await.unwrap();
        assert!(meta.non_repudiation);
        let (packed, _) = alice
            .pack_encrypted(
                &msg,
                bob_did,
                Some(alice_did),
                Some(alice_did),
                &PackEncryptedOptions::default().protect_sender(true),
            )
            .await
            .unwrap();
        let (_, meta) = bob.unpack(&packed, &opts).await.unwrap();
        assert!(meta.non_repudiation && meta.authenticated && meta.anonymous_sender);
    }
}

#[tokio::test]
async fn round_trips_per_method() {
    let service = DidCommService::new("https://example.com/didcomm")
        .with_routing_keys(["did:example:mediator1#key-x25519-1"]);
    for method in [
        IdentityMethod::Peer2,
        IdentityMethod::Peer4,
        IdentityMethod::Key,
    ] {
        let svc = (method != IdentityMethod::Key).then_some(&service);
        let alice = Identity::generate(method, svc).unwrap();
        let bob = Identity::generate(method, svc).unwrap();
        let alice_dc = engine_for(&alice.to_wallet().unwrap().secrets, ResolverChain::new());
        let bob_dc = engine_for(&bob.to_wallet().unwrap().secrets, ResolverChain::new());
        // The resolved document is the generated one.
        assert_eq!(
            alice_dc.resolve(&bob.did).await.unwrap().document(),
            &bob.document
        );
        round_trip(&alice.did, &alice_dc, &bob.did, &bob_dc, true).await;
        if method == IdentityMethod::Peer4 {
            // Once the long forms are known, the short forms work too.
            let alice_short = alice.peer4_short_form().unwrap().unwrap();
            let bob_short = bob.peer4_short_form().unwrap().unwrap();
            bob_dc.resolve(&alice.did).await.unwrap();
            round_trip(&alice_short.did, &alice_dc, &bob_short.did, &bob_dc, true).await;
        }
    }
    // Mixed methods, did:peer:0 and did:jwk.
    let alice = Identity::generate(IdentityMethod::Peer2, Some(&service)).unwrap();
    let bob = Identity::did_key(KeyType::Ed25519).unwrap();
    let alice_dc = engine_for(&alice.secrets, ResolverChain::new());
    let bob_dc = engine_for(&bob.secrets, ResolverChain::new());
    round_trip(&alice.did, &alice_dc, &bob.did, &bob_dc, true).await;

    let pair = KeyPair::generate(KeyType::Ed25519).unwrap();
    let key_id = Identity::did_key_from(&pair).unwrap();
    let peer0 = key_id.did.replace("did:key:", "did:peer:0");
    let peer0_secrets: Vec<Secret> = key_id
        .secrets
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.kid = s.kid.replace("did:key:", "did:peer:0");
            s
        })
        .collect();
    let peer0_dc = engine_for(&peer0_secrets, ResolverChain::new());
    round_trip(&peer0, &peer0_dc, &alice.did, &alice_dc, true).await;

    for kt in [KeyType::P256, KeyType::Secp256k1] {
        let pair = KeyPair::generate(kt).unwrap();
        let did = did_jwk::did_jwk_for(pair.public());
        let jwk_dc = engine_for(
            &[Secret::from_key_pair_jwk(format!("{did}#0"), &pair)],
            ResolverChain::new(),
        );
        let other = Identity::did_key(kt).unwrap();
        let other_dc = engine_for(&other.secrets, ResolverChain::new());
        round_trip(&did, &jwk_dc, &other.did, &other_dc, true).await;
        round_trip(&other.did, &other_dc, &did, &jwk_dc, true).await;
    }
}

/// Mutations of every vector DID (truncated, a character replaced) resolve or fail with a typed
/// error: no panic, no internal error. A cheap stand-in for the `did_parse` fuzz target.
#[test]
fn mutated_vector_dids_never_panic() {
    let mut dids = vec![];
    for file in [
        "did-key/w3c-ccg-ed25519-x25519.json",
        "did-key/w3c-ccg-nist-curves.json",
        "did-key/w3c-ccg-secp256k1.json",
        "did-peer/spec-examples.json",
        "did-peer/did-peer-4-examples.json",
    ] {
        let text = std::fs::read_to_string(vectors_dir().join(file)).unwrap();
        for word in text.split('"') {
            if word.starts_with("did:") && !word.contains('#') && !dids.contains(&word.to_owned()) {
                dids.push(word.to_owned());
            }
        }
    }
    assert!(dids.len() > 30, "{}", dids.len());
    let mut tried = 0;
    for did in &dids {
        let chars: Vec<char> = did.chars().collect();
        let step = (chars.len() / 48).max(1);
        for i in (0..chars.len()).step_by(step) {
            let truncated: String = chars[..i].iter().collect();
            let mut variants = vec![truncated];
            for c in ['0', 'z', '.', ':', '#', 'S', 'é'] {
                let mut m = chars.clone();
                m[i] = c;
                variants.push(m.into_iter().collect());
            }
            for v in variants {
                for format in [DidKeyFormat::Multikey, DidKeyFormat::Legacy] {
                    match didcomm_edge::did::methods::resolve_self_contained(&v, format) {
                        Ok(Some(doc)) => {
                            assert_eq!(doc.id, v);
                            let _ = ResolvedDid::new(doc);
                        }
                        Ok(None) => {}
                        Err(e) => assert_ne!(e.kind(), ErrorKind::InvalidState, "{v}: {e}"),
                    }
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 5000, "{tried}");
}
