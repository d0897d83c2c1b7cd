//! Interop, both directions, with the reference Rust library (`didcomm` 0.4.1) on everything it
//! supports: plaintext; signed with EdDSA, ES256, ES256K; anoncrypt on X25519 and P-256 with each
//! content encryption; authcrypt on X25519 and P-256; protect_sender; sign-then-encrypt.
//! (The reference has no P-384, P-521 or secp256k1 key agreement; those are covered by the
//! spec's own vectors in `vectors.rs`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use didcomm_edge::{ContentEncAlg, Message, PackEncryptedOptions, UnpackOptions, Wallet};
use didcomm_reference::algorithms::AnonCryptAlg as RefAnon;
use didcomm_reference::did::resolvers::ExampleDIDResolver;
use didcomm_reference::secrets::resolvers::ExampleSecretsResolver;
use serde_json::{json, Value};

use common::*;

struct Reference {
    resolver: ExampleDIDResolver,
    alice: ExampleSecretsResolver,
    bob: ExampleSecretsResolver,
}

fn reference_secrets(wallet: &Wallet) -> ExampleSecretsResolver {
    let secrets = wallet
        .secrets
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap();
            let kid = v.as_object_mut().unwrap().remove("kid").unwrap();
            v["id"] = kid;
            serde_json::from_value(v).unwrap()
        })
        .collect();
    ExampleSecretsResolver::new(secrets)
}

fn reference() -> Reference {
    let alice = wallet("alice-rust");
    let bob = wallet("bob-rust");
    let docs = alice
        .did_docs
        .iter()
        .map(|d| {
            // The reference's document type wants every list present, even empty.
            let mut v = d.to_value().unwrap();
            for field in [
                "keyAgreement",
                "authentication",
                "verificationMethod",
                "service",
            ] {
                if v.get(field).is_none() {
                    v[field] = json!([]);
                }
            }
            serde_json::from_value(v).unwrap()
        })
        .collect();
    Reference {
        resolver: ExampleDIDResolver::new(docs),
        alice: reference_secrets(&alice),
        bob: reference_secrets(&bob),
    }
}

fn our_message() -> Message {
    Message::build(
        "interop-1",
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "interop", "n": 42}),
    )
    .from("did:example:alice")
    .to("did:example:bob")
    .created_time(1_700_000_000)
    .expires_time(4_000_000_000)
    .header("lang", json!("en"))
}

fn reference_message() -> didcomm_reference::Message {
    serde_json::from_value(our_message().to_value().unwrap()).unwrap()
}

fn ref_anon(enc: ContentEncAlg) -> RefAnon {
    match enc {
        ContentEncAlg::A256CbcHs512 => RefAnon::A256cbcHs512EcdhEsA256kw,
        ContentEncAlg::A256Gcm => RefAnon::A256gcmEcdhEsA256kw,
        ContentEncAlg::Xc20P => RefAnon::Xc20pEcdhEsA256kw,
        _ => unreachable!(),
    }
}

const ENCS: [ContentEncAlg; 3] = [
    ContentEncAlg::A256CbcHs512,
    ContentEncAlg::A256Gcm,
    ContentEncAlg::Xc20P,
];

/// One encrypted case, run in both directions.
struct Case {
    to: &'static str,
    from: Option<&'static str>,
    sign_by: Option<&'static str>,
    enc: ContentEncAlg,
    protect_sender: bool,
}

fn cases() -> Vec<Case> {
    let mut cases = vec![];
    for to in ["did:example:bob", "did:example:bob#key-p256-1"] {
        for enc in ENCS {
            cases.push(Case {
                to,
                from: None,
                sign_by: None,
                enc,
                protect_sender: false,
            });
        }
        cases.push(Case {
            to,
            from: None,
            sign_by: Some("did:example:alice#key-1"),
            enc: ContentEncAlg::A256Gcm,
            protect_sender: false,
        });
    }
    for (to, from) in [
        ("did:example:bob", "did:example:alice"),
        ("did:example:bob#key-p256-2", "did:example:alice#key-p256-1"),
    ] {
        cases.push(Case {
            to,
            from: Some(from),
            sign_by: None,
            enc: ContentEncAlg::A256CbcHs512,
            protect_sender: false,
        });
        for enc in ENCS {
            cases.push(Case {
                to,
                from: Some(from),
                sign_by: None,
                enc,
                protect_sender: true,
            });
        }
        for sign_by in [
            "did:example:alice#key-1",
            "did:example:alice#key-2",
            "did:example:alice#key-3",
        ] {
            cases.push(Case {
                to,
                from: Some(from),
                sign_by: Some(sign_by),
                enc: ContentEncAlg::Xc20P,
                protect_sender: true,
            });
        }
    }
    cases
}

