#!/usr/bin/env bash
# Mediator load benchmark on loopback: SQLite over plain HTTP, SQLite over TLS (HTTPS and
# WSS with a certificate made for the run), then a private PostgreSQL. Prints one JSON report
# per run and the TLS / plain ratios (record them in BENCHMARKS.md). Extra arguments go to the
# load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
# The mediator and the load generator (the testkit's binary, which starts the mediator beside it).
cargo build --release --locked -p didcomm-edge-mediator -p didcomm-edge-testkit --bins
load=./target/release/didcomm-edge-mediator-load
reports="$(mktemp -d)"
pgdir="$(mktemp -d)"
trap './scripts/postgres.sh stop "$pgdir/pg"; rm -rf "$pgdir" "$reports"' EXIT
"$load" "$@" | tee "$reports/plain.json"
"$load" --tls "$@" | tee "$reports/tls.json"
python3 - "$reports/plain.json" "$reports/tls.json" <<'PY'
import json, sys
plain, tls = (json.load(open(p)) for p in sys.argv[1:3])
def ratio(path):
    a, b = plain, tls
    for key in path:
        a, b = a[key], b[key]
    return b / a if a else float("nan")
print("TLS / plain (SQLite, same run):")
for name, path in [
    ("forward throughput", ["throughput", "msgs_per_s"]),
    ("forward p50 latency", ["throughput", "latency_ms", "p50"]),
    ("pickup throughput", ["pickup", "msgs_per_s"]),
    ("fixed-rate p99 latency", ["fixed_rate", "latency_ms", "p99"]),
    ("live p50 forward-to-delivery", ["live", "forward_to_delivery_ms", "p50"]),
    ("idle RSS", ["rss_idle_mib"]),
]:
    try:
        print(f"  {name:30} {ratio(path):.2f}")
    except (KeyError, TypeError):
        print(f"  {name:30} n/a")
PY
url="$(./scripts/postgres.sh start "$pgdir/pg")"
"$load" --database-url "$url" "$@"
