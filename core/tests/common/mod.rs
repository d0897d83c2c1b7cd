//! Helpers shared by the integration tests: the shared vector folder and identity files.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::Arc;

use didcomm_edge::{DidComm, Wallet};
use serde_json::Value;

/// `testdata/vectors` of the repository, or `$DIDCOMM_VECTORS`.
pub fn vectors_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DIDCOMM_VECTORS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors")
}

pub fn read_json(relative: &str) -> Value {
    let path = vectors_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// An identity file by its vector name (`bob` is `ids/spec-bob.json`, `bob-rust` is
/// `ids/rust-bob.json`) or file stem.
pub fn wallet(name: &str) -> Wallet {
    let file = match name.split_once('-') {
        Some((who, "rust")) => format!("ids/rust-{who}.json"),
        None => format!("ids/spec-{name}.json"),
        Some(_) => format!("ids/{name}.json"),
    };
    let path = vectors_dir().join(&file);
    Wallet::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn engine(wallet: &Wallet) -> DidComm {
    DidComm::new(
        Arc::new(wallet.resolver()),
        Arc::new(wallet.secrets_store()),
    )
}

/// Our metadata in the vectors' normalized form.
pub fn normalized_metadata(meta: &didcomm_edge::UnpackMetadata) -> Value {
    serde_json::json!({
        "encrypted": meta.encrypted,
        "authenticated": meta.authenticated,
        "non_repudiation": meta.non_repudiation,
        "anonymous_sender": meta.anonymous_sender,
        "re_wrapped_in_forward": meta.re_wrapped_in_forward,
        "encrypted_from": meta.encrypted_from_kid,
        "encrypted_to": meta.encrypted_to_kids.as_ref().map(|v| { let mut v = v.clone(); v.sort(); v }),
        "sign_from": meta.sign_from,
        "enc_alg_auth": meta.enc_alg_auth.map(|a| a.as_str()),
        "enc_alg_anon": meta.enc_alg_anon.map(|a| a.as_str()),
        "sign_alg": meta.sign_alg.map(|a| a.as_str()),
        "from_prior_issuer_kid": meta.from_prior_issuer_kid,
    })
}

pub fn sorted_expected_metadata(expected: &Value) -> Value {
    let mut e = expected.clone();
    if let Some(Value::Array(to)) = e.get_mut("encrypted_to") {
        to.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    e
}
