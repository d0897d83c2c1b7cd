#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Routing 2.0: `route` wraps for every hop of the recipient's service, each mediator unwraps
//! its layer, and the result interoperates with the reference `didcomm` crate in both
//! directions. Identities: `testdata/vectors/ids/rust-*.json` (Bob behind mediator1;
//! Charlie behind mediator3 named by DID, then mediator2 and mediator1 keys), and generated
//! `did:key` identities for routing keys given as `did:key` URLs.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use didcomm_reference as didcomm;

use std::sync::Arc;

use common::*;
use didcomm_edge::crypto::multikey;
use didcomm_edge::did::{VerificationMethod, VerificationRelationship};
use didcomm_edge::{
    AnonCryptAlg, ContentEncAlg, DidComm, DidDocument, ErrorKind, Forward, InMemoryDidResolver,
    InMemorySecrets, KeyPair, KeyType, Message, PackEncryptedOptions, RouteOptions, Secret,
    UnpackOptions, Wallet,
};
use serde_json::{json, Value};

const MEDIATOR1_KEY: &str = "did:example:mediator1#key-x25519-1";
const MEDIATOR2_KEY: &str = "did:example:mediator2#key-x25519-1";

fn message_to(to: &str) -> Message {
    Message::build(
        "1234567890",
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "routed"}),
    )
    .from("did:example:alice")
    .to(to)
    .created_time(1_700_000_000)
}

