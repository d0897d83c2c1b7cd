//! The board's memory map for the linker, and the spec vector the firmware unpacks (taken from
//! the repository's vector files, so the firmware checks the same published data as the host).

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    println!("cargo:rerun-if-env-changed=SENSOR_MEMORY");
    let measure = env::var("SENSOR_MEMORY").is_ok_and(|m| m == "measure");
    let memory = if target.starts_with("riscv32") {
        "memory-riscv.x"
    } else if measure {
        "memory-measure.x"
    } else {
        "memory-cortex-m.x"
    };
    // Named memory.x only in OUT_DIR, where cortex-m-rt's link.x (and -Tmemory.x) find it.
    fs::copy(memory, out.join("memory.x")).expect("memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");

    let vectors = PathBuf::from("../testdata/vectors");
    let messages = vectors.join("didcomm-spec/appendix-c-messages.json");
    println!("cargo:rerun-if-changed={}", messages.display());
    let all: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&messages).expect("vectors")).expect("JSON");
    let id = "spec-C3-authcrypt-X25519-A256CBC-HS512";
    let vector = all["vectors"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["id"] == id))
        .unwrap_or_else(|| panic!("no vector {id}"));
    let picked = serde_json::json!({
        "id": id,
        "packed": vector["packed"],
        "message": vector["expected"]["message"],
    });
    fs::write(out.join("spec_vector.json"), picked.to_string()).expect("write");
    // Bob's identity file, with only the keys of the curves a sensor build carries (X25519 and
    // Ed25519): the P-256/384/521 keys are refused by such a build, and unused by this vector.
    let bob = vectors.join("ids/spec-bob.json");
    println!("cargo:rerun-if-changed={}", bob.display());
    let mut bob: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&bob).expect("spec-bob")).expect("JSON");
    let carried = |key: &serde_json::Value| {
        let crv = key["publicKeyJwk"]["crv"]
            .as_str()
            .or(key["privateKeyJwk"]["crv"].as_str());
        key.is_string() || matches!(crv, Some("X25519" | "Ed25519"))
    };
    for doc in bob["did_docs"].as_array_mut().expect("did_docs") {
        for relationship in ["keyAgreement", "authentication", "verificationMethod"] {
            if let Some(keys) = doc.get_mut(relationship).and_then(|k| k.as_array_mut()) {
                keys.retain(carried);
            }
        }
    }
    bob["secrets"]
        .as_array_mut()
        .expect("secrets")
        .retain(carried);
    fs::write(out.join("spec_bob.json"), bob.to_string()).expect("write");
}
