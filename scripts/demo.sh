#!/usr/bin/env bash
# `make demo`: what can be shown today. Alice packs a message for Bob with the CLI (authcrypt,
# sender protected), we look at what a mediator would see, and Bob unpacks it.
# The mediator + two edge devices demo replaces this once the mediator lands (issue 6).
set -euo pipefail
cd "$(dirname "$0")/.."
VECTORS="${DIDCOMM_VECTORS:-$(cd .. && pwd)/shared/vectors}"
cargo build -q --release -p didcomm-edge-cli
BIN=target/release/didcomm-edge
ALICE="$VECTORS/ids/spec-alice.json"
BOB="$VECTORS/ids/spec-bob.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Alice writes a plaintext message to Bob"
cat > "$tmp/plain.json" <<JSON
{"id": "demo-1", "type": "https://didcomm.org/basicmessage/2.0/message",
 "from": "did:example:alice", "to": ["did:example:bob"],
 "created_time": $(date +%s), "body": {"content": "Hello Bob, the greenhouse is at 21.5C"}}
JSON
cat "$tmp/plain.json"

step "Alice packs it: authcrypt to Bob's key agreement keys, wrapped in anoncrypt (protect_sender)"
"$BIN" pack --wallet "$ALICE" --mode authcrypt --from did:example:alice --to did:example:bob \
    --protect-sender < "$tmp/plain.json" > "$tmp/packed.json"
echo "$(wc -c < "$tmp/packed.json") bytes on the wire"

step "What anyone on the path sees: only the outer protected header"
python3 - "$tmp/packed.json" <<'PY'
import base64, json, sys
jwe = json.load(open(sys.argv[1]))
p = jwe["protected"]; p += "=" * (-len(p) % 4)
header = json.loads(base64.urlsafe_b64decode(p))
print(json.dumps({k: header[k] for k in ("typ", "alg", "enc")}, indent=2))
print("recipients:", [r["header"]["kid"] for r in jwe["recipients"]])
print("no sender key id ('skid') visible:", "skid" not in header)
PY

step "Bob unpacks it and learns who sent it"
"$BIN" unpack --wallet "$BOB" < "$tmp/packed.json" | python3 -c '
import json, sys
out = json.load(sys.stdin)
m, md = out["message"], out["metadata"]
print("message:", m["body"]["content"])
print("from:", m["from"], "| authenticated:", md["authenticated"], "| sender key:", md["encrypted_from_kid"])
print("algorithms:", md["enc_alg_anon"], "around", md["enc_alg_auth"])'

step "Alice cannot read her own sealed message (only Bob holds the keys)"
if "$BIN" unpack --wallet "$ALICE" < "$tmp/packed.json" 2> "$tmp/err"; then
    echo "unexpected: Alice could decrypt" >&2; exit 1
fi
cat "$tmp/err"
printf '\ndemo finished\n'