async fn authcrypt_to(to: &str) -> String {
    let alice = engine(&wallet("alice-rust"));
    alice
        .pack_encrypted(
            &message_to(to),
            to,
            Some("did:example:alice"),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap()
        .0
}

/// Our mediator unwraps one layer: returns (next, the message to pass on).
async fn hop(mediator: &DidComm, packed: &str) -> (String, String) {
    let (forward, meta) = mediator.unwrap_forward(packed).await.unwrap();
    assert!(meta.encrypted && meta.anonymous_sender && !meta.authenticated);
    assert_eq!(forward.messages.len(), 1);
    (forward.next, forward.messages.into_iter().next().unwrap())
}

#[tokio::test]
async fn bob_behind_one_mediator_routing_key() {
    let packed = authcrypt_to("did:example:bob").await;
    let alice = engine(&wallet("alice-rust"));
    let routed = alice
        .route(&packed, "did:example:bob", &RouteOptions::default())
        .await
        .unwrap();
    assert_eq!(routed.uri, "http://example.com/path");
    assert_eq!(routed.service_id, "did:example:bob#didcomm-1");
    assert_eq!(routed.hops, [MEDIATOR1_KEY]);
    assert!(routed.accept.contains(&"didcomm/v2".to_owned()));

    // Bob cannot read the outer layer; mediator1 can, and finds Bob's message inside.
    let bob = engine(&wallet("bob-rust"));
    let err = bob
        .unpack(&routed.message, &UnpackOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SecretNotFound);
    let (next, inner) = hop(&engine(&wallet("mediator1-rust")), &routed.message).await;
    assert_eq!(next, "did:example:bob");
    assert_eq!(
        serde_json::from_str::<Value>(&inner).unwrap(),
        serde_json::from_str::<Value>(&packed).unwrap()
    );
    let (received, meta) = bob.unpack(&inner, &UnpackOptions::default()).await.unwrap();
    assert_eq!(received, message_to("did:example:bob"));
    assert!(meta.authenticated && !meta.re_wrapped_in_forward);
}

#[tokio::test]
async fn charlie_behind_a_mediator_did_and_two_routing_keys() {
    let packed = authcrypt_to("did:example:charlie").await;
    let alice = engine(&wallet("alice-rust"));
    let routed = alice
        .route(&packed, "did:example:charlie", &RouteOptions::default())
        .await
        .unwrap();
    // The service uri is a DID: its own endpoint is the transport, its keys the first hop.
    assert_eq!(routed.uri, "http://example.com/path");
    assert_eq!(routed.service_id, "did:example:charlie#didcomm-1");
    assert_eq!(
        routed.hops,
        ["did:example:mediator3", MEDIATOR2_KEY, MEDIATOR1_KEY]
    );

    let mediator1 = engine(&wallet("mediator1-rust"));
    let mediator2 = engine(&wallet("mediator2-rust"));
    let mediator3 = engine(&wallet("mediator3-rust"));
    // Each layer opens only for its own mediator.
    assert!(mediator1.unwrap_forward(&routed.message).await.is_err());
    assert!(mediator2.unwrap_forward(&routed.message).await.is_err());

    let (next, layer2) = hop(&mediator3, &routed.message).await;
    assert_eq!(next, MEDIATOR2_KEY);
    assert!(mediator1.unwrap_forward(&layer2).await.is_err());
    let (next, layer3) = hop(&mediator2, &layer2).await;
    assert_eq!(next, MEDIATOR1_KEY);
    let (next, inner) = hop(&mediator1, &layer3).await;
    assert_eq!(next, "did:example:charlie");

    let charlie = engine(&wallet("charlie-rust"));
    let (received, _) = charlie
        .unpack(&inner, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, message_to("did:example:charlie"));
}

#[tokio::test]
async fn route_options_reach_every_forward() {
    let packed = authcrypt_to("did:example:charlie").await;
    let alice = engine(&wallet("alice-rust"));
    let mut options = RouteOptions::default()
        .enc_alg_anon(ContentEncAlg::A256Gcm)
        .expires_time(1_900_000_000);
    options.delay_milli = Some(-500);
    options
        .forward_headers
        .insert("trace".into(), json!("https://tracer.example/report"));
    let routed = alice
        .route(&packed, "did:example:charlie", &options)
        .await
        .unwrap();

    let mediator3 = engine(&wallet("mediator3-rust"));
    let mut options = UnpackOptions::default();
    options.unwrap_re_wrapping_forward = false;
    let (forward_msg, meta) = mediator3.unpack(&routed.message, &options).await.unwrap();
    assert_eq!(meta.enc_alg_anon, Some(AnonCryptAlg::EcdhEsA256KwA256Gcm));
    assert_eq!(
        forward_msg.to,
        Some(vec!["did:example:mediator3".to_owned()])
    );
    assert_eq!(
        forward_msg.extra_headers.get("trace"),
        Some(&json!("https://tracer.example/report"))
    );
    let forward = Forward::from_message(&forward_msg).unwrap();
    assert_eq!(forward.expires_time, Some(1_900_000_000));
    assert_eq!(forward.delay_milli, Some(-500));

    let (next_forward, _) = engine(&wallet("mediator2-rust"))
        .unwrap_forward(&forward.messages[0])
        .await
        .unwrap();
    assert_eq!(next_forward.expires_time, Some(1_900_000_000));
}

#[tokio::test]
async fn default_layers_use_a256cbc_hs512() {
    let packed = authcrypt_to("did:example:bob").await;
    let routed = engine(&wallet("alice-rust"))
        .route(&packed, "did:example:bob", &RouteOptions::default())
        .await
        .unwrap();
    let (_, meta) = engine(&wallet("mediator1-rust"))
        .unwrap_forward(&routed.message)
        .await
        .unwrap();
    assert_eq!(
        meta.enc_alg_anon,
        Some(AnonCryptAlg::EcdhEsA256KwA256CbcHs512)
    );
    assert_eq!(meta.encrypted_to_kids, Some(vec![MEDIATOR1_KEY.to_owned()]));
}

// ---------------------------------------------------------------------------------------------
// did:key routing keys, several hops.

struct Party {
    did: String,
    kid: String,
    doc: DidDocument,
    secret: Secret,
}

/// A did:key identity with one X25519 key agreement key (the document a did:key resolver
/// derives; built here so the test does not depend on a DID method implementation).
fn did_key_party() -> Party {
    let pair = KeyPair::generate(KeyType::X25519).unwrap();
    let mb = multikey::public_key_to_multibase(pair.public());
    let did = format!("did:key:{mb}");
    let kid = format!("{did}#{mb}");
    let mut doc = DidDocument::new(&did);
    doc.verification_method
        .push(VerificationMethod::json_web_key(&kid, &did, pair.public()));
    doc.key_agreement
        .push(VerificationRelationship::Reference(kid.clone()));
    Party {
        secret: Secret::from_key_pair_jwk(&kid, &pair),
        did,
        kid,
        doc,
    }
}

fn party_engine(docs: &[DidDocument], party: &Party) -> DidComm {
    DidComm::new(
        Arc::new(InMemoryDidResolver::new(docs.iter().cloned())),
        Arc::new(InMemorySecrets::new([party.secret.clone()])),
    )
}

#[tokio::test]
async fn did_key_routing_keys_three_hops() {
    let mediators: Vec<Party> = (0..3).map(|_| did_key_party()).collect();
    let recipient = did_key_party();
    let mut recipient_doc = recipient.doc.clone();
    recipient_doc.service.push(
        serde_json::from_value(json!({
            "id": "#didcomm-1",
            "type": "DIDCommMessaging",
            "serviceEndpoint": {
                "uri": "wss://mediator.example/ws",
                "accept": ["didcomm/v2"],
                "routingKeys": mediators.iter().map(|m| m.kid.clone()).collect::<Vec<_>>()
            }
        }))
        .unwrap(),
    );
    let mut docs: Vec<DidDocument> = mediators.iter().map(|m| m.doc.clone()).collect();
    docs.push(recipient_doc);
    let resolver = Arc::new(InMemoryDidResolver::new(docs.clone()));
    let sender = DidComm::new(resolver, Arc::new(InMemorySecrets::default()));

    let msg = Message::build("m-1", "https://didcomm.org/trust-ping/2.0/ping", json!({}))
        .to(recipient.did.clone());
    let (packed, _) = sender
        .pack_encrypted(
            &msg,
            &recipient.did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let routed = sender
        .route(&packed, &recipient.did, &RouteOptions::default())
        .await
        .unwrap();
    assert_eq!(routed.uri, "wss://mediator.example/ws");
    assert_eq!(routed.service_id, format!("{}#didcomm-1", recipient.did));
    assert_eq!(routed.hops.len(), 3);

    let mut current = routed.message;
    for (i, mediator) in mediators.iter().enumerate() {
        let engine = party_engine(&docs, mediator);
        let (next, inner) = hop(&engine, &current).await;
        let expected_next = mediators
            .get(i + 1)
            .map_or(recipient.did.clone(), |m| m.kid.clone());
        assert_eq!(next, expected_next, "hop {i}");
        current = inner;
    }
    let (received, _) = party_engine(&docs, &recipient)
        .unpack(&current, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, msg);
}

#[tokio::test]
async fn mediator_rewrapping_is_unwrapped_by_the_recipient() {
    // A mediator re-wraps the payload for Bob in a forward to Bob himself (spec
    // "Rewrapping"): Bob's unpack opens both layers.
    let packed = authcrypt_to("did:example:bob").await;
    let mediator = engine(&wallet("mediator1-rust"));
    let rewrapped = mediator
        .wrap_in_forward(
            &packed,
            "did:example:bob",
            &["did:example:bob".to_owned()],
            &RouteOptions::default(),
        )
        .await
        .unwrap();
    let bob = engine(&wallet("bob-rust"));
    let (received, meta) = bob
        .unpack(&rewrapped, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, message_to("did:example:bob"));
    assert!(meta.re_wrapped_in_forward && meta.authenticated);
    // With no hops, nothing is wrapped.
    let same = mediator
        .wrap_in_forward(&packed, "did:example:bob", &[], &RouteOptions::default())
        .await
        .unwrap();
    assert_eq!(same, packed);
}

// ---------------------------------------------------------------------------------------------
// Odd services and inputs: typed errors, never a panic.

/// Alice's engine with one more document for `did:example:odd` (with the given services).
fn engine_with_odd(services: Value) -> DidComm {
    let mut w: Wallet = wallet("alice-rust");
    let mut doc = w
        .did_docs
        .iter()
        .find(|d| d.id == "did:example:bob")
        .unwrap()
        .clone();
    doc.id = "did:example:odd".into();
    doc.service = serde_json::from_value(services).unwrap();
    w.did_docs.push(doc);
    engine(&w)
}

async fn odd_route_error(services: Value) -> ErrorKind {
    let dc = engine_with_odd(services);
    // Any encrypted message will do: routing does not look inside.
    let packed = authcrypt_to("did:example:bob").await;
    dc.route(&packed, "did:example:odd", &RouteOptions::default())
        .await
        .unwrap_err()
        .kind()
}

#[tokio::test]
async fn odd_routing_keys_are_typed_errors() {
    let endpoint = |keys: Value| {
        json!([{"id": "#s", "type": "DIDCommMessaging",
                "serviceEndpoint": {"uri": "https://x.example", "routingKeys": keys}}])
    };
    // Not a list of strings: the endpoint is unusable rather than silently shortened.
    assert_eq!(
        odd_route_error(endpoint(json!([1, MEDIATOR1_KEY]))).await,
        ErrorKind::DidUrlNotFound
    );
    assert_eq!(
        odd_route_error(endpoint(json!("did:example:mediator1"))).await,
        ErrorKind::DidUrlNotFound
    );
    assert_eq!(
        odd_route_error(endpoint(json!({}))).await,
        ErrorKind::DidUrlNotFound
    );
    // Strings that are not DIDs.
    assert_eq!(
        odd_route_error(endpoint(json!([""]))).await,
        ErrorKind::Malformed
    );
    assert_eq!(
        odd_route_error(endpoint(json!([
            "z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"
        ])))
        .await,
        ErrorKind::Malformed
    );
    assert_eq!(
        odd_route_error(endpoint(json!(["https://mediator.example"]))).await,
        ErrorKind::Malformed
    );
    // DIDs that do not resolve, or keys their DID does not have.
    assert_eq!(
        odd_route_error(endpoint(json!(["did:example:nobody#key-1"]))).await,
        ErrorKind::DidNotResolved
    );
    assert_eq!(
        odd_route_error(endpoint(json!(["did:example:mediator1#key-404"]))).await,
        ErrorKind::DidUrlNotFound
    );
    // A key that is in the document but not a key agreement key.
    assert_eq!(
        odd_route_error(endpoint(json!(["did:example:alice#key-1"]))).await,
        ErrorKind::DidUrlNotFound
    );
    // Too many hops.
    let many: Vec<&str> = std::iter::repeat_n(MEDIATOR1_KEY, 33).collect();
    assert_eq!(
        odd_route_error(endpoint(json!(many))).await,
        ErrorKind::Unsupported
    );
    // No DIDComm v2 endpoint at all.
    assert_eq!(odd_route_error(json!([])).await, ErrorKind::DidUrlNotFound);
    assert_eq!(
        odd_route_error(json!([{"id": "#s", "type": "DIDCommMessaging",
            "serviceEndpoint": {"uri": "https://x.example", "accept": ["didcomm/aip2;env=rfc19"]}}]))
        .await,
        ErrorKind::DidUrlNotFound
    );
    assert_eq!(
        odd_route_error(
            json!([{"id": "#s", "type": "LinkedDomains", "serviceEndpoint": "https://x.example"}])
        )
        .await,
        ErrorKind::DidUrlNotFound
    );
    assert_eq!(
        odd_route_error(
            json!([{"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": ""}}])
        )
        .await,
        ErrorKind::DidUrlNotFound
    );
    // A mediator DID that does not resolve, or whose endpoint is again a DID.
    assert_eq!(
        odd_route_error(json!([{"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": "did:example:gone"}}])).await,
        ErrorKind::DidNotResolved
    );
    assert_eq!(
        odd_route_error(json!([{"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": "did:example:charlie"}}])).await,
        ErrorKind::Unsupported
    );
    // A mediator DID without any DIDComm service.
    assert_eq!(
        odd_route_error(json!([{"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": {"uri": "did:example:mediator1"}}])).await,
        ErrorKind::DidUrlNotFound
    );
}

