//! `unpack` must never panic on any input, with real identities loaded so the fuzzer can reach
//! the decryption and verification paths (seed the corpus with the shared vectors:
//! `scripts/fuzz.sh` does).
#![no_main]

use std::sync::{Arc, OnceLock};

use didcomm_edge::{DidComm, UnpackOptions, Wallet};
use libfuzzer_sys::fuzz_target;

fn engine() -> &'static (DidComm, tokio::runtime::Runtime) {
    static ENGINE: OnceLock<(DidComm, tokio::runtime::Runtime)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::env::var("DIDCOMM_VECTORS").unwrap_or_else(|_| "../testdata/vectors".into());
        let mut wallet = Wallet::default();
        for name in ["spec-bob.json", "rust-bob.json"] {
            if let Ok(text) = std::fs::read_to_string(format!("{dir}/ids/{name}")) {
                if let Ok(w) = Wallet::from_json(&text) {
                    wallet.merge(w);
                }
            }
        }
        let dc = DidComm::new(Arc::new(wallet.resolver()), Arc::new(wallet.secrets_store()));
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        (dc, rt)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let (dc, rt) = engine();
        let _ = rt.block_on(dc.unpack(text, &UnpackOptions::default()));
    }
});
