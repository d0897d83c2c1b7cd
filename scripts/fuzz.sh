#!/usr/bin/env bash
# Run every fuzz target for FUZZ_SECONDS (default 60) each. Installs nightly and cargo-fuzz if
# missing. Seeds the unpack corpus with the shared vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
export DIDCOMM_VECTORS="${DIDCOMM_VECTORS:-$(cd .. && pwd)/shared/vectors}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
mkdir -p fuzz/corpus/unpack fuzz/corpus/message_parse fuzz/corpus/did_parse
python3 - "$DIDCOMM_VECTORS" fuzz/corpus <<'PY'
import json, sys, glob, hashlib, os
src, out = sys.argv[1], sys.argv[2]
for f in glob.glob(src + "/didcomm-spec/*messages.json") + glob.glob(src + "/sicpa-didcomm-rust/vectors_*.json"):
    for v in json.load(open(f))["vectors"]:
        data = v["packed"].encode()
        name = hashlib.sha1(data).hexdigest()
        for target in ("unpack", "message_parse"):
            open(os.path.join(out, target, name), "wb").write(data)
# DIDs of the did:key and did:peer vectors seed the DID parser.
dids = set()
for f in glob.glob(src + "/did-key/*.json") + glob.glob(src + "/did-peer/*.json"):
    text = open(f).read()
    for word in text.replace('"', " ").split():
        if word.startswith("did:") and len(word) < 65536:
            dids.add(word.split("#")[0])
for did in dids:
    data = did.encode()
    open(os.path.join(out, "did_parse", hashlib.sha1(data).hexdigest()), "wb").write(data)
PY
for target in $(cargo +nightly fuzz list); do
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    cargo +nightly fuzz run "$target" -- -max_total_time="$SECONDS_EACH" -max_len=65536 2>&1 \
        | grep -E '^(#[0-9]+.*DONE|Done|==[0-9]+==|SUMMARY|.*panicked)' || true
done