#[tokio::test]
async fn empty_routing_keys_send_directly_and_services_can_be_chosen() {
    let dc = engine_with_odd(json!([
        {"id": "#v1only", "type": "DIDCommMessaging",
         "serviceEndpoint": {"uri": "https://old.example", "accept": ["didcomm/aip2;env=rfc19"]}},
        {"id": "#direct", "type": "DIDCommMessaging",
         "serviceEndpoint": {"uri": "https://direct.example", "routingKeys": []}},
        {"id": "#legacy", "type": "DIDCommMessaging", "serviceEndpoint": "https://legacy.example",
         "routingKeys": [MEDIATOR1_KEY]}
    ]));
    let packed = authcrypt_to("did:example:bob").await;
    let routed = dc
        .route(&packed, "did:example:odd", &RouteOptions::default())
        .await
        .unwrap();
    assert_eq!(routed.uri, "https://direct.example");
    assert!(routed.hops.is_empty());
    assert_eq!(routed.message, packed);

    // The v2.0 string form with service-level routingKeys, chosen by (relative) id.
    let routed = dc
        .route(
            &packed,
            "did:example:odd",
            &RouteOptions::default().service_id("#legacy"),
        )
        .await
        .unwrap();
    assert_eq!(routed.uri, "https://legacy.example");
    assert_eq!(routed.hops, [MEDIATOR1_KEY]);
    let (next, _) = hop(&engine(&wallet("mediator1-rust")), &routed.message).await;
    assert_eq!(next, "did:example:odd");

    let err = dc
        .route(
            &packed,
            "did:example:odd",
            &RouteOptions::default().service_id("#v1only"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DidUrlNotFound);
    let err = dc
        .route(
            &packed,
            "did:example:odd",
            &RouteOptions::default().service_id("#nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DidUrlNotFound);
}

#[tokio::test]
async fn only_encrypted_messages_are_routed() {
    let alice = engine(&wallet("alice-rust"));
    let plaintext = alice
        .pack_plaintext(&message_to("did:example:bob"))
        .unwrap();
    for input in [
        plaintext.as_str(),
        "",
        "[]",
        "{\"ciphertext\": 1}",
        "not json",
    ] {
        let err = alice
            .route(input, "did:example:bob", &RouteOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::IllegalArgument | ErrorKind::Malformed
            ),
            "{input}: {err}"
        );
    }
    let packed = authcrypt_to("did:example:bob").await;
    let err = alice
        .wrap_in_forward(
            &packed,
            "not a did",
            &[MEDIATOR1_KEY.into()],
            &RouteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IllegalArgument);
}

#[tokio::test]
async fn unwrap_forward_refuses_what_is_not_an_encrypted_forward() {
    let mediator = engine(&wallet("mediator1-rust"));
    // A plaintext forward.
    let forward = Forward::new("did:example:bob", authcrypt_to("did:example:bob").await)
        .to_message()
        .unwrap();
    let plaintext = mediator.pack_plaintext(&forward).unwrap();
    assert_eq!(
        mediator
            .unwrap_forward(&plaintext)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Malformed
    );
    // An encrypted message that is not a forward.
    let alice = engine(&wallet("alice-rust"));
    let not_forward = Message::build("x", "https://didcomm.org/trust-ping/2.0/ping", json!({}))
        .to("did:example:mediator1");
    let (packed, _) = alice
        .pack_encrypted(
            &not_forward,
            "did:example:mediator1",
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        mediator.unwrap_forward(&packed).await.unwrap_err().kind(),
        ErrorKind::Malformed
    );
}

#[test]
fn forward_messages_round_trip_and_reject_malformed_bodies() {
    // Keys in sorted order: JSON attachments are re-serialized with sorted keys.
    let inner = r#"{"ciphertext":"","iv":"","protected":"e30","recipients":[],"tag":""}"#;
    let forward = Forward::new("did:example:bob", inner);
    let message = forward.to_message().unwrap();
    assert_eq!(message.type_, didcomm_edge::routing::FORWARD_TYPE);
    let attachment = &message.attachments.as_ref().unwrap()[0];
    assert_eq!(
        attachment.media_type.as_deref(),
        Some("application/didcomm-encrypted+json")
    );
    let read = Forward::from_message(&message).unwrap();
    assert_eq!(read, forward);
    // The same through JSON text, as a mediator receives it.
    let reparsed = Message::from_json(&message.to_json().unwrap(), Default::default()).unwrap();
    assert_eq!(Forward::from_message(&reparsed).unwrap(), forward);

    // A base64 attachment is read too.
    let mut b64 = message.clone();
    b64.attachments = Some(vec![didcomm_edge::Attachment::base64(
        "a",
        inner.as_bytes(),
    )]);
    assert_eq!(Forward::from_message(&b64).unwrap().messages, [inner]);

    let base = message.to_value().unwrap();
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        Message::from_value(v, Default::default()).unwrap()
    };
    let bad = [
        mutate(&|v| v["type"] = json!("https://didcomm.org/routing/1.0/forward")),
        mutate(&|v| v["body"] = json!({})),
        mutate(&|v| v["body"]["next"] = json!(42)),
        mutate(&|v| v["body"]["next"] = json!("")),
        mutate(&|v| v["body"]["next"] = json!("bob")),
        mutate(&|v| {
            v.as_object_mut().unwrap().remove("attachments");
        }),
        mutate(&|v| v["attachments"] = json!([])),
        mutate(&|v| v["attachments"][0]["data"] = json!({"json": "a string"})),
        mutate(&|v| v["attachments"][0]["data"] = json!({"base64": "bm90IGpzb24"})),
        mutate(&|v| v["attachments"][0]["data"] = json!({"base64": "W10"})),
        mutate(&|v| v["attachments"][0]["data"] = json!({"base64": "not base64!"})),
        mutate(&|v| v["attachments"][0]["data"] = json!({"hash": "abc"})),
        mutate(&|v| v["delay_milli"] = json!("soon")),
    ];
    for (i, m) in bad.iter().enumerate() {
        let err = Forward::from_message(m).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "case {i}: {err}");
    }
    let links = mutate(&|v| {
        v["attachments"][0]["data"] = json!({"links": ["https://cdn.example/x"], "hash": "abc"})
    });
    assert_eq!(
        Forward::from_message(&links).unwrap_err().kind(),
        ErrorKind::Unsupported
    );

    // Building refuses what it cannot write.
    assert!(Forward::new("bob", inner).to_message().is_err());
    assert!(Forward::new("did:example:bob", "[1]").to_message().is_err());
    assert!(Forward::new("did:example:bob", "{").to_message().is_err());
    let mut none = Forward::new("did:example:bob", inner);
    none.messages.clear();
    assert!(none.to_message().is_err());
}

