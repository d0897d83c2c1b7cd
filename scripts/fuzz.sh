#!/usr/bin/env bash
# Fuzz campaigns (see FUZZING.md). Installs nightly and cargo-fuzz if missing, seeds each
# corpus with the vectors and with large hostile inputs (long DIDs, many JWS signatures and JWE
# recipients, deep nesting), then runs every target (or those named in FUZZ_TARGETS):
#   FUZZ_RUNS=N      stop each target after N executions (a campaign: 10000000)
#   FUZZ_SECONDS=S   or after S seconds (default 60 when FUZZ_RUNS is unset)
#   FUZZ_JOBS=J      parallel fuzzing processes per target (default 1)
#   FUZZ_SANITIZER=S cargo-fuzz's sanitizer (default address; `none` for targets whose whole
#                    path is safe Rust, several times faster: see FUZZING.md)
# libFuzzer's defaults flag only units slower than 20 minutes or single allocations above 2 GB,
# which hides quadratic or memory-amplifying inputs: here every unit must finish within 5 s
# and make no allocation above 64 MB (inputs are at most 1 MiB). 5 s, not 1: under ASan with
# debug assertions, linear work on a large input is slow (message_parse: 10,000 attachments,
# parsed and written twice, 0.8 s; 40,000, 3.4 s), while a quadratic input of that size takes
# minutes. The process's RSS limit is
# 2 GB: ASan's quarantine and the corpus held in memory alone are 500-600 MB (measured), so a
# 512 MB limit stopped campaigns on no input of their own; per-request memory is measured by
# `make bench-hostile` and core/tests/hostile.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DIDCOMM_VECTORS="${DIDCOMM_VECTORS:-$(pwd)/testdata/vectors}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
for t in $targets; do mkdir -p "fuzz/corpus/$t"; done
python3 - "$DIDCOMM_VECTORS" fuzz/corpus <<'PY'
import base64, glob, hashlib, json, os, sys
src, out = sys.argv[1], sys.argv[2]
def put(target, data):
    d = os.path.join(out, target)
    if os.path.isdir(d):
        open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb").write(data)
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
packed = []
for f in glob.glob(src + "/didcomm-spec/*messages.json") + glob.glob(src + "/sicpa-didcomm-rust/vectors_*.json"):
    for v in json.load(open(f))["vectors"]:
        packed.append(v["packed"].encode())
# mediator_request: the first byte picks raw (0), authcrypted by a granted device (1) or
# anoncrypted (2) handling of the rest.
for data in packed:
    for target in ("unpack", "message_parse"):
        put(target, data)
    put("mediator_request", b"\x00" + data)
cm, pu = "https://didcomm.org/coordinate-mediation/3.0/", "https://didcomm.org/messagepickup/3.0/"
plaintexts = [
    (cm + "mediate-request", {}),
    (cm + "recipient-update", {"updates": [{"recipient_did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "action": "add"}]}),
    (cm + "recipient-query", {"paginate": {"limit": 10, "offset": 0}}),
    ("https://didcomm.org/coordinate-mediation/2.0/keylist-update", {"updates": [{"recipient_key": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "action": "add"}]}),
    (pu + "status-request", {}),
    (pu + "delivery-request", {"limit": 10}),
    (pu + "messages-received", {"message_id_list": ["a", "b"]}),
    (pu + "live-delivery-change", {"live_delivery": True}),
    ("https://didcomm.org/messagepickup/4.0/delivery-request", {"limit": 10}),
    ("https://didcomm.org/trust-ping/2.0/ping", {"response_requested": True}),
    ("https://didcomm.org/discover-features/2.0/queries", {"queries": [{"feature-type": "protocol", "match": "*"}]}),
    ("https://didcomm.org/routing/2.0/forward", {"next": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}),
]
for i, (type_, body) in enumerate(plaintexts):
    message = {"id": "seed-%d" % i, "type": type_, "body": body, "return_route": "all"}
    if type_.endswith("forward"):
        message["attachments"] = [{"id": "a", "data": {"json": {"protected": "e30", "ciphertext": "AA"}}}]
    for mode in (b"\x01", b"\x02"):
        put("mediator_request", mode + json.dumps(message).encode())
# DIDs of the did:key and did:peer vectors seed the DID parser.
dids = set()
for f in glob.glob(src + "/did-key/*.json") + glob.glob(src + "/did-peer/*.json"):
    for word in open(f).read().replace('"', " ").split():
        if word.startswith("did:") and len(word) < 65536:
            dids.add(word.split("#")[0])
for did in dids:
    put("did_parse", did.encode())
# Large hostile seeds (each at most 1 MiB): what an attacker sends first.
long_kid = "did:key:z" + "2" * 200_000
put("did_parse", long_kid.encode())
put("did_parse", ("did:peer:2" + ".Vz6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK" * 5000).encode())
sig = {"protected": b64(json.dumps({"alg": "EdDSA", "kid": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}).encode()), "signature": b64(bytes(64))}
many_sigs = json.dumps({"payload": b64(b'{"id":"1","type":"t","body":{}}'), "signatures": [sig] * 5000}).encode()
long_sig = json.dumps({"payload": b64(b"{}"), "signatures": [{"protected": b64(json.dumps({"alg": "EdDSA", "kid": long_kid}).encode()), "signature": b64(bytes(64))}]}).encode()
rec = {"header": {"kid": "did:key:z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc#z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc"}, "encrypted_key": b64(bytes(40))}
prot = b64(json.dumps({"alg": "ECDH-ES+A256KW", "enc": "A256CBC-HS512", "epk": {"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))}}).encode())
many_recipients = json.dumps({"protected": prot, "recipients": [rec] * 5000, "iv": b64(bytes(16)), "ciphertext": b64(bytes(64)), "tag": b64(bytes(32))}).encode()
nested = b"[" * 100_000 + b"]" * 100_000
for data in (many_sigs, long_sig, many_recipients, nested):
    put("unpack", data)
    put("mediator_request", b"\x00" + data)
put("mediator_request", b"\x02" + json.dumps({"id": "f", "type": "https://didcomm.org/routing/2.0/forward", "body": {"next": long_kid}}).encode())
put("message_parse", nested)
put("message_parse", json.dumps({"id": "1", "type": "t", "body": {}, "from": long_kid, "attachments": [{"data": {"base64": "AA"}}] * 10000}).encode())
PY
stop=(-max_total_time="${FUZZ_SECONDS:-60}")
[ -n "${FUZZ_RUNS:-}" ] && stop=(-runs="$FUZZ_RUNS")
jobs="${FUZZ_JOBS:-1}"
for target in $targets; do
    echo "== fuzzing $target (${stop[0]#-}, $jobs job(s))"
    started=$(date +%s)
    (cargo +nightly fuzz run "$target" --sanitizer "${FUZZ_SANITIZER:-address}" --jobs "$jobs" -- "${stop[@]}" \
        -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len=1048576 -print_final_stats=1) 2>&1 \
        | grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|.*panicked|.*(timeout|crash|oom)-)' || true
    echo "   $target: $(( $(date +%s) - started )) s"
done
