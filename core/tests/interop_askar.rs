#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Messages packed by PyPI `didcomm-messaging` 0.1.1 on Askar (tests/data/askar, written by its
//! generate.py): its anoncrypt puts a fresh `epk` in each recipient's `header`, its authcrypt one
//! `epk` in the protected header (with the `typ` "application/didcomm+encrypted").

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use std::sync::Arc;

use didcomm_edge::{DidComm, ErrorKind, UnpackOptions, Wallet};
use serde_json::{json, Value};

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/askar/vectors.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn vector(id: &str) -> Value {
    vectors().into_iter().find(|v| v["id"] == id).unwrap()
}

fn engine(v: &Value) -> DidComm {
    let wallet = Wallet::from_json(&v["wallet"].to_string()).unwrap();
    DidComm::new(
        Arc::new(wallet.resolver()),
        Arc::new(wallet.secrets_store()),
    )
}

/// The error of unpacking `packed`, every recipient key we hold required to open it (else a
/// tampered slot of one recipient is passed over for the next).
async fn unpack_kind(v: &Value, packed: &Value) -> ErrorKind {
    let all_keys = UnpackOptions::default().expect_decrypt_by_all_keys(true);
    engine(v)
        .unpack(&packed.to_string(), &all_keys)
        .await
        .expect_err("a tampered message must be refused")
        .kind()
}

fn protected_header(packed: &Value) -> Value {
    let bytes = B64.decode(packed["protected"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn set_protected_header(packed: &mut Value, header: &Value) {
    packed["protected"] = json!(B64.encode(header.to_string()));
}

#[tokio::test]
async fn every_vector_unpacks_to_its_plaintext() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 9);
    for v in &vectors {
        let id = v["id"].as_str().unwrap();
        let expected = &v["expected"];
        for options in [
            UnpackOptions::default(),
            // Every recipient key we hold must open it (two-recipient vectors: two epks).
            UnpackOptions::default().expect_decrypt_by_all_keys(true),
        ] {
            let (message, meta) = engine(v)
                .unpack(v["packed"].as_str().unwrap(), &options)
                .await
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                serde_json::to_value(&message).unwrap(),
                expected["message"],
                "{id}"
            );
            let authenticated = expected["authenticated"].as_bool().unwrap();
            assert!(meta.encrypted, "{id}");
            assert_eq!(meta.authenticated, authenticated, "{id}");
            assert_eq!(meta.anonymous_sender, !authenticated, "{id}");
            assert_eq!(
                meta.encrypted_from_kid.as_deref(),
                expected["encrypted_from_kid"].as_str(),
                "{id}"
            );
            let mut to = meta.encrypted_to_kids.clone().unwrap();
            to.sort();
            assert_eq!(json!(to), expected["encrypted_to_kids"], "{id}");
        }
    }
}