// ---------------------------------------------------------------------------------------------
// Interop with the reference `didcomm` crate.

mod reference {
    use super::*;
    use didcomm::did::resolvers::ExampleDIDResolver;
    use didcomm::did::DIDDoc;
    use didcomm::secrets::resolvers::ExampleSecretsResolver;

    /// Our documents in the reference crate's model (it wants every list present).
    pub fn did_docs(docs: &[DidDocument]) -> Vec<DIDDoc> {
        docs.iter()
            .map(|d| {
                let mut v = d.to_value().unwrap();
                let o = v.as_object_mut().unwrap();
                for key in [
                    "verificationMethod",
                    "keyAgreement",
                    "authentication",
                    "service",
                ] {
                    o.entry(key).or_insert(json!([]));
                }
                serde_json::from_value(v).unwrap()
            })
            .collect()
    }

    pub fn resolver(docs: &[DidDocument]) -> ExampleDIDResolver {
        ExampleDIDResolver::new(did_docs(docs))
    }

    pub fn secrets(secrets: &[Secret]) -> ExampleSecretsResolver {
        ExampleSecretsResolver::new(
            secrets
                .iter()
                .map(|s| {
                    let mut v = serde_json::to_value(s).unwrap();
                    let o = v.as_object_mut().unwrap();
                    let kid = o.remove("kid").unwrap();
                    o.insert("id".into(), kid);
                    serde_json::from_value(v).unwrap()
                })
                .collect(),
        )
    }

