//! `make bench-hostile`: the CPU time and peak memory the real mediator process spends on the
//! worst inputs we know of, each at most 1 MiB, against the targets of the hostile-input rules
//! (at most 50 ms CPU and 16 MiB extra memory per request before it is refused).
//!
//! It starts the mediator binary (SQLite in a temporary folder, loopback only, rate limits
//! lifted so every request reaches the parsers), then for each input: resets the process's
//! peak-RSS mark (`/proc/PID/clear_refs`), sends the input `REPEAT` times on one keep-alive
//! connection, and reads the process's CPU ticks (`/proc/PID/stat`) and peak RSS (`VmHWM`).
//! A legitimate 1 MiB forward is measured the same way in the same run as the reference row.
//! A benchmark, not a test: it prints a table and JSON lines and fails nothing.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use didcomm_edge::crypto::multikey::public_key_to_multibase;
use didcomm_edge::did::Relationship;
use didcomm_edge::routing::FORWARD_TYPE;
use didcomm_edge::{
    Attachment, DidComm, Identity, IdentityMethod, KeyPair, KeyType, Message, PackEncryptedOptions,
    ResolverChain, Wallet,
};
use didcomm_edge_testkit::{HttpAnswer, HttpConnection, MediatorProcess};
use serde_json::{json, Value};

/// Requests per input (CPU ticks are 10 ms: the mean over this many is fine-grained enough).
const REPEAT: usize = 20;
/// The size every hostile input is grown to.
const MIB: usize = 1024 * 1024;
const TARGET_CPU_MS: f64 = 50.0;
const TARGET_EXTRA_MIB: f64 = 16.0;

const ENCRYPTED: &str = "application/didcomm-encrypted+json";
const SIGNED: &str = "application/didcomm-signed+json";

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

/// A request that takes longer than this is reported as "over" and the mediator restarted
/// (the code before the hostile-input rules spent minutes on some of these inputs).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::main(flavor = "current_thread")]
async fn main() -> AnyResult<()> {
    let dir = tempfile::tempdir()?;
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    let mut mediator = spawn_mediator(bin, dir.path()).await?;
    let mediator_did = mediator.did.clone();

    let cases = build_cases(&mediator_did).await?;
    println!(
        "{:<34} {:>9} {:>6} {:>10} {:>10} {:>9} {:>9}",
        "input", "bytes", "status", "cpu ms/req", "peak +MiB", "cpu/50ms", "mem/16MiB"
    );
    let mut worst_cpu: f64 = 0.0;
    let mut worst_mem: f64 = 0.0;
    for case in &cases {
        let pid = mediator.child.id().ok_or("the mediator has no pid")?;
        let mut client = HttpConnection::connect(mediator.addr).await?;
        reset_peak(pid)?;
        let rss_before = status_kib(pid, "VmRSS:")?;
        let ticks_before = cpu_ticks(pid)?;
        let started = Instant::now();
        // The first request alone: a slow input is measured once, a fast one REPEAT more times.
        let (status, reason, requests) = match post(&mut client, case).await {
            Err(_) => (0, format!("no answer within {REQUEST_TIMEOUT:?}"), 1),
            Ok(first) => {
                let first = first?;
                let mut requests = 1;
                if started.elapsed() < Duration::from_millis(500) {
                    for _ in 0..REPEAT {
                        let r = post(&mut client, case).await??;
                        if r.status != first.status {
                            println!(
                                "  note: {} answered {} then {}",
                                case.name, first.status, r.status
                            );
                        }
                        requests += 1;
                    }
                }
                (first.status, excerpt(&first.text()), requests)
            }
        };
        let wall = started.elapsed();
        let ticks = cpu_ticks(pid)? - ticks_before;
        let peak = status_kib(pid, "VmHWM:")?;
        let cpu_ms = ticks as f64 * 1000.0 / clock_ticks_per_second() as f64 / requests as f64;
        let extra_mib = peak.saturating_sub(rss_before) as f64 / 1024.0;
        if status == 0 {
            // Still busy with the input: start over with a fresh process.
            let _ = mediator.kill().await;
            mediator = spawn_mediator(bin, dir.path()).await?;
        }
        if !case.name.starts_with("reference") {
            worst_cpu = worst_cpu.max(cpu_ms);
            worst_mem = worst_mem.max(extra_mib);
        }
        let over = if status == 0 { ">" } else { " " };
        println!(
            "{:<34} {:>9} {:>6} {over}{:>9.2} {:>10.2} {:>9.3} {:>9.3}",
            case.name,
            case.body.len(),
            status,
            cpu_ms,
            extra_mib,
            cpu_ms / TARGET_CPU_MS,
            extra_mib / TARGET_EXTRA_MIB
        );
        println!(
            "{}",
            json!({
                "input": case.name, "bytes": case.body.len(), "status": status,
                "requests": requests, "cpu_ms_per_request": cpu_ms, "peak_extra_mib": extra_mib,
                "wall_ms_per_request": wall.as_secs_f64() * 1000.0 / requests as f64,
                "timed_out": status == 0, "reason": reason,
            })
        );
    }
    println!(
        "worst hostile input: {worst_cpu:.2} ms CPU ({:.3} of the 50 ms target), {worst_mem:.2} MiB \
         extra ({:.3} of the 16 MiB target)",
        worst_cpu / TARGET_CPU_MS,
        worst_mem / TARGET_EXTRA_MIB
    );
    let _ = mediator.kill().await;
    Ok(())
}

