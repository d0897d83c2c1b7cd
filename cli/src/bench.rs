//! `didcomm-edge bench`: in-process operations per second, like `openssl speed`.
//!
//! Identities are generated in memory (X25519 key agreement, Ed25519 signing), so the command
//! needs no files. Each operation runs for a fixed time after a short warm-up.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::did::{VerificationMethod, VerificationRelationship};
use didcomm_edge::{
    ContentEncAlg, DidComm, DidDocument, Error, ErrorKind, InMemoryDidResolver, InMemorySecrets,
    KeyPair, KeyType, Message, PackEncryptedOptions, Secret, UnpackOptions,
};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds to spend on each operation.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Only run operations whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
}

/// A DID document with the given key agreement and authentication keys.
fn document(did: &str, agreement: &[&KeyPair], signing: &[&KeyPair]) -> DidDocument {
    let mut doc = DidDocument::new(did);
    for (i, k) in agreement.iter().enumerate() {
        let id = format!("{did}#key-x25519-{}", i + 1);
        doc.verification_method
            .push(VerificationMethod::json_web_key(&id, did, k.public()));
        doc.key_agreement
            .push(VerificationRelationship::Reference(id));
    }
    for (i, k) in signing.iter().enumerate() {
        let id = format!("{did}#key-{}", i + 1);
        doc.verification_method
            .push(VerificationMethod::json_web_key(&id, did, k.public()));
        doc.authentication
            .push(VerificationRelationship::Reference(id));
    }
    doc
}

struct Fixture {
    sender: DidComm,
    receiver: DidComm,
    message: Message,
    message_10: Message,
}

fn fixture() -> Result<Fixture, Error> {
    let alice_x = KeyPair::generate(KeyType::X25519)?;
    let alice_ed = KeyPair::generate(KeyType::Ed25519)?;
    let bob_x = KeyPair::generate(KeyType::X25519)?;
    let group: Vec<KeyPair> = (0..10)
        .map(|_| KeyPair::generate(KeyType::X25519))
        .collect::<Result<_, _>>()?;
    let group_refs: Vec<&KeyPair> = group.iter().collect();
    let docs = vec![
        document("did:example:alice", &[&alice_x], &[&alice_ed]),
        document("did:example:bob", &[&bob_x], &[]),
        document("did:example:group", &group_refs, &[]),
    ];
    let resolver = Arc::new(InMemoryDidResolver::new(docs));
    let alice_secrets = InMemorySecrets::new([
        Secret::from_key_pair_jwk("did:example:alice#key-x25519-1", &alice_x),
        Secret::from_key_pair_jwk("did:example:alice#key-1", &alice_ed),
    ]);
    let mut bob_secrets = vec![Secret::from_key_pair_jwk(
        "did:example:bob#key-x25519-1",
        &bob_x,
    )];
    for (i, k) in group.iter().enumerate() {
        bob_secrets.push(Secret::from_key_pair_jwk(
            format!("did:example:group#key-x25519-{}", i + 1),
            k,
        ));
    }
    // ~200 bytes of body, like a sensor reading with some metadata.
    let body = json!({
        "content": "temperature=21.5C humidity=40% battery=87% firmware=1.4.2 site=greenhouse-3",
        "reading_id": "r-000123456",
        "sensor": "did:example:sensor-42",
        "unit": "metric"
    });
    let message = Message::build(
        "1234567890",
        "https://didcomm.org/basicmessage/2.0/message",
        body.clone(),
    )
    .from("did:example:alice")
    .to("did:example:bob")
    .created_time(1_700_000_000);
    let message_10 = Message::build(
        "1234567891",
        "https://didcomm.org/basicmessage/2.0/message",
        body,
    )
    .from("did:example:alice")
    .to("did:example:group")
    .created_time(1_700_000_000);
    Ok(Fixture {
        sender: DidComm::new(resolver.clone(), Arc::new(alice_secrets)),
        receiver: DidComm::new(resolver, Arc::new(InMemorySecrets::new(bob_secrets))),
        message,
        message_10,
    })
}