    pub fn of_wallet(name: &str) -> (ExampleDIDResolver, ExampleSecretsResolver) {
        let w = wallet(name);
        (resolver(&w.did_docs), secrets(&w.secrets))
    }

    /// The reference crate's mediator step: unpack (without unwrapping re-wrapped forwards)
    /// and read the forward.
    pub async fn hop(name: &str, packed: &str) -> (String, String) {
        let (r, s) = of_wallet(name);
        let options = didcomm::UnpackOptions {
            unwrap_re_wrapping_forward: false,
            ..didcomm::UnpackOptions::default()
        };
        let (msg, meta) = didcomm::Message::unpack(packed, &r, &s, &options)
            .await
            .unwrap();
        assert!(meta.encrypted && meta.anonymous_sender);
        let parsed = didcomm::protocols::routing::try_parse_forward(&msg)
            .unwrap_or_else(|| panic!("{name}: not a forward"));
        (
            parsed.next,
            serde_json::to_string(&parsed.forwarded_msg).unwrap(),
        )
    }
}

fn reference_message(to: &str) -> didcomm::Message {
    didcomm::Message::build(
        "1234567890".into(),
        "https://didcomm.org/basicmessage/2.0/message".into(),
        json!({"content": "routed"}),
    )
    .from("did:example:alice".into())
    .to(to.into())
    .created_time(1_700_000_000)
    .finalize()
}

