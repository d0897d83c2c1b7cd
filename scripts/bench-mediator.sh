#!/usr/bin/env bash
# Mediator load benchmark on loopback: SQLite, then a private PostgreSQL. Prints one JSON
# report per backend (record them in BENCHMARKS.md). Extra arguments go to the load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
# The mediator and the load generator (the testkit's binary, which starts the mediator beside it).
cargo build --release --locked -p didcomm-edge-mediator -p didcomm-edge-testkit --bins
load=./target/release/didcomm-edge-mediator-load
"$load" "$@"
pgdir="$(mktemp -d)"
trap './scripts/postgres.sh stop "$pgdir/pg"; rm -rf "$pgdir"' EXIT
url="$(./scripts/postgres.sh start "$pgdir/pg")"
"$load" --database-url "$url" "$@"