async fn post(
    client: &mut HttpConnection,
    case: &Case,
) -> Result<didcomm_edge_testkit::Result<HttpAnswer>, tokio::time::error::Elapsed> {
    let request = client.request("POST", "/", Some(case.content_type), case.body.clone());
    tokio::time::timeout(REQUEST_TIMEOUT, request).await
}

/// The first line of a reply, shortened (the bench shows what the mediator answered).
fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The mediator binary on loopback, rate limits lifted so every request reaches the parsers.
async fn spawn_mediator(bin: &Path, data_dir: &Path) -> AnyResult<MediatorProcess> {
    let args = [
        "--log-filter",
        "error",
        "--max-message-bytes",
        "1100000",
        "--rate-limit-per-second",
        "1000000000",
        "--rate-limit-burst",
        "1000000000",
    ];
    Ok(MediatorProcess::start(bin, data_dir, args).await?)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(value.to_string())
}

/// `did:key:z` followed by `n` times `2`: base58 decoding of it is quadratic in `n`.
fn long_did_key(n: usize) -> String {
    format!("did:key:z{}", "2".repeat(n))
}

/// A real Ed25519 did:key URL (resolvable), for entries that should look legitimate.
fn ed25519_kid() -> AnyResult<String> {
    let pair = KeyPair::generate(KeyType::Ed25519)?;
    let mb = public_key_to_multibase(pair.public());
    Ok(format!("did:key:{mb}#{mb}"))
}

fn signature_entry(kid: &str) -> Value {
    json!({
        "protected": b64_json(&json!({"typ": SIGNED, "alg": "EdDSA", "kid": kid})),
        "signature": b64([7u8; 64]),
    })
}

fn jwe(protected: &Value, recipients: Vec<Value>, ciphertext_len: usize) -> Vec<u8> {
    json!({
        "protected": b64_json(protected),
        "recipients": recipients,
        "iv": b64([1u8; 16]),
        "ciphertext": b64(vec![2u8; ciphertext_len]),
        "tag": b64([3u8; 32]),
    })
    .to_string()
    .into_bytes()
}

fn epk() -> AnyResult<Value> {
    let pair = KeyPair::generate(KeyType::X25519)?;
    Ok(json!({"kty": "OKP", "crv": "X25519", "x": b64(pair.public().to_bytes())}))
}

