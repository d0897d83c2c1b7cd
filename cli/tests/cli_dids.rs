//! Black-box tests of `didcomm-edge resolve` and `didcomm-edge keys new`, and of pack/unpack to
//! DIDs that no wallet holds (resolved by the built-in methods).
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

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_didcomm-edge"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may exit (bad arguments) before reading stdin: a broken pipe is not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_clean_failure(out: &Output, kind: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(
        stderr.starts_with(&format!("error: {kind}: ")),
        "{stderr:?}"
    );
}

/// A new identity written to a temporary wallet file: (DID, path).
fn new_identity(dir: &std::path::Path, name: &str, args: &[&str]) -> (String, String) {
    let mut all = vec!["keys", "new"];
    all.extend_from_slice(args);
    let wallet = ok_json(&run(&all, ""));
    let did = wallet["did_docs"][0]["id"].as_str().unwrap().to_owned();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, wallet.to_string()).unwrap();
    (did, path.display().to_string())
}

#[test]
fn keys_new_then_resolve_gives_the_same_document() {
    let dir = std::env::temp_dir().join(format!("didcomm-edge-cli-dids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for method in ["peer2", "peer4", "key"] {
        let mut args = vec!["--method", method];
        if method != "key" {
            args.extend([
                "--service",
                "https://example.com/didcomm",
                "--routing-key",
                "did:example:mediator#k1",
            ]);
        }
        let (did, path) = new_identity(&dir, method, &args);
        let wallet: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let resolved = ok_json(&run(&["resolve", &did], ""));
        assert_eq!(resolved, wallet["did_docs"][0], "{method}");
        let kids: Vec<&str> = wallet["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kid"].as_str().unwrap())
            .collect();
        assert!(
            kids.iter()
                .all(|k| k.starts_with(&did) || method == "peer4"),
            "{kids:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pack_and_unpack_between_new_identities_without_each_others_documents() {
    let dir = std::env::temp_dir().join(format!("didcomm-edge-cli-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (alice, alice_wallet) = new_identity(
        &dir,
        "alice",
        &["--method", "peer2", "--service", "https://alice.example/dc"],
    );
    let (bob, bob_wallet) = new_identity(&dir, "bob", &["--method", "peer4"]);
    let (carol, carol_wallet) = new_identity(&dir, "carol", &["--method", "key"]);
    for (from, from_wallet, to, to_wallet) in [
        (&alice, &alice_wallet, &bob, &bob_wallet),
        (&bob, &bob_wallet, &carol, &carol_wallet),
        (&carol, &carol_wallet, &alice, &alice_wallet),
    ] {
        let message = json!({"id": "1", "type": "https://didcomm.org/basicmessage/2.0/message",
                             "from": from, "to": [to], "body": {"content": "hi"}});
        for mode in ["authcrypt", "signed"] {
            let mut args = vec![
                "pack",
                "--wallet",
                from_wallet.as_str(),
                "--mode",
                mode,
                "--from",
                from.as_str(),
            ];
            if mode == "authcrypt" {
                args.extend(["--to", to.as_str()]);
            }
            let packed = run(&args, &message.to_string());
            assert!(packed.status.success(), "{mode} {from} -> {to}: {packed:?}");
            let out = ok_json(&run(
                &["unpack", "--wallet", to_wallet],
                &String::from_utf8(packed.stdout).unwrap(),
            ));
            assert_eq!(out["message"]["body"]["content"], "hi");
            assert_eq!(out["metadata"]["authenticated"], true);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resolve_matches_a_did_key_vector_in_each_format() {
    let file = vectors().join("did-key/w3c-ccg-ed25519-x25519.json");
    let data: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
    let doc = ok_json(&run(&["resolve", "--key-format", "legacy", did], ""));
    assert_eq!(doc, data["data"][did]["didDocument"]);
    let doc = ok_json(&run(
        &[
            "resolve",
            &format!("{did}#z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"),
        ],
        "",
    ));
    assert_eq!(doc["verificationMethod"][0]["type"], "Multikey");
}

#[test]
fn bad_input_fails_cleanly() {
    assert_clean_failure(
        &run(
            &[
                "resolve",
                "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0",
            ],
            "",
        ),
        "malformed",
    );
    assert_clean_failure(
        &run(
            &[
                "resolve",
                "did:peer:2.Vz6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
            ],
            "",
        ),
        "malformed",
    );
    assert_clean_failure(
        &run(&["resolve", "did:example:nobody"], ""),
        "did_not_resolved",
    );
    assert_clean_failure(
        &run(
            &[
                "keys",
                "new",
                "--method",
                "peer2",
                "--routing-key",
                "did:example:m#k",
            ],
            "",
        ),
        "illegal_argument",
    );
    assert_clean_failure(
        &run(
            &["keys", "new", "--method", "key", "--service", "https://x"],
            "",
        ),
        "illegal_argument",
    );
    assert_clean_failure(
        &run(&["keys", "new", "--method", "nope"], ""),
        "illegal_argument",
    );
}
