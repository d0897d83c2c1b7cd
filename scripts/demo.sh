#!/usr/bin/env bash
# `make demo`: the end-to-end demo. Builds the mediator and the demo program (release), then
# runs edge-demo (examples/edge-demo/), which starts the mediator binary on 127.0.0.1 with
# SQLite in a temporary folder and takes two edge devices, Alice and Bob, through mediation,
# key management (keylist, DID rotation with from_prior), pickup and live delivery with
# acknowledgements, and a reply.
# It stops the mediator and removes the folder when it ends, whatever happens.
#
# Other binaries (scripts/cross.sh test: the aarch64 build under qemu-user):
#   DEMO_BIN_DIR=dir   run dir/edge-demo and dir/didcomm-edge-mediator, built already (no build here)
#   DEMO_RUNNER="cmd"  run both through cmd (for example `qemu-aarch64 -L /usr/aarch64-linux-gnu`);
#                      the demo starts the mediator through a small wrapper that calls cmd
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="${DEMO_BIN_DIR:-}"
if [ -z "$bin_dir" ]; then
    cargo build -q --release --locked -p edge-demo -p didcomm-edge-mediator \
        --bin didcomm-edge-mediator --bin edge-demo
    bin_dir=target/release
fi
if [ -z "${DEMO_RUNNER:-}" ]; then
    exec "$bin_dir/edge-demo" --mediator-bin "$bin_dir/didcomm-edge-mediator"
fi
# The emulated demo cannot exec a foreign binary itself (no binfmt_misc handler is assumed): it
# execs this host script, which hands the mediator to the runner with the demo's arguments.
read -r -a runner <<< "$DEMO_RUNNER"
wrap="$(mktemp -d)"
trap 'rm -rf "$wrap"' EXIT
mediator="$(realpath "$bin_dir/didcomm-edge-mediator")"
printf '#!/bin/sh\nexec %s %q "$@"\n' "$DEMO_RUNNER" "$mediator" > "$wrap/didcomm-edge-mediator"
chmod +x "$wrap/didcomm-edge-mediator"
"${runner[@]}" "$bin_dir/edge-demo" --mediator-bin "$wrap/didcomm-edge-mediator"