#[tokio::test]
async fn reference_pack_with_forward_is_unwrapped_by_our_mediators() {
    let (r, s) = reference::of_wallet("alice-rust");
    let options = didcomm::PackEncryptedOptions {
        forward: true,
        ..didcomm::PackEncryptedOptions::default()
    };
    let (packed, meta) = reference_message("did:example:charlie")
        .pack_encrypted(
            "did:example:charlie",
            Some("did:example:alice"),
            None,
            &r,
            &s,
            &options,
        )
        .await
        .unwrap();
    // Both libraries plan the same route.
    let ours = engine(&wallet("alice-rust"))
        .resolve_route("did:example:charlie", &RouteOptions::default())
        .await
        .unwrap();
    let service = meta.messaging_service.unwrap();
    assert_eq!(service.service_endpoint, ours.uri);
    assert_eq!(service.id, ours.service_id);

    let (next, layer) = hop(&engine(&wallet("mediator3-rust")), &packed).await;
    assert_eq!(next, MEDIATOR2_KEY);
    let (next, layer) = hop(&engine(&wallet("mediator2-rust")), &layer).await;
    assert_eq!(next, MEDIATOR1_KEY);
    let (next, inner) = hop(&engine(&wallet("mediator1-rust")), &layer).await;
    assert_eq!(next, "did:example:charlie");
    let (received, meta) = engine(&wallet("charlie-rust"))
        .unpack(&inner, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, message_to("did:example:charlie"));
    assert!(meta.authenticated);
}

#[tokio::test]
async fn reference_pack_to_bob_is_unwrapped_by_our_mediator1() {
    let (r, s) = reference::of_wallet("alice-rust");
    let (packed, meta) = reference_message("did:example:bob")
        .pack_encrypted(
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &r,
            &s,
            &didcomm::PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        meta.messaging_service.unwrap().service_endpoint,
        "http://example.com/path"
    );
    let (next, inner) = hop(&engine(&wallet("mediator1-rust")), &packed).await;
    assert_eq!(next, "did:example:bob");
    let (received, _) = engine(&wallet("bob-rust"))
        .unpack(&inner, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, message_to("did:example:bob"));
}

#[tokio::test]
async fn our_route_is_unwrapped_by_the_reference_crate() {
    let packed = authcrypt_to("did:example:charlie").await;
    let routed = engine(&wallet("alice-rust"))
        .route(&packed, "did:example:charlie", &RouteOptions::default())
        .await
        .unwrap();
    let (next, layer) = reference::hop("mediator3-rust", &routed.message).await;
    assert_eq!(next, MEDIATOR2_KEY);
    let (next, layer) = reference::hop("mediator2-rust", &layer).await;
    assert_eq!(next, MEDIATOR1_KEY);
    let (next, inner) = reference::hop("mediator1-rust", &layer).await;
    assert_eq!(next, "did:example:charlie");
    let (r, s) = reference::of_wallet("charlie-rust");
    let (received, meta) =
        didcomm::Message::unpack(&inner, &r, &s, &didcomm::UnpackOptions::default())
            .await
            .unwrap();
    assert_eq!(received.body, json!({"content": "routed"}));
    assert_eq!(received.from.as_deref(), Some("did:example:alice"));
    assert!(meta.authenticated);
}

