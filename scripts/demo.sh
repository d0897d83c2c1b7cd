#!/usr/bin/env bash
# `make demo`: the end-to-end demo. Builds the mediator and the demo program (release), then
# runs edge-demo (examples/edge-demo/), which starts the mediator binary on 127.0.0.1 with
# SQLite in a temporary folder and takes two edge devices, Alice and Bob, through mediation,
# key management (keylist, DID rotation with from_prior), pickup and live delivery with
# acknowledgements, and a reply.
# It stops the mediator and removes the folder when it ends, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release --locked -p edge-demo -p didcomm-edge-mediator \
    --bin didcomm-edge-mediator --bin edge-demo
exec target/release/edge-demo --mediator-bin target/release/didcomm-edge-mediator
