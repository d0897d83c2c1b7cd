//! didcomm-edge against the reference library (`didcomm` 0.4.1), side by side in one run, on the
//! same identities (the shared vectors' Alice and Bob) and the same ~200-byte message. Prints
//! ops/s and the ratio ours/reference for each operation, and writes them to
//! `target/bench-envelope.json`.
//!
//! "ours" is the steady state of a long-lived engine (documents, keys and ECDH-1PU static
//! secrets cached); "ours, cold" builds a fresh engine for every operation, so nothing is cached.
//! Times are the benchmark thread's CPU time (see `cpu_time.rs`), robust to a busy machine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod cpu_time;

use cpu_time::ThreadCpuTime;
use criterion::{black_box, Criterion};
use didcomm_edge::{ContentEncAlg, DidComm, Message, PackEncryptedOptions, UnpackOptions, Wallet};
use didcomm_reference::algorithms::AnonCryptAlg as RefAnon;
use didcomm_reference::did::resolvers::ExampleDIDResolver;
use didcomm_reference::secrets::resolvers::ExampleSecretsResolver;
use serde_json::{json, Value};

fn vectors() -> PathBuf {
    std::env::var("DIDCOMM_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors"))
}

fn wallet(name: &str) -> Wallet {
    Wallet::from_json(&std::fs::read_to_string(vectors().join(format!("ids/{name}.json"))).unwrap())
        .unwrap()
}

fn reference_secrets(wallet: &Wallet) -> ExampleSecretsResolver {
    ExampleSecretsResolver::new(
        wallet
            .secrets
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap();
                let kid = v.as_object_mut().unwrap().remove("kid").unwrap();
                v["id"] = kid;
                serde_json::from_value(v).unwrap()
            })
            .collect(),
    )
}

