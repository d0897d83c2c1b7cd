//! Hostile input (issue 12): every trigger of unbounded work before authentication is refused
//! with a typed error, before anything expensive is done, with a reason that does not echo the
//! input. No wall-clock assertions: refusals are shown by their kind, by counting the resolver
//! calls they cause (none) and, for memory, by the peak RSS of a child process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use didcomm_edge::did::methods::web::{HttpClient, HttpResponse, WebResolver};
use didcomm_edge::{
    DidComm, DidDocument, DidResolver, Error, ErrorKind, FromPrior, InMemorySecrets, Message,
    PackEncryptedOptions, ResolverChain, UnpackOptions, Wallet,
};
use serde_json::{json, Value};

/// Longer than every cap (8 KiB for DIDs), short enough that the old quadratic base58 decoding
/// finishes in a debug build when these tests are run against it.
const LONG: usize = 30_000;

/// The longest reason a refusal may have: fixed text plus an excerpt of at most 48 characters.
const MAX_REASON_CHARS: usize = 240;

fn assert_short(err: &Error) {
    let n = err.reason().chars().count();
    assert!(
        n <= MAX_REASON_CHARS,
        "a reason of {n} characters echoes the input: {}…",
        err.reason().chars().take(120).collect::<String>()
    );
}

/// A resolver that counts its calls, over the built-in methods and a wallet's documents.
struct Counting {
    inner: Arc<dyn DidResolver>,
    calls: AtomicUsize,
}

