//! Black-box tests of the `didcomm-edge` binary: every mode round-trips through the CLI, the
//! vectors unpack, and failures keep the contract (status 2, one line on stderr, no panic).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn vectors() -> PathBuf {
    std::env::var("DIDCOMM_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors"))
}

fn id_file(name: &str) -> String {
    vectors().join("ids").join(name).display().to_string()
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_didcomm-edge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may exit (e.g. on a bad wallet path) before reading stdin: a broken pipe here
    // is expected, and its output is what the test checks.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn assert_clean_failure(out: &Output, kind: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(
        stderr.starts_with(&format!("error: {kind}: ")),
        "{stderr:?}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

fn message() -> String {
    json!({
        "id": "m-1", "type": "https://didcomm.org/basicmessage/2.0/message",
        "from": "did:example:alice", "to": ["did:example:bob"],
        "created_time": 1700000000, "body": {"content": "hello from the CLI"}
    })
    .to_string()
}

fn pack_then_unpack(pack_args: &[&str]) -> Value {
    let alice = id_file("spec-alice.json");
    let bob = id_file("spec-bob.json");
    let mut args = vec!["pack", "--wallet", &alice];
    args.extend_from_slice(pack_args);
    let packed = run(&args, &message());
    assert!(packed.status.success(), "{packed:?}");
    let unpacked = run(
        &["unpack", "--wallet", &bob],
        &String::from_utf8(packed.stdout).unwrap(),
    );
    assert!(unpacked.status.success(), "{unpacked:?}");
    let out: Value = serde_json::from_slice(&unpacked.stdout).unwrap();
    assert_eq!(out["message"]["body"]["content"], "hello from the CLI");
    out["metadata"].clone()
}

#[test]
fn every_mode_round_trips() {
    let m = pack_then_unpack(&["--mode", "plaintext"]);
    assert_eq!(m["encrypted"], false);
    let m = pack_then_unpack(&["--mode", "signed", "--sign-by", "did:example:alice#key-3"]);
    assert_eq!(
        (m["non_repudiation"].clone(), m["sign_alg"].clone()),
        (json!(true), json!("ES256K"))
    );
    for enc in ["A256CBC-HS512", "A256GCM", "XC20P"] {
        let m = pack_then_unpack(&[
            "--mode",
            "anoncrypt",
            "--to",
            "did:example:bob",
            "--enc",
            enc,
        ]);
        assert_eq!(m["enc_alg_anon"], format!("ECDH-ES+A256KW/{enc}"));
    }
    let m = pack_then_unpack(&[
        "--mode",
        "authcrypt",
        "--from",
        "did:example:alice",
        "--to",
        "did:example:bob",
    ]);
    assert_eq!(m["encrypted_from_kid"], "did:example:alice#key-x25519-1");
    let m = pack_then_unpack(&[
        "--mode",
        "authcrypt",
        "--from",
        "did:example:alice#key-p521-1",
        "--to",
        "did:example:bob",
        "--sign-by",
        "did:example:alice#key-1",
        "--protect-sender",
        "--enc",
        "XC20P",
    ]);
    assert_eq!(m["anonymous_sender"], true);
    assert_eq!(m["enc_alg_anon"], "ECDH-ES+A256KW/XC20P");
    assert_eq!(
        m["encrypted_to_kids"],
        json!(["did:example:bob#key-p521-1", "did:example:bob#key-p521-2"])
    );
    // Several key ids of one DID.
    let m = pack_then_unpack(&[
        "--mode",
        "anoncrypt",
        "--to",
        "did:example:bob#key-p384-2",
        "did:example:bob#key-p384-1",
    ]);
    assert_eq!(
        m["encrypted_to_kids"],
        json!(["did:example:bob#key-p384-2", "did:example:bob#key-p384-1"])
    );
}

#[test]
fn spec_vectors_unpack_through_the_cli() {
    let text =
        std::fs::read_to_string(vectors().join("didcomm-spec/appendix-c-messages.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let bob = id_file("spec-bob.json");
    for v in file["vectors"].as_array().unwrap() {
        let out = run(&["unpack", "--wallet", &bob], v["packed"].as_str().unwrap());
        assert!(out.status.success(), "{}: {out:?}", v["id"]);
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["message"], v["expected"]["message"], "{}", v["id"]);
    }
}

#[test]
fn failures_are_one_line_with_status_2() {
    let bob = id_file("spec-bob.json");
    let alice = id_file("spec-alice.json");
    assert_clean_failure(&run(&["unpack", "--wallet", &bob], "not json"), "malformed");
    assert_clean_failure(&run(&["unpack", "--wallet", &bob], "{}"), "malformed");
    assert_clean_failure(
        &run(&["unpack", "--wallet", "/nonexistent/w.json"], "{}"),
        "illegal_argument",
    );
    assert_clean_failure(
        &run(&["pack", "--wallet", &alice, "--mode", "bogus"], "{}"),
        "illegal_argument",
    );
    assert_clean_failure(
        &run(
            &[
                "pack",
                "--wallet",
                &alice,
                "--mode",
                "authcrypt",
                "--to",
                "did:example:bob",
            ],
            &message(),
        ),
        "illegal_argument",
    );
    assert_clean_failure(
        &run(
            &[
                "pack",
                "--wallet",
                &alice,
                "--mode",
                "anoncrypt",
                "--to",
                "did:example:carol",
            ],
            &message(),
        ),
        "illegal_argument",
    );
    let to_unknown = message().replace("did:example:bob", "did:example:nobody");
    assert_clean_failure(
        &run(
            &[
                "pack",
                "--wallet",
                &alice,
                "--mode",
                "anoncrypt",
                "--to",
                "did:example:nobody",
            ],
            &to_unknown,
        ),
        "did_not_resolved",
    );
    // Alice cannot read what was encrypted to Bob.
    let packed = run(
        &[
            "pack",
            "--wallet",
            &alice,
            "--mode",
            "anoncrypt",
            "--to",
            "did:example:bob",
        ],
        &message(),
    );
    assert_clean_failure(
        &run(
            &["unpack", "--wallet", &alice],
            &String::from_utf8(packed.stdout).unwrap(),
        ),
        "secret_not_found",
    );
    // Binary garbage on stdin.
    assert_clean_failure(
        &run(&["unpack", "--wallet", &bob], "\u{0}\u{1}\u{2}"),
        "malformed",
    );
}

#[test]
fn bench_runs_and_reports_json() {
    let out = run(
        &["bench", "--json", "--seconds", "0.02", "--filter", "signed"],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ops_per_second"]["signed pack EdDSA"].as_f64().unwrap() > 0.0);
}