fn reference_resolver(wallet: &Wallet) -> ExampleDIDResolver {
    ExampleDIDResolver::new(
        wallet
            .did_docs
            .iter()
            .map(|d| {
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
            .collect(),
    )
}

fn message() -> Message {
    Message::build(
        "1234567890",
        "https://didcomm.org/basicmessage/2.0/message",
        json!({
            "content": "temperature=21.5C humidity=40% battery=87% firmware=1.4.2 site=greenhouse-3",
            "reading_id": "r-000123456",
            "sensor": "did:example:sensor-42",
            "unit": "metric"
        }),
    )
    .from("did:example:alice")
    .to("did:example:bob")
    .created_time(1_700_000_000)
}

/// The recipient of the encrypted cases: one X25519 key of Bob's.
const TO: &str = "did:example:bob#key-x25519-1";
const FROM: &str = "did:example:alice#key-x25519-1";
const SIGN_BY: &str = "did:example:alice#key-1";

/// A resolver and a secrets store, built once; "cold" engines share them but not the caches.
struct Stores {
    resolver: Arc<didcomm_edge::InMemoryDidResolver>,
    secrets: Arc<didcomm_edge::InMemorySecrets>,
}

impl Stores {
    fn new(w: &Wallet) -> Self {
        Stores {
            resolver: Arc::new(w.resolver()),
            secrets: Arc::new(w.secrets_store()),
        }
    }

    /// An engine with empty caches.
    fn cold(&self) -> DidComm {
        DidComm::new(self.resolver.clone(), self.secrets.clone())
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    alice_wallet: Stores,
    bob_wallet: Stores,
    ours_alice: DidComm,
    ours_bob: DidComm,
    ref_resolver: ExampleDIDResolver,
    ref_alice: ExampleSecretsResolver,
    ref_bob: ExampleSecretsResolver,
    ref_message: didcomm_reference::Message,
}

fn engine(w: &Wallet) -> DidComm {
    DidComm::new(Arc::new(w.resolver()), Arc::new(w.secrets_store()))
}

fn setup() -> Setup {
    let alice_wallet = wallet("rust-alice");
    let bob_wallet = wallet("rust-bob");
    Setup {
        rt: tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        ours_alice: engine(&alice_wallet),
        ours_bob: engine(&bob_wallet),
        ref_resolver: reference_resolver(&alice_wallet),
        ref_alice: reference_secrets(&alice_wallet),
        ref_bob: reference_secrets(&bob_wallet),
        ref_message: serde_json::from_value(message().to_value().unwrap()).unwrap(),
        alice_wallet: Stores::new(&alice_wallet),
        bob_wallet: Stores::new(&bob_wallet),
    }
}

fn ref_anon(enc: ContentEncAlg) -> RefAnon {
    match enc {
        ContentEncAlg::A256Gcm => RefAnon::A256gcmEcdhEsA256kw,
        ContentEncAlg::Xc20P => RefAnon::Xc20pEcdhEsA256kw,
        _ => RefAnon::A256cbcHs512EcdhEsA256kw,
    }
}

fn ref_options(enc: ContentEncAlg) -> didcomm_reference::PackEncryptedOptions {
    didcomm_reference::PackEncryptedOptions {
        forward: false,
        enc_alg_anon: ref_anon(enc),
        ..Default::default()
    }
}

fn bench_all(c: &mut Criterion<ThreadCpuTime>, s: &Setup) {
    let msg = message();
    let unpack = UnpackOptions::default();
    let ref_unpack = didcomm_reference::UnpackOptions::default();

    // --- authcrypt -------------------------------------------------------------------------
    let auth = PackEncryptedOptions::default();
    let mut g = c.benchmark_group("authcrypt pack");
    g.bench_function("ours", |b| {
        b.iter(|| {
            s.rt.block_on(
                s.ours_alice
                    .pack_encrypted(&msg, TO, Some(FROM), None, &auth),
            )
            .unwrap()
        })
    });
    g.bench_function("ours, cold", |b| {
        b.iter(|| {
            let fresh = s.alice_wallet.cold();
            s.rt.block_on(fresh.pack_encrypted(&msg, TO, Some(FROM), None, &auth))
                .unwrap()
        })
    });
    g.bench_function("reference", |b| {
        let opts = ref_options(ContentEncAlg::A256CbcHs512);
        b.iter(|| {
            s.rt.block_on(s.ref_message.pack_encrypted(
                TO,
                Some(FROM),
                None,
                &s.ref_resolver,
                &s.ref_alice,
                &opts,
            ))
            .unwrap()
        })
    });
    g.finish();

    let (packed, _) =
        s.rt.block_on(
            s.ours_alice
                .pack_encrypted(&msg, TO, Some(FROM), None, &auth),
        )
        .unwrap();
    let mut g = c.benchmark_group("authcrypt unpack");
    g.bench_function("ours", |b| {
        b.iter(|| {
            s.rt.block_on(s.ours_bob.unpack(black_box(&packed), &unpack))
                .unwrap()
        })
    });
    g.bench_function("ours, cold", |b| {
        b.iter(|| {
            let fresh = s.bob_wallet.cold();
            s.rt.block_on(fresh.unpack(black_box(&packed), &unpack))
                .unwrap()
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            s.rt.block_on(didcomm_reference::Message::unpack(
                black_box(&packed),
                &s.ref_resolver,
                &s.ref_bob,
                &ref_unpack,
            ))
            .unwrap()
        })
    });
    g.finish();

    // --- anoncrypt, each content encryption ------------------------------------------------
    for enc in [
        ContentEncAlg::A256CbcHs512,
        ContentEncAlg::A256Gcm,
        ContentEncAlg::Xc20P,
    ] {
        let opts = PackEncryptedOptions::default().enc_alg_anon(enc);
        let ropts = ref_options(enc);
        let mut g = c.benchmark_group(format!("anoncrypt pack {enc}"));
        g.bench_function("ours", |b| {
            b.iter(|| {
                s.rt.block_on(s.ours_alice.pack_encrypted(&msg, TO, None, None, &opts))
                    .unwrap()
            })
        });
        g.bench_function("reference", |b| {
            b.iter(|| {
                s.rt.block_on(s.ref_message.pack_encrypted(
                    TO,
                    None,
                    None,
                    &s.ref_resolver,
                    &s.ref_alice,
                    &ropts,
                ))
                .unwrap()
            })
        });
        g.finish();
        let (packed, _) =
            s.rt.block_on(s.ours_alice.pack_encrypted(&msg, TO, None, None, &opts))
                .unwrap();
        let mut g = c.benchmark_group(format!("anoncrypt unpack {enc}"));
        g.bench_function("ours", |b| {
            b.iter(|| {
                s.rt.block_on(s.ours_bob.unpack(black_box(&packed), &unpack))
                    .unwrap()
            })
        });
        g.bench_function("ours, cold", |b| {
            b.iter(|| {
                let fresh = s.bob_wallet.cold();
                s.rt.block_on(fresh.unpack(black_box(&packed), &unpack))
                    .unwrap()
            })
        });
        g.bench_function("reference", |b| {
            b.iter(|| {
                s.rt.block_on(didcomm_reference::Message::unpack(
                    black_box(&packed),
                    &s.ref_resolver,
                    &s.ref_bob,
                    &ref_unpack,
                ))
                .unwrap()
            })
        });
        g.finish();
    }

    // --- signed (EdDSA) --------------------------------------------------------------------
    let mut g = c.benchmark_group("signed pack EdDSA");
    g.bench_function("ours", |b| {
        b.iter(|| {
            s.rt.block_on(s.ours_alice.pack_signed(&msg, SIGN_BY))
                .unwrap()
        })
    });
    g.bench_function("ours, cold", |b| {
        b.iter(|| {
            let fresh = s.alice_wallet.cold();
            s.rt.block_on(fresh.pack_signed(&msg, SIGN_BY)).unwrap()
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            s.rt.block_on(
                s.ref_message
                    .pack_signed(SIGN_BY, &s.ref_resolver, &s.ref_alice),
            )
            .unwrap()
        })
    });
    g.finish();
    let (signed, _) =
        s.rt.block_on(s.ours_alice.pack_signed(&msg, SIGN_BY))
            .unwrap();
    let mut g = c.benchmark_group("signed unpack EdDSA");
    g.bench_function("ours", |b| {
        b.iter(|| {
            s.rt.block_on(s.ours_bob.unpack(black_box(&signed), &unpack))
                .unwrap()
        })
    });
    g.bench_function("ours, cold", |b| {
        b.iter(|| {
            let fresh = s.bob_wallet.cold();
            s.rt.block_on(fresh.unpack(black_box(&signed), &unpack))
                .unwrap()
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            s.rt.block_on(didcomm_reference::Message::unpack(
                black_box(&signed),
                &s.ref_resolver,
                &s.ref_bob,
                &ref_unpack,
            ))
            .unwrap()
        })
    });
    g.finish();
}

/// Mean time per iteration in nanoseconds, from criterion's saved estimates.
fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let dir = |s: &str| s.replace(['/', '\\'], "_");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target
        .join("criterion")
        .join(dir(group))
        .join(dir(function))
        .join("new/estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn report() {
    let groups = [
        "authcrypt pack",
        "authcrypt unpack",
        "anoncrypt pack A256CBC-HS512",
        "anoncrypt unpack A256CBC-HS512",
        "anoncrypt pack A256GCM",
        "anoncrypt unpack A256GCM",
        "anoncrypt pack XC20P",
        "anoncrypt unpack XC20P",
        "signed pack EdDSA",
        "signed unpack EdDSA",
    ];
    let mut rows = vec![];
    println!(
        "\n{:<32} {:>12} {:>12} {:>12} {:>8} {:>10}",
        "operation", "ours ops/s", "cold ops/s", "ref ops/s", "ratio", "cold ratio"
    );
    for g in groups {
        let (Some(ours), Some(reference)) = (mean_ns(g, "ours"), mean_ns(g, "reference")) else {
            continue;
        };
        let cold = mean_ns(g, "ours, cold");
        let ops = |ns: f64| 1e9 / ns;
        println!(
            "{:<32} {:>12.0} {:>12} {:>12.0} {:>7.2}x {:>10}",
            g,
            ops(ours),
            cold.map(|c| format!("{:.0}", ops(c)))
                .unwrap_or_else(|| "-".into()),
            ops(reference),
            reference / ours,
            cold.map(|c| format!("{:.2}x", reference / c))
                .unwrap_or_else(|| "-".into()),
        );
        rows.push(json!({
            "operation": g,
            "ours_ops_per_s": ops(ours),
            "ours_cold_ops_per_s": cold.map(ops),
            "reference_ops_per_s": ops(reference),
            "ratio": reference / ours,
            "cold_ratio": cold.map(|c| reference / c),
        }));
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-envelope.json");
    let _ = std::fs::write(
        out,
        serde_json::to_string_pretty(&json!({"median_based": rows})).unwrap_or_default(),
    );
}

fn main() {
    let setup = setup();
    let mut c = Criterion::default()
        .with_measurement(ThreadCpuTime)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args();
    bench_all(&mut c, &setup);
    c.final_summary();
    report();
}