/// Run `op` repeatedly for `seconds` (after a warm-up) and return operations per second.
async fn measure<F, Fut>(seconds: f64, mut op: F) -> Result<f64, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_millis(100) {
        op().await?;
    }
    let budget = Duration::from_secs_f64(seconds.max(0.01));
    let start = Instant::now();
    let mut count: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..8 {
            op().await?;
        }
        count += 8;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

pub async fn run(args: BenchArgs) -> Result<String, Error> {
    let f = fixture()?;
    let unpack_options = UnpackOptions::default();
    let wanted = |name: &str| args.filter.as_deref().is_none_or(|f| name.contains(f));
    let mut results: Vec<(String, f64)> = vec![];

    let auth = PackEncryptedOptions::default();
    let (auth_packed, _) = f
        .sender
        .pack_encrypted(
            &f.message,
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &auth,
        )
        .await?;
    if wanted("authcrypt pack") {
        let ops = measure(args.seconds, || async {
            f.sender
                .pack_encrypted(
                    &f.message,
                    "did:example:bob",
                    Some("did:example:alice"),
                    None,
                    &auth,
                )
                .await
                .map(|_| ())
        })
        .await?;
        results.push(("authcrypt pack X25519 A256CBC-HS512".into(), ops));
    }
    if wanted("authcrypt unpack") {
        let ops = measure(args.seconds, || async {
            f.receiver
                .unpack(&auth_packed, &unpack_options)
                .await
                .map(|_| ())
        })
        .await?;
        results.push(("authcrypt unpack X25519 A256CBC-HS512".into(), ops));
    }
    for enc in [
        ContentEncAlg::A256CbcHs512,
        ContentEncAlg::A256Gcm,
        ContentEncAlg::Xc20P,
    ] {
        let options = PackEncryptedOptions::default().enc_alg_anon(enc);
        let (packed, _) = f
            .sender
            .pack_encrypted(&f.message, "did:example:bob", None, None, &options)
            .await?;
        let name = format!("anoncrypt pack X25519 {enc}");
        if wanted(&name) {
            let ops = measure(args.seconds, || async {
                f.sender
                    .pack_encrypted(&f.message, "did:example:bob", None, None, &options)
                    .await
                    .map(|_| ())
            })
            .await?;
            results.push((name, ops));
        }
        let name = format!("anoncrypt unpack X25519 {enc}");
        if wanted(&name) {
            let ops = measure(args.seconds, || async {
                f.receiver
                    .unpack(&packed, &unpack_options)
                    .await
                    .map(|_| ())
            })
            .await?;
            results.push((name, ops));
        }
    }
    let (signed, _) = f
        .sender
        .pack_signed(&f.message, "did:example:alice")
        .await?;
    if wanted("signed pack") {
        let ops = measure(args.seconds, || async {
            f.sender
                .pack_signed(&f.message, "did:example:alice")
                .await
                .map(|_| ())
        })
        .await?;
        results.push(("signed pack EdDSA".into(), ops));
    }
    if wanted("signed unpack") {
        let ops = measure(args.seconds, || async {
            f.receiver
                .unpack(&signed, &unpack_options)
                .await
                .map(|_| ())
        })
        .await?;
        results.push(("signed unpack EdDSA".into(), ops));
    }
    if wanted("10 recipients") {
        let ops = measure(args.seconds, || async {
            f.sender
                .pack_encrypted(
                    &f.message_10,
                    "did:example:group",
                    Some("did:example:alice"),
                    None,
                    &auth,
                )
                .await
                .map(|_| ())
        })
        .await?;
        results.push(("authcrypt pack to 10 recipients".into(), ops));
    }

    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(name, ops)| (name.clone(), json!((ops * 10.0).round() / 10.0)))
            .collect();
        return serde_json::to_string_pretty(&json!({"ops_per_second": map}))
            .map_err(|_| Error::new(ErrorKind::InvalidState, "output does not serialize"));
    }
    let mut out = format!("{:<44} {:>12}\n", "operation (~200-byte body)", "ops/s");
    for (name, ops) in &results {
        out.push_str(&format!("{name:<44} {ops:>12.0}\n"));
    }
    Ok(out.trim_end().to_owned())
}
