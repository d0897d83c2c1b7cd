//! `uniffi-bindgen`: UniFFI's generator at exactly the release the library links (the workspace
//! lock file pins both), so generated Kotlin, Swift and Python always match the scaffolding.
//!
//! `cargo run -p didcomm-edge-uniffi-bindgen -- generate --library <cdylib> --language kotlin --out-dir <dir>`
#![forbid(unsafe_code)]

fn main() {
    uniffi::uniffi_bindgen_main()
}