#[tokio::test]
async fn did_key_hops_interoperate_both_ways() {
    let mediators: Vec<Party> = (0..2).map(|_| did_key_party()).collect();
    let recipient = did_key_party();
    let mut docs: Vec<DidDocument> = mediators.iter().map(|m| m.doc.clone()).collect();
    docs.push(recipient.doc.clone());
    let hops: Vec<String> = mediators.iter().map(|m| m.kid.clone()).collect();
    let resolver = Arc::new(InMemoryDidResolver::new(docs.clone()));
    let sender = DidComm::new(resolver, Arc::new(InMemorySecrets::default()));
    let msg = Message::build(
        "m-2",
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "x"}),
    )
    .to(recipient.did.clone());
    let (packed, _) = sender
        .pack_encrypted(
            &msg,
            &recipient.did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let ref_resolver = reference::resolver(&docs);

    // Ours wraps, the reference crate unwraps each hop.
    let wrapped = sender
        .wrap_in_forward(&packed, &recipient.did, &hops, &RouteOptions::default())
        .await
        .unwrap();
    let mut current = wrapped;
    for (i, m) in mediators.iter().enumerate() {
        let secrets = reference::secrets(std::slice::from_ref(&m.secret));
        let (unpacked, _) = didcomm::Message::unpack(
            &current,
            &ref_resolver,
            &secrets,
            &didcomm::UnpackOptions {
                unwrap_re_wrapping_forward: false,
                ..didcomm::UnpackOptions::default()
            },
        )
        .await
        .unwrap();
        let parsed = didcomm::protocols::routing::try_parse_forward(&unpacked).unwrap();
        let expected = hops.get(i + 1).cloned().unwrap_or(recipient.did.clone());
        assert_eq!(parsed.next, expected);
        current = serde_json::to_string(&parsed.forwarded_msg).unwrap();
    }
    assert_eq!(
        serde_json::from_str::<Value>(&current).unwrap(),
        serde_json::from_str::<Value>(&packed).unwrap()
    );

    // The reference crate wraps, ours unwraps each hop.
    let wrapped = didcomm::protocols::routing::wrap_in_forward(
        &packed,
        None,
        &recipient.did,
        &hops,
        &didcomm::algorithms::AnonCryptAlg::default(),
        &ref_resolver,
    )
    .await
    .unwrap();
    let mut current = wrapped;
    for (i, m) in mediators.iter().enumerate() {
        let (next, inner) = hop(&party_engine(&docs, m), &current).await;
        let expected = hops.get(i + 1).cloned().unwrap_or(recipient.did.clone());
        assert_eq!(next, expected);
        current = inner;
    }
    let (received, _) = party_engine(&docs, &recipient)
        .unpack(&current, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(received, msg);
}

/// A forward read from text hands on its attached messages exactly as written (member order
/// and spacing), in `json` and in `base64`; writing the forward again keeps them; a message
/// whose attachment was changed after reading is written as changed.
#[test]
fn forwarded_messages_keep_their_bytes() {
    let packed = r#"{ "tag":"t", "protected" : "e30",
        "ciphertext":"c","iv":"i","recipients":[{"header":{"kid":"did:example:b#1"},"encrypted_key":"k"}] }"#;
    let forward_text = format!(
        r#"{{"id":"f","type":"https://didcomm.org/routing/2.0/forward","body":{{"next":"did:example:b"}},
          "attachments":[{{"data":{{"json": {packed} }}}},{{"data":{{"base64":"{}"}}}}]}}"#,
        B64.encode(packed)
    );
    let message = Message::from_json(&forward_text, Default::default()).unwrap();
    let attachments = message.attachments.as_deref().unwrap();
    assert_eq!(attachments[0].data.json_text(), Some(packed));
    assert_eq!(
        attachments[0].data.inline_form(),
        Some(didcomm_edge::AttachmentForm::Json)
    );
    assert_eq!(
        attachments[1].data.inline_form(),
        Some(didcomm_edge::AttachmentForm::Base64)
    );
    let forward = Forward::from_message(&message).unwrap();
    assert_eq!(forward.messages, [packed, packed]);

    // Written again (a mediator re-wrapping it, say): still the sender's text.
    let written = message.to_json().unwrap();
    assert!(written.contains(packed), "{written}");
    let again = Forward::from_message(&Message::from_json(&written, Default::default()).unwrap());
    assert_eq!(again.unwrap().messages, [packed, packed]);
    // Our own forwards attach the packed message as it is, too.
    let ours = Forward::new("did:example:b", packed).to_message().unwrap();
    assert!(ours.to_json().unwrap().contains(packed));

    // A changed attachment is written as it now is, not as it was received.
    let mut changed = message.clone();
    changed.attachments.as_mut().unwrap()[0].data.json = Some(json!({ "protected": "x" }));
    let written = changed.to_json().unwrap();
    assert!(!written.contains(packed) && written.contains(r#"{"protected":"x"}"#));
    assert_eq!(
        changed.attachments.as_deref().unwrap()[0].data.json_text(),
        None
    );
    // Equality is about content, not spelling.
    let compact = Message::from_json(&message.to_value().unwrap().to_string(), Default::default());
    assert_eq!(compact.unwrap(), message);
}

/// Unpacking keeps the attached texts of the message it returns, as `from_json` does.
#[tokio::test]
async fn unpacked_messages_keep_their_attached_bytes() {
    let packed = r#"{"z":1, "a" : [2, 1]}"#;
    let text = format!(
        r#"{{"id":"m","type":"https://example.org/t","body":{{}},"attachments":[{{"id":"x","data":{{"json":{packed}}}}}]}}"#
    );
    let engine = DidComm::new(
        Arc::new(InMemoryDidResolver::new([])),
        Arc::new(InMemorySecrets::new([])),
    );
    let (message, _) = engine
        .unpack(&text, &UnpackOptions::default())
        .await
        .unwrap();
    let attachments = message.attachments.unwrap();
    assert_eq!(attachments[0].data.json_text(), Some(packed));
}

/// A recipient's DIDComm service in each form DIDComm v2.0 and v2.1 allow, inside did:peer:2
/// and did:peer:4 documents: resolved, routed (one forward for the mediator's key), unwrapped
/// by that mediator and read by the recipient, with the same result for every form.
#[tokio::test]
async fn every_service_endpoint_form_resolves_routes_and_delivers() {
    use didcomm_edge::did::methods::peer::{encode_peer2, encode_peer4, Purpose};
    use didcomm_edge::{DidCommService, Identity, IdentityMethod, ResolverChain};

    let uri = "https://mediator.example/didcomm";
    let mediator =
        Identity::generate(IdentityMethod::Peer2, Some(&DidCommService::new(uri))).unwrap();
    let mediator_key = format!("{}#key-2", mediator.did);
    let accept = ["didcomm/v2"];
    // The spec's forms: v2.0 (a string, `routingKeys` and `accept` beside it), v2.1 (an
    // object), an array of objects, and an array with a v1-only entry first (skipped).
    let forms = [
        json!({"type": "DIDCommMessaging", "serviceEndpoint": uri,
               "routingKeys": [mediator_key], "accept": accept}),
        json!({"type": "DIDCommMessaging",
               "serviceEndpoint": {"uri": uri, "routingKeys": [mediator_key], "accept": accept}}),
        json!({"type": "DIDCommMessaging",
               "serviceEndpoint": [{"uri": uri, "routingKeys": [mediator_key], "accept": accept}]}),
        json!({"type": "DIDCommMessaging", "serviceEndpoint": [
               {"uri": "https://v1.example", "accept": ["didcomm/aip2;env=rfc19"]},
               {"uri": uri, "routingKeys": [mediator_key]}]}),
    ];
    let sender = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::new([])),
    );
    let at_mediator = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::new(mediator.secrets.clone())),
    );
    for (n, service) in forms.iter().enumerate() {
        let signing = KeyPair::generate(KeyType::Ed25519).unwrap();
        let agreement = KeyPair::generate(KeyType::X25519).unwrap();
        let peer2 = encode_peer2(
            &[
                (Purpose::Verification, signing.public().clone()),
                (Purpose::Encryption, agreement.public().clone()),
            ],
            std::slice::from_ref(service),
        )
        .unwrap();
        let mut with_id = service.clone();
        with_id["id"] = json!("#didcomm");
        let peer4 = encode_peer4(&json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
            "verificationMethod": [
                {"id": "#key-1", "type": "Multikey",
                 "publicKeyMultibase": multikey::public_key_to_multibase(signing.public())},
                {"id": "#key-2", "type": "Multikey",
                 "publicKeyMultibase": multikey::public_key_to_multibase(agreement.public())}],
            "authentication": ["#key-1"],
            "keyAgreement": ["#key-2"],
            "service": [with_id],
        }))
        .unwrap();
        for did in [peer2, peer4] {
            let case = format!("form {n}, {}", &did[..10]);
            let recipient = DidComm::new(
                Arc::new(ResolverChain::new()),
                Arc::new(InMemorySecrets::new([Secret::from_key_pair_jwk(
                    format!("{did}#key-2"),
                    &agreement,
                )])),
            );
            let message = Message::build("m", "https://example.org/t", json!({"n": n})).to(&did);
            let (packed, _) = sender
                .pack_encrypted(&message, &did, None, None, &PackEncryptedOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let routed = sender
                .route(&packed, &did, &RouteOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(routed.uri, uri, "{case}");
            assert_eq!(routed.hops, std::slice::from_ref(&mediator_key), "{case}");
            let (next, inner) = hop(&at_mediator, &routed.message).await;
            assert_eq!(
                (next.as_str(), inner.as_str()),
                (did.as_str(), packed.as_str()),
                "{case}"
            );
            let (read, _) = recipient
                .unpack(&inner, &UnpackOptions::default())
                .await
                .unwrap();
            assert_eq!(read.body, Some(json!({"n": n})), "{case}");
        }
    }
}