async fn build_cases(mediator_did: &str) -> AnyResult<Vec<Case>> {
    let engine = DidComm::new(
        Arc::new(ResolverChain::new().without_web()),
        Arc::new(Wallet::default().secrets_store()),
    );
    let mediator = engine.resolve(mediator_did).await?;
    let mediator_kid = mediator
        .kids(Relationship::KeyAgreement)
        .first()
        .cloned()
        .ok_or("the mediator has no key agreement key")?;
    let mut cases = Vec::new();

    // The reference: a legitimate 1 MiB forward (a real encrypted message inside) to a
    // recipient nobody registered, refused after decryption the way a sender's mistake is.
    let recipient = Identity::generate(IdentityMethod::Key, None)?;
    let inner = Message::build(
        "inner-1",
        "https://didcomm.org/basicmessage/2.0/message",
        json!({"content": "a".repeat(MIB * 9 / 16 - 8192)}),
    )
    .to(recipient.did.as_str());
    let (inner, _) = engine
        .pack_encrypted(
            &inner,
            &recipient.did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await?;
    let legit = Message::build("fwd-ref", FORWARD_TYPE, json!({"next": recipient.did}))
        .to(mediator_did)
        .attachment(Attachment::json("m", serde_json::from_str(&inner)?));
    let (legit, _) = engine
        .pack_encrypted(
            &legit,
            mediator_did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await?;
    let legit = legit.into_bytes();
    cases.push(Case {
        name: "reference: 1 MiB forward",
        content_type: ENCRYPTED,
        body: legit,
    });

    // JWS, one signature, kid = did:key:z222… (quadratic base58 before any length check).
    let kid = long_did_key(MIB * 7 / 10);
    cases.push(Case {
        name: "jws: 0.7M-char did:key kid",
        content_type: SIGNED,
        body: json!({"payload": b64("{}"), "signatures": [signature_entry(&kid)]})
            .to_string()
            .into_bytes(),
    });
    // The same kid in the unprotected header (no base64 around it).
    let kid = long_did_key(MIB - 300);
    cases.push(Case {
        name: "jws: 1M-char kid in header",
        content_type: SIGNED,
        body: json!({"payload": b64("{}"), "signatures": [{
            "protected": b64_json(&json!({"typ": SIGNED, "alg": "EdDSA"})),
            "header": {"kid": kid},
            "signature": b64([7u8; 64]),
        }]})
        .to_string()
        .into_bytes(),
    });

    // JWS with a large payload and 1,000 signatures (each a signing input of payload size).
    let kid = ed25519_kid()?;
    let payload =
        b64(json!({"id": "x", "type": "t", "body": {"p": "a".repeat(420_000)}}).to_string());
    let signatures: Vec<Value> = (0..1000).map(|_| signature_entry(&kid)).collect();
    cases.push(Case {
        name: "jws: 580 KB payload, 1000 sigs",
        content_type: SIGNED,
        body: json!({"payload": payload, "signatures": signatures})
            .to_string()
            .into_bytes(),
    });
    // JWS with a small payload and as many signatures as fit in 1 MiB.
    let one = signature_entry(&kid).to_string().len() + 1;
    let signatures: Vec<Value> = (0..(MIB - 200) / one)
        .map(|_| signature_entry(&kid))
        .collect();
    cases.push(Case {
        name: "jws: 1 MiB of signatures",
        content_type: SIGNED,
        body: json!({"payload": b64("{}"), "signatures": signatures})
            .to_string()
            .into_bytes(),
    });

    // JWE with as many recipients as fit in 1 MiB; the mediator's own kid is the last one.
    let protected = json!({
        "typ": ENCRYPTED, "alg": "ECDH-ES+A256KW", "enc": "A256CBC-HS512", "epk": epk()?,
        "apv": b64([0u8; 32]),
    });
    let stranger = ed25519_kid()?;
    let entry = |kid: &str| json!({"header": {"kid": kid}, "encrypted_key": b64([9u8; 40])});
    let per = entry(&stranger).to_string().len() + 1;
    let mut recipients: Vec<Value> = (0..(MIB - 2000) / per).map(|_| entry(&stranger)).collect();
    recipients.push(entry(&mediator_kid));
    cases.push(Case {
        name: "jwe: 1 MiB of recipients",
        content_type: ENCRYPTED,
        body: jwe(&protected, recipients, 64),
    });

    // Authcrypt whose skid (and apu) is a 0.5M-char did:key.
    let skid = long_did_key(MIB / 4);
    let protected = json!({
        "typ": ENCRYPTED, "alg": "ECDH-1PU+A256KW", "enc": "A256CBC-HS512", "epk": epk()?,
        "skid": skid, "apu": b64(&skid), "apv": b64([0u8; 32]),
    });
    cases.push(Case {
        name: "jwe: 0.25M-char skid and apu",
        content_type: ENCRYPTED,
        body: jwe(&protected, vec![entry(&mediator_kid)], 64),
    });

    // Authcrypt whose skid is a did:peer:2 with thousands of real keys (linear to decode, but
    // every key is a point to parse) — resolved before the sender is authenticated.
    let mut peer = String::from("did:peer:2");
    let agreement = KeyPair::generate(KeyType::X25519)?;
    peer.push_str(".E");
    peer.push_str(&public_key_to_multibase(agreement.public()));
    while peer.len() < MIB / 4 {
        let signing = KeyPair::generate(KeyType::Ed25519)?;
        peer.push_str(".V");
        peer.push_str(&public_key_to_multibase(signing.public()));
    }
    let skid = format!("{peer}#key-1");
    let protected = json!({
        "typ": ENCRYPTED, "alg": "ECDH-1PU+A256KW", "enc": "A256CBC-HS512", "epk": epk()?,
        "skid": skid, "apu": b64(&skid), "apv": b64([0u8; 32]),
    });
    cases.push(Case {
        name: "jwe: skid did:peer:2, ~5k keys",
        content_type: ENCRYPTED,
        body: jwe(&protected, vec![entry(&mediator_kid)], 64),
    });

    // A 1 MiB ciphertext for the mediator's real key with a wrong key wrap.
    let protected = json!({
        "typ": ENCRYPTED, "alg": "ECDH-ES+A256KW", "enc": "A256CBC-HS512", "epk": epk()?,
        "apv": b64([0u8; 32]),
    });
    cases.push(Case {
        name: "jwe: 1 MiB ciphertext, bad wrap",
        content_type: ENCRYPTED,
        body: jwe(&protected, vec![entry(&mediator_kid)], MIB * 3 / 4 - 1000),
    });

    // Deep nesting and plain garbage.
    let depth = MIB / 2 - 10;
    cases.push(Case {
        name: "json: 0.5M-deep nesting",
        content_type: ENCRYPTED,
        body: format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
    });
    let garbage: Vec<u8> = b"ABCDEFGHIJKLMNOP"
        .iter()
        .copied()
        .cycle()
        .take(MIB)
        .collect();
    cases.push(Case {
        name: "garbage: 1 MiB",
        content_type: ENCRYPTED,
        body: garbage,
    });

    // Decryptable by the mediator, refused after decryption (anonymous senders need no grant).
    cases.push(Case {
        name: "forward: 0.7M-char did:key next",
        content_type: ENCRYPTED,
        body: forward_raw(&engine, mediator_did, &long_did_key(MIB * 7 / 10), 1).await?,
    });
    cases.push(Case {
        name: "forward: 12k attachments",
        content_type: ENCRYPTED,
        body: forward_to_mediator(&engine, mediator_did, "did:example:nobody", 12_000, 8).await?,
    });
    let iss = long_did_key(MIB / 6);
    let jwt = format!(
        "{}.{}.{}",
        b64_json(&json!({"alg": "EdDSA", "kid": format!("{iss}#k")})),
        // No `sub`: an ending, the one form allowed in a message without `from`.
        b64_json(&json!({"iss": iss, "iat": 1})),
        b64([5u8; 64])
    );
    let ping = Message::build(
        "ping-1",
        "https://didcomm.org/trust-ping/2.0/ping",
        json!({}),
    )
    .to(mediator_did)
    .from_prior(jwt);
    match engine
        .pack_encrypted(
            &ping,
            mediator_did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await
    {
        Ok((packed, _)) => cases.push(Case {
            name: "from_prior: 0.17M-char iss",
            content_type: ENCRYPTED,
            body: packed.into_bytes(),
        }),
        // The sending side may refuse to pack it at all: then no sender of ours can send it.
        Err(e) => println!("skipped from_prior case: our own pack refuses it ({e})"),
    }
    Ok(cases)
}

/// An anoncrypted forward to the mediator carrying `count` base64 attachments of `size` bytes.
async fn forward_to_mediator(
    engine: &DidComm,
    mediator_did: &str,
    next: &str,
    count: usize,
    size: usize,
) -> AnyResult<Vec<u8>> {
    let mut message = Message::build("fwd-1", FORWARD_TYPE, json!({"next": next})).to(mediator_did);
    let bytes = vec![b'x'; size];
    for i in 0..count {
        message = message.attachment(Attachment::base64(format!("a{i}"), &bytes));
    }
    let (packed, _) = engine
        .pack_encrypted(
            &message,
            mediator_did,
            None,
            None,
            &PackEncryptedOptions::default(),
        )
        .await?;
    Ok(packed.into_bytes())
}

/// As [`forward_to_mediator`] with one small attachment, `next` given verbatim.
async fn forward_raw(
    engine: &DidComm,
    mediator_did: &str,
    next: &str,
    count: usize,
) -> AnyResult<Vec<u8>> {
    forward_to_mediator(engine, mediator_did, next, count, 64).await
}

fn reset_peak(pid: u32) -> AnyResult<()> {
    // "5" resets the peak resident set size (VmHWM) to the current one.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    Ok(())
}

fn status_kib(pid: u32, field: &str) -> AnyResult<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("no such field in /proc/PID/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("malformed /proc/PID/status")?
        .parse()?)
}

/// User plus system CPU time of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> AnyResult<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').ok_or("malformed /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let utime: u64 = fields.get(11).ok_or("short stat")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("short stat")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