#[tokio::test]
async fn anoncrypt_vectors_carry_epk_per_recipient_only() {
    // What the vectors exercise: no epk in the protected header, one epk per recipient, and a
    // different ephemeral key for each.
    for v in vectors()
        .iter()
        .filter(|v| v["expected"]["authenticated"] == false)
    {
        let packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
        assert!(protected_header(&packed).get("epk").is_none());
        let epks: Vec<&Value> = packed["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["header"]["epk"])
            .collect();
        assert!(epks.iter().all(|e| e.is_object()), "{}", v["id"]);
        assert!(epks.windows(2).all(|w| w[0] != w[1]), "{}", v["id"]);
    }
}

#[tokio::test]
async fn a_tampered_per_recipient_epk_is_refused() {
    // Another X25519 point: every 32 bytes are one, so the key unwrap fails.
    let v = vector("anoncrypt-did-key-x25519");
    let mut packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
    let epk = &mut packed["recipients"][0]["header"]["epk"];
    let mut x = B64.decode(epk["x"].as_str().unwrap()).unwrap();
    x[5] ^= 0x01;
    epk["x"] = json!(B64.encode(&x));
    assert_eq!(unpack_kind(&v, &packed).await, ErrorKind::DecryptionFailed);

    // A secp256k1 epk moved off the curve is refused before any key agreement.
    let v = vector("anoncrypt-did-key-secp256k1");
    let mut packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
    let epk = &mut packed["recipients"][0]["header"]["epk"];
    let mut y = B64.decode(epk["y"].as_str().unwrap()).unwrap();
    y[3] ^= 0x40;
    epk["y"] = json!(B64.encode(&y));
    let err = engine(&v)
        .unpack(&packed.to_string(), &UnpackOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.reason().contains("epk"), "{err}");
}

#[tokio::test]
async fn per_recipient_epk_keeps_the_protected_header_checks() {
    let v = vector("anoncrypt-did-peer-2-x25519-and-secp256k1-recipients");
    let packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();

    // The epk of the secp256k1 recipient given to the X25519 one: the key types differ.
    let mut swapped = packed.clone();
    swapped["recipients"][0]["header"]["epk"] = packed["recipients"][1]["header"]["epk"].clone();
    assert_eq!(unpack_kind(&v, &swapped).await, ErrorKind::Malformed);
    // The other recipient's slot is intact: by default its key opens the message.
    engine(&v)
        .unpack(&swapped.to_string(), &UnpackOptions::default())
        .await
        .unwrap();

    // A recipient without an epk, where the protected header has none either.
    let mut missing = packed.clone();
    missing["recipients"][1]["header"]
        .as_object_mut()
        .unwrap()
        .remove("epk");
    assert_eq!(unpack_kind(&v, &missing).await, ErrorKind::Malformed);

    // Not a JWK, and a coordinate too long to be one (bounded before decoding).
    let long = json!({"kty": "OKP", "crv": "X25519", "x": "A".repeat(100_000)});
    for (bad, kind) in [
        (json!("epk"), ErrorKind::Malformed),
        (long, ErrorKind::TooLarge),
    ] {
        let mut bad_epk = packed.clone();
        bad_epk["recipients"][0]["header"]["epk"] = bad;
        assert_eq!(unpack_kind(&v, &bad_epk).await, kind);
    }
}

#[tokio::test]
async fn epk_in_both_headers_is_refused() {
    // RFC 7516 section 7.2.1: the protected, shared and per-recipient header names are disjoint.
    // Refused even with the same value: no producer writes both, and a reader that chose one
    // would read a different message from the one another reader chose.
    let v = vector("anoncrypt-did-key-x25519");
    let packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
    let mut both = packed.clone();
    let mut header = protected_header(&packed);
    header["epk"] = packed["recipients"][0]["header"]["epk"].clone();
    set_protected_header(&mut both, &header);
    let err = engine(&v)
        .unpack(&both.to_string(), &UnpackOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.reason().contains("epk"), "{err}");

    // An authcrypt epk copied into the recipient header too.
    let v = vector("authcrypt-did-peer-2-to-did-key-x25519");
    let mut packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
    packed["recipients"][0]["header"]["epk"] = protected_header(&packed)["epk"].clone();
    assert_eq!(unpack_kind(&v, &packed).await, ErrorKind::Malformed);
}

#[tokio::test]
async fn the_shared_unprotected_header_is_not_read_for_epk() {
    // didcomm-messaging writes no `unprotected` member; an epk there is not ours to trust.
    let v = vector("anoncrypt-did-key-x25519");
    let mut packed: Value = serde_json::from_str(v["packed"].as_str().unwrap()).unwrap();
    let epk = packed["recipients"][0]["header"]
        .as_object_mut()
        .unwrap()
        .remove("epk")
        .unwrap();
    packed["unprotected"] = json!({ "epk": epk });
    assert_eq!(unpack_kind(&v, &packed).await, ErrorKind::Malformed);
}