fn check_message(got: Value, case: &str) {
    let expected = our_message().to_value().unwrap();
    for field in [
        "id",
        "type",
        "from",
        "to",
        "body",
        "created_time",
        "expires_time",
        "lang",
    ] {
        assert_eq!(got[field], expected[field], "{case}: field {field}");
    }
}

#[tokio::test]
async fn ours_to_reference_encrypted() {
    let r = reference();
    let alice = engine(&wallet("alice-rust"));
    for case in cases() {
        let name = format!(
            "{}->{} sign={:?} {} protect={}",
            case.from.unwrap_or("anon"),
            case.to,
            case.sign_by,
            case.enc,
            case.protect_sender
        );
        let options = PackEncryptedOptions::default()
            .enc_alg_anon(case.enc)
            .protect_sender(case.protect_sender);
        let (packed, meta) = alice
            .pack_encrypted(&our_message(), case.to, case.from, case.sign_by, &options)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (msg, ref_meta) = didcomm_reference::Message::unpack(
            &packed,
            &r.resolver,
            &r.bob,
            &didcomm_reference::UnpackOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: reference unpack: {e}"));
        check_message(serde_json::to_value(&msg).unwrap(), &name);
        assert!(ref_meta.encrypted, "{name}");
        assert_eq!(
            ref_meta.authenticated,
            case.from.is_some() || case.sign_by.is_some(),
            "{name}"
        );
        assert_eq!(ref_meta.non_repudiation, case.sign_by.is_some(), "{name}");
        assert_eq!(
            ref_meta.anonymous_sender,
            case.from.is_none() || case.protect_sender,
            "{name}"
        );
        assert_eq!(ref_meta.encrypted_from_kid, meta.from_kid, "{name}");
        assert_eq!(ref_meta.sign_from, meta.sign_by_kid, "{name}");
        let mut ref_to = ref_meta.encrypted_to_kids.unwrap();
        ref_to.sort();
        let mut our_to = meta.to_kids.clone();
        our_to.sort();
        assert_eq!(ref_to, our_to, "{name}");
        if case.from.is_none() || case.protect_sender {
            assert_eq!(ref_meta.enc_alg_anon, Some(ref_anon(case.enc)), "{name}");
        }
    }
}

#[tokio::test]
async fn reference_to_ours_encrypted() {
    let r = reference();
    let bob = engine(&wallet("bob-rust"));
    let mut n = 0;
    for case in cases() {
        let name = format!(
            "{}->{} sign={:?} {} protect={}",
            case.from.unwrap_or("anon"),
            case.to,
            case.sign_by,
            case.enc,
            case.protect_sender
        );
        let options = didcomm_reference::PackEncryptedOptions {
            protect_sender: case.protect_sender,
            forward: false,
            enc_alg_anon: ref_anon(case.enc),
            ..Default::default()
        };
        let (packed, ref_meta) = reference_message()
            .pack_encrypted(
                case.to,
                case.from,
                case.sign_by,
                &r.resolver,
                &r.alice,
                &options,
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: reference pack: {e}"));
        let (msg, meta) = bob
            .unpack(&packed, &UnpackOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: our unpack: {e}"));
        check_message(msg.to_value().unwrap(), &name);
        assert!(meta.encrypted, "{name}");
        assert_eq!(
            meta.authenticated,
            case.from.is_some() || case.sign_by.is_some(),
            "{name}"
        );
        assert_eq!(meta.non_repudiation, case.sign_by.is_some(), "{name}");
        assert_eq!(
            meta.anonymous_sender,
            case.from.is_none() || case.protect_sender,
            "{name}"
        );
        assert_eq!(meta.encrypted_from_kid, ref_meta.from_kid, "{name}");
        assert_eq!(meta.sign_from, ref_meta.sign_by_kid, "{name}");
        if case.from.is_none() || case.protect_sender {
            assert_eq!(
                meta.enc_alg_anon.map(|a| a.as_str().to_owned()),
                Some(format!("ECDH-ES+A256KW/{}", case.enc)),
                "{name}"
            );
        }
        n += 1;
    }
    assert_eq!(n, cases().len());
}

#[tokio::test]
async fn signed_both_ways() {
    let r = reference();
    let alice = engine(&wallet("alice-rust"));
    let bob = engine(&wallet("bob-rust"));
    for (kid, alg) in [
        ("did:example:alice#key-1", "EdDSA"),
        ("did:example:alice#key-2", "ES256"),
        ("did:example:alice#key-3", "ES256K"),
    ] {
        // Ours -> reference.
        let (jws, meta) = alice.pack_signed(&our_message(), kid).await.unwrap();
        assert_eq!(meta.sign_alg, alg);
        let (msg, ref_meta) = didcomm_reference::Message::unpack(
            &jws,
            &r.resolver,
            &r.bob,
            &didcomm_reference::UnpackOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{kid}: reference unpack: {e}"));
        check_message(serde_json::to_value(&msg).unwrap(), kid);
        assert!(ref_meta.non_repudiation && ref_meta.authenticated);
        assert_eq!(ref_meta.sign_from.as_deref(), Some(kid));
        // Reference -> ours.
        let (jws, _) = reference_message()
            .pack_signed(kid, &r.resolver, &r.alice)
            .await
            .unwrap();
        let (msg, meta) = bob.unpack(&jws, &UnpackOptions::default()).await.unwrap();
        check_message(msg.to_value().unwrap(), kid);
        assert_eq!(meta.sign_alg.map(|a| a.as_str()), Some(alg));
        assert_eq!(meta.sign_from.as_deref(), Some(kid));
    }
}

#[tokio::test]
async fn plaintext_both_ways() {
    let r = reference();
    let alice = engine(&wallet("alice-rust"));
    let bob = engine(&wallet("bob-rust"));
    let ours = alice.pack_plaintext(&our_message()).unwrap();
    let (msg, _) = didcomm_reference::Message::unpack(
        &ours,
        &r.resolver,
        &r.bob,
        &didcomm_reference::UnpackOptions::default(),
    )
    .await
    .unwrap();
    check_message(serde_json::to_value(&msg).unwrap(), "plaintext ours->ref");
    let theirs = reference_message()
        .pack_plaintext(&r.resolver)
        .await
        .unwrap();
    let (msg, meta) = bob
        .unpack(&theirs, &UnpackOptions::default())
        .await
        .unwrap();
    check_message(msg.to_value().unwrap(), "plaintext ref->ours");
    assert!(!meta.encrypted && !meta.authenticated);
}

#[tokio::test]
async fn from_prior_both_ways() {
    // Charlie rotates to Alice: the from_prior JWT is issued by Charlie's key.
    let r = reference();
    let mut charlie_and_alice = wallet("alice-rust");
    charlie_and_alice.merge(wallet("charlie-rust"));
    let ours = engine(&charlie_and_alice);
    let claims = didcomm_edge::FromPrior::new("did:example:charlie", "did:example:alice");
    let (jwt, kid) = ours.pack_from_prior(&claims, None).await.unwrap();
    assert_eq!(kid, "did:example:charlie#key-1");
    let message = our_message().from_prior(jwt);
    let (packed, _) = ours
        .pack_encrypted(
            &message,
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let (_, ref_meta) = didcomm_reference::Message::unpack(
        &packed,
        &r.resolver,
        &r.bob,
        &didcomm_reference::UnpackOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        ref_meta.from_prior_issuer_kid.as_deref(),
        Some("did:example:charlie#key-1")
    );
    let ref_claims = ref_meta.from_prior.unwrap();
    assert_eq!(
        (ref_claims.iss.as_str(), ref_claims.sub.as_str()),
        ("did:example:charlie", "did:example:alice")
    );

    // Reference -> ours: its FromPrior::pack with Charlie's secret, then our unpack verifies it.
    let mut charlie_secrets = wallet("charlie-rust");
    charlie_secrets.merge(wallet("alice-rust"));
    let ref_secrets = reference_secrets(&charlie_secrets);
    let ref_claims = didcomm_reference::FromPrior::build(
        "did:example:charlie".into(),
        "did:example:alice".into(),
    )
    .iat(1_700_000_000)
    .finalize();
    let (jwt, kid) = ref_claims
        .pack(None, &r.resolver, &ref_secrets)
        .await
        .unwrap();
    assert_eq!(kid, "did:example:charlie#key-1");
    let bob = engine(&wallet("bob-rust"));
    let message = our_message().from_prior(jwt);
    let (_, meta) = bob
        .unpack(&message.to_json().unwrap(), &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(
        meta.from_prior_issuer_kid.as_deref(),
        Some("did:example:charlie#key-1")
    );
    assert_eq!(meta.from_prior.unwrap().iat, Some(1_700_000_000));
}
