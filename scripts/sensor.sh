#!/usr/bin/env bash
# The sensor firmware (embedded/): the core without std on bare metal.
#
#   scripts/sensor.sh setup   install what is missing: qemu-system-arm (apt), the rustup targets
#                             thumbv7em-none-eabihf and riscv32imac-unknown-none-elf
#   scripts/sensor.sh test    build the firmware (Cortex-M4F, release), run it under QEMU's
#                             mps2-an386 against the host side (testkit/tests/sensor.rs), then
#                             link the RISC-V 32 build; prints the firmware's figures
#   scripts/sensor.sh sizes   flash (text + rodata) per feature set, for BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
ARM=thumbv7em-none-eabihf
RISCV=riscv32imac-unknown-none-elf
FIRMWARE="$PWD/embedded/target/$ARM/release/didcomm-edge-sensor"
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

setup() {
    if ! command -v qemu-system-arm >/dev/null 2>&1; then
        echo "installing qemu-system-arm from Debian"
        need_root apt-get update -qq
        need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm
    fi
    local target
    for target in "$ARM" "$RISCV"; do
        rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    done
}

build() { # [cargo args...]
    (cd embedded && "$CARGO" build --locked --release -q "$@")
}

# text + rodata of the built firmware for $1 (the target).
flash() {
    size -A "embedded/target/$1/release/didcomm-edge-sensor" \
        | awk '$1 == ".text" || $1 == ".rodata" { n += $2 } END { print n }'
}

case "${1:-}" in
setup) setup ;;
test)
    setup
    build
    DIDCOMM_EDGE_SENSOR_FIRMWARE="$FIRMWARE" "$CARGO" test --locked -q -p didcomm-edge-testkit \
        --test sensor -- --ignored --nocapture
    build --target "$RISCV"
    echo "firmware flash: $(flash "$ARM") bytes on $ARM (run under QEMU), $(flash "$RISCV") on $RISCV (linked)"
    ;;
sizes)
    setup
    printf '%-52s %10s\n' "feature set ($ARM, opt-level z, fat LTO)" "flash"
    while IFS='|' read -r label features; do
        SENSOR_MEMORY=measure build ${features:+--features "$features"}
        printf '%-52s %10s\n' "$label" "$(flash "$ARM")"
    done <<'SETS'
X25519 + Ed25519 (the sensor set, the default)|
+ basepoint tables|precomputed-tables
+ P-256, P-384, P-521, secp256k1|all-curves
+ all curves and the tables|all-curves,precomputed-tables
SETS
    build
    ;;
*) echo "usage: $0 setup|test|sizes" >&2; exit 2 ;;
esac