impl Counting {
    fn over(wallet: &Wallet) -> Arc<Counting> {
        Arc::new(Counting {
            inner: Arc::new(ResolverChain::new().with_pinned(Arc::new(wallet.resolver()))),
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl DidResolver for Counting {
    async fn resolve(&self, did: &str) -> didcomm_edge::Result<Option<DidDocument>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.resolve(did).await
    }

    fn cache_policy(&self, did: &str) -> didcomm_edge::did::CachePolicy {
        self.inner.cache_policy(did)
    }
}

fn bob() -> (DidComm, Arc<Counting>) {
    let wallet = common::wallet("bob-rust");
    let counting = Counting::over(&wallet);
    let dc = DidComm::new(counting.clone(), Arc::new(wallet.secrets_store()));
    (dc, counting)
}

fn alice() -> DidComm {
    let mut wallet = common::wallet("alice-rust");
    wallet.merge(common::wallet("rust-charlie"));
    DidComm::new(
        Arc::new(ResolverChain::new().with_pinned(Arc::new(wallet.resolver()))),
        Arc::new(wallet.secrets_store()),
    )
}

/// The long DIDs of the issue: did:key and did:peer forms whose base58 part is `LONG` 2s (the
/// did:peer:4 with the right hash, so that only its length can refuse it).
fn long_dids() -> Vec<String> {
    use sha2::{Digest, Sha256};
    let twos = "2".repeat(LONG);
    let encoded = format!("z{twos}");
    let mut multihash = vec![0x12, 0x20];
    multihash.extend_from_slice(&Sha256::digest(encoded.as_bytes()));
    let hash = didcomm_edge::crypto::multikey::encode_multibase(&multihash);
    vec![
        format!("did:key:z{twos}"),
        format!("did:peer:0z{twos}"),
        format!("did:peer:2.Vz{twos}"),
        format!("did:peer:2.Ez6LS.S{}", "A".repeat(LONG)),
        format!("did:peer:4{hash}:{encoded}"),
    ]
}

/// The `apv` of DIDComm for `kids`.
fn apv(kids: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted = kids.to_vec();
    sorted.sort_unstable();
    B64.encode(Sha256::digest(sorted.join(".").as_bytes()))
}

fn plaintext(from: &str) -> String {
    json!({"id": "1", "type": "https://example.com/t", "from": from, "to": ["did:example:bob"], "body": {}})
        .to_string()
}

/// A JWS (general serialization) over `payload` with `entries` signatures by `kid` (zeros: the
/// refusals come before any verification).
fn jws(payload: &str, kid: &str, entries: usize) -> String {
    let protected = B64.encode(r#"{"typ":"application/didcomm-signed+json","alg":"EdDSA"}"#);
    let signature = B64.encode([0u8; 64]);
    let one = json!({"protected": protected, "signature": signature, "header": {"kid": kid}});
    json!({"payload": B64.encode(payload), "signatures": vec![one; entries]}).to_string()
}

/// An authcrypt-shaped JWE (with a right `apv`) with `header` members merged into a
/// well-formed protected header (`null` removes a member).
fn jwe(header: Value, recipients: usize, iv_len: usize) -> String {
    let kid = "did:example:bob#key-x25519-1";
    let mut h = json!({
        "apv": apv(&vec![kid; recipients]),
        "typ": "application/didcomm-encrypted+json",
        "alg": "ECDH-1PU+A256KW",
        "enc": "A256CBC-HS512",
        "epk": {"kty": "OKP", "crv": "X25519", "x": B64.encode([9u8; 32])},
        "skid": "did:example:alice#key-x25519-1",
        "apu": B64.encode("did:example:alice#key-x25519-1"),
    });
    for (k, v) in header.as_object().unwrap() {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(k);
        } else {
            h[k] = v.clone();
        }
    }
    let recipient = json!({"header": {"kid": kid}, "encrypted_key": B64.encode([1u8; 40])});
    json!({
        "protected": B64.encode(h.to_string()),
        "recipients": vec![recipient; recipients],
        "iv": B64.encode(vec![0u8; iv_len]),
        "ciphertext": B64.encode([0u8; 32]),
        "tag": B64.encode([0u8; 32]),
    })
    .to_string()
}

async fn refused(dc: &DidComm, packed: &str) -> Error {
    let err = dc
        .unpack(packed, &UnpackOptions::default())
        .await
        .expect_err("a hostile input was accepted");
    assert_short(&err);
    err
}

// ---------------------------------------------------------------------------------------------
// Length caps before decoding

#[tokio::test]
async fn long_jws_kid_is_refused_before_resolution() {
    let (dc, counting) = bob();
    for did in long_dids() {
        let packed = jws(&plaintext(&did), &format!("{did}#k"), 1);
        let err = refused(&dc, &packed).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    }
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn long_skid_is_refused_before_resolution() {
    let (dc, counting) = bob();
    for did in long_dids() {
        let skid = format!("{did}#k");
        let packed = jwe(json!({"skid": skid, "apu": B64.encode(&skid)}), 1, 16);
        let err = refused(&dc, &packed).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
        // The sender named in `apu` alone.
        let packed = jwe(json!({"skid": null, "apu": B64.encode(&skid)}), 1, 16);
        let err = refused(&dc, &packed).await;
        assert!(
            matches!(err.kind(), ErrorKind::TooLarge | ErrorKind::Malformed),
            "{err}"
        );
    }
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn long_forward_next_is_refused_before_resolution() {
    let alice = alice();
    let (dc, counting) = bob();
    for did in long_dids() {
        let forward = Message::build(
            "f",
            "https://didcomm.org/routing/2.0/forward",
            json!({ "next": did }),
        )
        .to("did:example:bob")
        .attachment(didcomm_edge::Attachment::json("a", json!({"x": 1})));
        let (packed, _) = alice
            .pack_encrypted(
                &forward,
                "did:example:bob",
                None,
                None,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap();
        let before = counting.calls();
        let err = refused(&dc, &packed).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
        assert_eq!(counting.calls(), before, "the long 'next' was resolved");
    }
}

#[tokio::test]
async fn long_from_prior_iss_and_kid_are_refused_before_resolution() {
    let (dc, counting) = bob();
    for did in long_dids() {
        let header = B64
            .encode(json!({"typ": "JWT", "alg": "EdDSA", "kid": format!("{did}#k")}).to_string());
        let claims = B64.encode(json!({"iss": did, "sub": "did:example:alice"}).to_string());
        let jwt = format!("{header}.{claims}.{}", B64.encode([0u8; 64]));
        let message = json!({"id": "1", "type": "t", "from": "did:example:alice", "body": {}, "from_prior": jwt});
        let err = refused(&dc, &message.to_string()).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    }
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn long_did_is_refused_by_the_engine_before_the_resolver() {
    let (dc, counting) = bob();
    for did in long_dids() {
        let err = dc.resolve(&did).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
        assert_short(&err);
    }
    assert_eq!(counting.calls(), 0);
    // Directly, without the engine: the built-in methods refuse them too.
    for did in long_dids() {
        let err = ResolverChain::new().resolve(&did).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
        assert_short(&err);
    }
}

#[tokio::test]
async fn huge_key_multibase_in_a_document_is_refused_before_decoding() {
    // A host-supplied document whose key is 30,000 base58 characters: the signature names it.
    let huge = format!("z{}", "2".repeat(LONG));
    let doc: DidDocument = serde_json::from_value(json!({
        "id": "did:example:mallory",
        "verificationMethod": [{
            "id": "did:example:mallory#k", "type": "Multikey",
            "controller": "did:example:mallory", "publicKeyMultibase": huge,
        }, {
            "id": "did:example:mallory#b", "type": "Ed25519VerificationKey2018",
            "controller": "did:example:mallory", "publicKeyBase58": "2".repeat(LONG),
        }],
        "authentication": ["did:example:mallory#k", "did:example:mallory#b"],
    }))
    .unwrap();
    let wallet = common::wallet("bob-rust");
    let mut resolver = wallet.resolver();
    resolver.insert(doc);
    let dc = DidComm::new(Arc::new(resolver), Arc::new(wallet.secrets_store()));
    for kid in ["did:example:mallory#k", "did:example:mallory#b"] {
        let packed = jws(&plaintext("did:example:mallory"), kid, 1);
        let err = refused(&dc, &packed).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{kid}: {err}");
    }
    let err = didcomm_edge::crypto::multikey::public_key_from_multibase(&huge).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

#[tokio::test]
async fn oversized_base64_fields_are_refused_before_decoding() {
    let (dc, counting) = bob();
    let big = "A".repeat(100 * 1024);
    let base: Value = serde_json::from_str(&jwe(json!({}), 1, 16)).unwrap();
    for (field, value) in [
        ("protected", Value::String(big.clone())),
        ("iv", Value::String(big.clone())),
        ("tag", Value::String(big.clone())),
    ] {
        let mut v = base.clone();
        v[field] = value;
        let err = refused(&dc, &v.to_string()).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "{field}: {err}");
    }
    let mut v = base.clone();
    v["recipients"][0]["encrypted_key"] = Value::String(big.clone());
    let err = refused(&dc, &v.to_string()).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "encrypted_key: {err}");

    let base: Value = serde_json::from_str(&jws(
        &plaintext("did:example:alice"),
        "did:example:alice#key-1",
        1,
    ))
    .unwrap();
    for field in ["protected", "signature"] {
        let mut v = base.clone();
        v["signatures"][0][field] = Value::String(big.clone());
        let err = refused(&dc, &v.to_string()).await;
        assert_eq!(err.kind(), ErrorKind::TooLarge, "JWS {field}: {err}");
    }
    // from_prior: a header of 100 KiB.
    let jwt = format!("{big}.{big}.{big}");
    let message =
        json!({"id": "1", "type": "t", "from": "did:example:alice", "body": {}, "from_prior": jwt});
    let err = refused(&dc, &message.to_string()).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "from_prior: {err}");
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn deep_json_nesting_is_a_typed_refusal() {
    let (dc, counting) = bob();
    for depth in [200, 100_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let err = refused(&dc, &deep).await;
        // Past serde_json's depth limit, or (100,000 containers) past the value count.
        assert!(
            matches!(err.kind(), ErrorKind::Malformed | ErrorKind::TooLarge),
            "{err}"
        );
        let body = format!(
            r#"{{"id":"1","type":"t","body":{{"x":{}{}}}}}"#,
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        let err = refused(&dc, &body).await;
        assert!(
            matches!(err.kind(), ErrorKind::Malformed | ErrorKind::TooLarge),
            "{err}"
        );
    }
    assert_eq!(counting.calls(), 0);
}

#[test]
fn forward_attachment_with_too_many_json_values_is_refused() {
    // What a mediator parses out of a forward after the anoncrypt layer, before anyone is
    // authenticated.
    let items = vec!["0"; 200_000].join(",");
    let attached = format!(r#"{{"ciphertext":"x","x":[{items}]}}"#);
    let mut forward = Message::build(
        "f",
        "https://didcomm.org/routing/2.0/forward",
        json!({"next": "did:example:bob"}),
    );
    forward.attachments = Some(vec![didcomm_edge::Attachment::base64(
        "a",
        attached.as_bytes(),
    )]);
    let err = didcomm_edge::Forward::from_message(&forward).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_short(&err);
}

// ---------------------------------------------------------------------------------------------
// Counts of signatures and recipients

#[tokio::test]
async fn thousand_signature_jws_is_refused_by_its_count() {
    let (dc, counting) = bob();
    let packed = jws(
        &plaintext("did:example:alice"),
        "did:example:alice#key-1",
        1000,
    );
    let err = refused(&dc, &packed).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn thousand_recipient_jwe_is_refused_by_its_count() {
    let (dc, counting) = bob();
    let err = refused(&dc, &jwe(json!({}), 1000, 16)).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn signers_of_different_dids_are_refused_before_resolution() {
    let (dc, counting) = bob();
    let mut v: Value = serde_json::from_str(&jws(
        &plaintext("did:example:alice"),
        "did:example:alice#key-1",
        2,
    ))
    .unwrap();
    v["signatures"][1]["header"]["kid"] = json!("did:example:charlie#key-1");
    let err = refused(&dc, &v.to_string()).await;
    assert_eq!(err.kind(), ErrorKind::SenderMismatch, "{err}");
    assert_eq!(counting.calls(), 0);
}

#[tokio::test]
async fn legitimate_multi_signature_and_multi_recipient_messages_still_pass() {
    let alice = alice();
    let (dc, _) = bob();
    let msg = Message::build("m", "https://example.com/t", json!({"x": 1}))
        .from("did:example:alice")
        .to("did:example:bob");
    // Signed with two of Alice's keys (one signature entry each, same payload).
    let (one, _) = alice
        .pack_signed(&msg, "did:example:alice#key-1")
        .await
        .unwrap();
    let (two, _) = alice
        .pack_signed(&msg, "did:example:alice#key-2")
        .await
        .unwrap();
    let mut a: Value = serde_json::from_str(&one).unwrap();
    let b: Value = serde_json::from_str(&two).unwrap();
    a["signatures"]
        .as_array_mut()
        .unwrap()
        .push(b["signatures"][0].clone());
    let (m, meta) = dc
        .unpack(&a.to_string(), &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(m.id, "m");
    assert_eq!(meta.sign_from.as_deref(), Some("did:example:alice#key-1"));
    // Authcrypt to every X25519 key of Bob (three recipients).
    let (packed, _) = alice
        .pack_encrypted(
            &msg,
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let (_, meta) = dc.unpack(&packed, &UnpackOptions::default()).await.unwrap();
    assert_eq!(meta.encrypted_to_kids.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// apv

#[tokio::test]
async fn recipient_list_changed_after_encryption_is_refused() {
    let alice = alice();
    let (dc, _) = bob();
    let msg = Message::build("m", "https://example.com/t", json!({"x": 1}))
        .from("did:example:alice")
        .to("did:example:bob");
    for from in [None, Some("did:example:alice")] {
        let (packed, _) = alice
            .pack_encrypted(
                &msg,
                "did:example:bob",
                from,
                None,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap();
        assert!(dc.unpack(&packed, &UnpackOptions::default()).await.is_ok());
        let v: Value = serde_json::from_str(&packed).unwrap();
        assert_eq!(v["recipients"].as_array().unwrap().len(), 3);
        // Dropped recipients: the remaining entry still decrypts, but `apv` names all three.
        let mut dropped = v.clone();
        dropped["recipients"].as_array_mut().unwrap().truncate(1);
        let err = refused(&dc, &dropped.to_string()).await;
        assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
        assert!(err.reason().contains("apv"), "{err}");
        // An added recipient (a copy under another kid of Bob's).
        let mut added = v.clone();
        let mut extra = v["recipients"][0].clone();
        extra["header"]["kid"] = json!("did:example:bob#key-x25519-9");
        added["recipients"].as_array_mut().unwrap().push(extra);
        let err = refused(&dc, &added.to_string()).await;
        assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    }
}

#[tokio::test]
async fn wrong_apv_is_refused() {
    let (dc, _) = bob();
    let apv = B64.encode([7u8; 32]);
    let err = refused(&dc, &jwe(json!({ "apv": apv }), 1, 16)).await;
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.reason().contains("apv"), "{err}");
    // No apv at all: nothing binds the recipient list.
    let err = refused(&dc, &jwe(json!({ "apv": null }), 1, 16)).await;
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
}

// ---------------------------------------------------------------------------------------------
// from_prior times

async fn message_with_from_prior(claims: &FromPrior) -> String {
    let mut w = common::wallet("alice-rust");
    w.merge(common::wallet("rust-charlie"));
    let dc = DidComm::new(Arc::new(w.resolver()), Arc::new(w.secrets_store()));
    let (jwt, _) = dc.pack_from_prior(claims, None).await.unwrap();
    json!({"id": "1", "type": "t", "from": "did:example:alice", "to": ["did:example:bob"], "body": {}, "from_prior": jwt})
        .to_string()
}

#[tokio::test]
async fn from_prior_outside_its_validity_period_is_refused() {
    let mut w = common::wallet("bob-rust");
    w.merge(common::wallet("rust-charlie"));
    let counting = Counting::over(&w);
    let dc = DidComm::new(counting.clone(), Arc::new(w.secrets_store()));
    let now = 1_800_000_000u64;
    let at = |t: u64| UnpackOptions::default().now(t);
    let claims = |exp: Option<u64>, nbf: Option<u64>, iat: Option<u64>| {
        let mut c = FromPrior::new("did:example:charlie", "did:example:alice");
        (c.exp, c.nbf, c.iat) = (exp, nbf, iat);
        c
    };
    for (what, c) in [
        ("expired", claims(Some(now - 3600), None, Some(now - 7200))),
        ("not yet valid", claims(None, Some(now + 3600), Some(now))),
        ("issued in the future", claims(None, None, Some(now + 3600))),
    ] {
        let text = message_with_from_prior(&c).await;
        let err = dc.unpack(&text, &at(now)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired, "{what}: {err}");
        assert_short(&err);
    }
    assert_eq!(counting.calls(), 0, "a refused from_prior was resolved");
    // Within the clock skew (300 s) and inside the period: accepted.
    for c in [
        claims(Some(now - 60), None, Some(now - 600)),
        claims(None, Some(now + 60), Some(now + 60)),
        claims(Some(now + 3600), Some(now - 3600), Some(now - 3600)),
    ] {
        let text = message_with_from_prior(&c).await;
        let (_, meta) = dc.unpack(&text, &at(now)).await.unwrap();
        assert_eq!(meta.from_prior.unwrap(), c);
    }
}

// ---------------------------------------------------------------------------------------------
// Negative cache

#[tokio::test]
async fn failed_resolutions_are_cached() {
    let (dc, counting) = bob();
    // A stranger's did:peer:2 that does not resolve (its key is no key), named by a
    // signature, three times: one resolution.
    let stranger = "did:peer:2.Vz6MkTooShortToBeAKey";
    let packed = jws(&plaintext(stranger), &format!("{stranger}#key-1"), 1);
    for _ in 0..3 {
        let err = refused(&dc, &packed).await;
        assert_ne!(err.kind(), ErrorKind::InvalidState, "{err}");
    }
    assert_eq!(counting.calls(), 1);
    // A malformed did:key: one resolution too.
    for _ in 0..3 {
        let err = dc.resolve("did:key:z0OIl").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }
    assert_eq!(counting.calls(), 2);
    // The host may forget a miss.
    dc.invalidate_did("did:key:z0OIl");
    let _ = dc.resolve("did:key:z0OIl").await;
    assert_eq!(counting.calls(), 3);
    // A DID of the host's own store is asked again every time: the store may learn it.
    let packed = jws(
        &plaintext("did:example:stranger"),
        "did:example:stranger#k",
        1,
    );
    for _ in 0..3 {
        let err = refused(&dc, &packed).await;
        assert_eq!(err.kind(), ErrorKind::DidNotResolved, "{err}");
    }
    assert_eq!(counting.calls(), 6);
}

#[tokio::test]
async fn a_peer_did_learned_later_resolves_despite_an_earlier_miss() {
    let id = didcomm_edge::Identity::generate(didcomm_edge::IdentityMethod::Peer2, None).unwrap();
    let short = id.document.also_known_as[0].clone();
    let dc = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::default()),
    );
    assert!(dc.resolve(&short).await.is_err());
    dc.resolve(&id.did).await.unwrap();
    dc.resolve(&short).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Memory: a child process per scenario (the peak RSS is per process), Linux only.

/// Run `scenario` in a child process of this test binary when this is the parent; `true` in
/// the child, which then runs the scenario itself.
#[cfg(target_os = "linux")]
fn in_child(name: &str) -> bool {
    if std::env::var("HOSTILE_MEMORY_CHILD").as_deref() == Ok(name) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env("HOSTILE_MEMORY_CHILD", name)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} in a child process:\n{text}");
    let figure = text
        .lines()
        .find(|l| l.contains("extra peak memory"))
        .unwrap_or_else(|| panic!("{text}"));
    eprintln!("{name}: {figure}");
    false
}

#[cfg(target_os = "linux")]
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Unpack `packed` as Bob and return how far the peak RSS rose above the RSS before.
#[cfg(target_os = "linux")]
fn extra_peak_kib(packed: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (dc, _) = bob();
    // Reset the high-water mark (Linux 4.0+), then measure from the RSS now.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:");
    let result = runtime.block_on(dc.unpack(packed, &UnpackOptions::default()));
    let peak = status_kib("VmHWM:");
    let extra = peak.saturating_sub(before);
    eprintln!(
        "extra peak memory {extra} KiB for {} bytes ({:?})",
        packed.len(),
        result.map(|_| ()).map_err(|e| e.kind())
    );
    extra
}

const MEMORY_BUDGET_KIB: u64 = 16 * 1024;
/// What a layer refused by its count may cost: its tree (10-20 MiB for a megabyte of
/// entries) is never built.
const COUNTED_BUDGET_KIB: u64 = 2 * 1024;

#[cfg(target_os = "linux")]
#[test]
fn thousand_signatures_stay_within_the_memory_budget() {
    if !in_child("thousand_signatures_stay_within_the_memory_budget") {
        return;
    }
    // The issue's message: about 580 KB, 1,000 signature entries over a 400 KB payload.
    let padding = "x".repeat(400 * 1024);
    let payload =
        json!({"id": "1", "type": "t", "from": "did:example:alice", "body": {"p": padding}})
            .to_string();
    let packed = jws(&payload, "did:example:alice#key-1", 1000);
    assert!(packed.len() < 1024 * 1024);
    assert!(extra_peak_kib(&packed) < MEMORY_BUDGET_KIB);
}

#[cfg(target_os = "linux")]
#[test]
fn thousand_recipients_stay_within_the_memory_budget() {
    if !in_child("thousand_recipients_stay_within_the_memory_budget") {
        return;
    }
    let mut v: Value = serde_json::from_str(&jwe(json!({}), 1000, 16)).unwrap();
    v["ciphertext"] = json!(B64.encode(vec![0u8; 600 * 1024]));
    let packed = v.to_string();
    assert!(packed.len() < 1024 * 1024);
    assert!(extra_peak_kib(&packed) < MEMORY_BUDGET_KIB);
}

#[cfg(target_os = "linux")]
#[test]
fn eight_signatures_over_a_large_payload_stay_within_the_memory_budget() {
    if !in_child("eight_signatures_over_a_large_payload_stay_within_the_memory_budget") {
        return;
    }
    // A 1 MiB signed message with the most signatures allowed: verification copies the
    // payload once, not per signature.
    let padding = "x".repeat(700 * 1024);
    let payload =
        json!({"id": "1", "type": "t", "from": "did:example:alice", "body": {"p": padding}})
            .to_string();
    let packed = jws(&payload, "did:example:alice#key-1", 8);
    assert!(packed.len() < 1024 * 1024);
    assert!(extra_peak_kib(&packed) < MEMORY_BUDGET_KIB);
}

#[cfg(target_os = "linux")]
#[test]
fn wide_json_stays_within_the_memory_budget() {
    if !in_child("wide_json_stays_within_the_memory_budget") {
        return;
    }
    // 1 MiB of the smallest JSON values: the parsed tree is what costs.
    let items = vec!["0"; 500 * 1024].join(",");
    let packed = format!(r#"{{"id":"1","type":"t","body":{{"x":[{items}]}}}}"#);
    assert!(packed.len() <= 1024 * 1024);
    let extra = extra_peak_kib(&packed);
    assert!(extra < MEMORY_BUDGET_KIB, "{extra} KiB");
}

// The two builders below write text, not a `Value` tree: a tree freed before the measurement
// would leave its heap to the process, and the unpack's own tree would then not raise the RSS.

/// A JWE with `count` recipient entries of the smallest honest shape (about 120 bytes each).
fn jwe_of_recipients(count: usize) -> String {
    let one = jwe(json!({}), 1, 16);
    let v: Value = serde_json::from_str(&one).unwrap();
    let entry = v["recipients"][0].to_string();
    let single = format!("[{entry}]");
    let many = format!("[{}]", vec![entry.as_str(); count].join(","));
    let text = one.replacen(&single, &many, 1);
    assert_ne!(text, one);
    text
}

/// A plaintext message with `count` small base64 attachments (about 50 bytes each).
fn plaintext_with_attachments(count: usize) -> String {
    let attachments: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"id":"a{i}","data":{{"base64":"eHh4eHh4eHg"}}}}"#))
        .collect();
    format!(
        r#"{{"id":"1","type":"https://example.com/t","body":{{}},"attachments":[{}]}}"#,
        attachments.join(",")
    )
}

#[cfg(target_os = "linux")]
#[test]
fn a_megabyte_of_recipient_entries_is_refused_before_its_tree_is_built() {
    if !in_child("a_megabyte_of_recipient_entries_is_refused_before_its_tree_is_built") {
        return;
    }
    let packed = jwe_of_recipients(8_500);
    assert!(packed.len() <= 1024 * 1024, "{}", packed.len());
    let extra = extra_peak_kib(&packed);
    assert!(extra < COUNTED_BUDGET_KIB, "{extra} KiB");
}

#[cfg(target_os = "linux")]
#[test]
fn a_megabyte_of_attachments_is_refused_before_its_tree_is_built() {
    if !in_child("a_megabyte_of_attachments_is_refused_before_its_tree_is_built") {
        return;
    }
    let packed = plaintext_with_attachments(16_000);
    assert!(packed.len() <= 1024 * 1024, "{}", packed.len());
    let extra = extra_peak_kib(&packed);
    assert!(extra < COUNTED_BUDGET_KIB, "{extra} KiB");
}

#[tokio::test]
async fn attachments_beyond_the_limit_are_refused_and_the_limit_can_be_raised() {
    let (dc, _) = bob();
    let at_limit = plaintext_with_attachments(1_000);
    dc.unpack(&at_limit, &UnpackOptions::default())
        .await
        .unwrap();
    let over = plaintext_with_attachments(1_001);
    let err = refused(&dc, &over).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    // The same limit for a small layer (checked on the tree) and a large one (counted first).
    let large_over = plaintext_with_attachments(2_000);
    assert!(large_over.len() > 64 * 1024);
    assert_eq!(refused(&dc, &large_over).await.kind(), ErrorKind::TooLarge);

    let wallet = common::wallet("bob-rust");
    let raised = DidComm::with_config(
        Arc::new(ResolverChain::new().with_pinned(Arc::new(wallet.resolver()))),
        Arc::new(wallet.secrets_store()),
        didcomm_edge::Config::default().with_max_attachments(2_000),
    );
    raised
        .unpack(&large_over, &UnpackOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn large_envelopes_are_counted_by_their_form() {
    let (dc, _) = bob();
    // Over 64 KiB: counted before parsing. A JWE's recipients...
    let err = refused(&dc, &jwe_of_recipients(1_000)).await;
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert!(err.reason().contains("recipients"), "{err}");
    // ...but a plaintext may carry a `recipients` header of its own: its attachments count.
    let mut v: Value = serde_json::from_str(&plaintext_with_attachments(1)).unwrap();
    v["recipients"] = Value::Array(vec![json!(1); 40_000]);
    let text = v.to_string();
    assert!(text.len() > 64 * 1024);
    dc.unpack(&text, &UnpackOptions::default()).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// did:web

mod did_web {
    use super::*;

    /// An HTTP client that records what it was asked for.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl HttpClient for Recorder {
        async fn get(&self, url: &str, _max_len: usize) -> didcomm_edge::Result<HttpResponse> {
            self.0.lock().unwrap().push(url.to_owned());
            Ok(HttpResponse {
                status: 404,
                body: vec![],
            })
        }
    }

    #[tokio::test]
    async fn private_ip_literals_are_refused_whatever_the_client() {
        let recorder = Arc::new(Recorder::default());
        let web = WebResolver::new(recorder.clone());
        for did in [
            "did:web:10.0.0.1",
            "did:web:192.168.1.1%3A8443",
            "did:web:169.254.169.254:latest",
            "did:web:127.0.0.1",
            "did:web:0.0.0.0",
            "did:web:localhost",
        ] {
            let err = web.resolve(did).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ResolverFailure, "{did}: {err}");
        }
        assert!(recorder.0.lock().unwrap().is_empty());
        // A public host is asked for.
        assert_eq!(web.resolve("did:web:example.com").await.unwrap(), None);
        assert_eq!(recorder.0.lock().unwrap().len(), 1);
    }
}
