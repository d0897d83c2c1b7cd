#!/usr/bin/env bash
# ARM Linux (aarch64, the boards gateways and sensors run on): the mediator, the CLI and the edge
# demo cross-built with Debian's cross toolchain, and run under qemu-user.
#
#   scripts/cross.sh setup   install what is missing: gcc-aarch64-linux-gnu, the arm64 C library,
#                            qemu-user (apt) and the rustup target
#   scripts/cross.sh build   cargo build --release for aarch64-unknown-linux-gnu (incremental, in
#                            target/aarch64-unknown-linux-gnu/release)
#   scripts/cross.sh build-ffi  the same for the bindings' library (libdidcomm_edge_ffi.so, for
#                            the jar's linux-aarch64/: scripts/jar.sh)
#   scripts/cross.sh test    build, then under qemu-aarch64: a CLI pack/unpack round trip, and the
#                            demo's Alice-mediator-Bob flow (scripts/demo.sh with the aarch64
#                            binaries)
#
# The binaries are linked dynamically against glibc (the one of Debian's cross toolchain): they
# run on any aarch64 Linux whose glibc is at least the version `test` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
BIN_DIR="target/$TARGET/release"
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The linker and C compiler (ring and SQLite have C parts) for the target.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

setup() {
    local missing=()
    command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
    [ -f "$SYSROOT/lib/libc.so.6" ] || missing+=(libc6-dev-arm64-cross)
    command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing ${missing[*]} from Debian"
        need_root apt-get update -qq
        need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    if ! rustup target list --installed | grep -qx "$TARGET"; then
        rustup target add "$TARGET"
    fi
}

build() {
    "$CARGO" build --release --locked --target "$TARGET" \
        -p didcomm-edge-mediator -p didcomm-edge-cli -p edge-demo \
        --bin didcomm-edge-mediator --bin didcomm-edge --bin edge-demo
}

build_ffi() {
    "$CARGO" build --release --locked --target "$TARGET" -p didcomm-edge-ffi --lib
}

# Fail unless $1 is an aarch64 ELF executable (so that nothing below runs a host binary by mistake).
is_aarch64() {
    readelf -h "$1" 2>/dev/null | grep -q 'Machine:.*AArch64' \
        || { echo "$1 is not an aarch64 binary" >&2; return 1; }
}

# The newest glibc symbol version a binary needs (its minimum glibc).
glibc_floor() {
    readelf -V --wide "$1" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1
}

run_tests() {
    local qemu=(qemu-aarch64 -L "$SYSROOT") bin
    for bin in didcomm-edge-mediator didcomm-edge edge-demo; do
        is_aarch64 "$BIN_DIR/$bin"
        printf '  %-22s %9d bytes, needs %s\n' "$bin" "$(stat -c %s "$BIN_DIR/$bin")" "$(glibc_floor "$BIN_DIR/$bin")"
    done

    echo "== aarch64 CLI under qemu: authcrypt pack, then unpack"
    local ids=testdata/vectors/ids message packed unpacked
    message='{"id":"m-1","type":"https://didcomm.org/basicmessage/2.0/message","from":"did:example:alice","to":["did:example:bob"],"created_time":1700000000,"body":{"content":"hello from aarch64"}}'
    packed=$("${qemu[@]}" "$BIN_DIR/didcomm-edge" pack --wallet "$ids/spec-alice.json" --mode authcrypt \
        --from did:example:alice --to did:example:bob <<<"$message")
    unpacked=$("${qemu[@]}" "$BIN_DIR/didcomm-edge" unpack --wallet "$ids/spec-bob.json" <<<"$packed")
    python3 -c '
import json, sys
out = json.load(sys.stdin)
ok = out["message"]["body"]["content"] == "hello from aarch64" and out["metadata"]["authenticated"]
sys.exit(0 if ok else 1)' <<<"$unpacked" \
        || { echo "the aarch64 CLI did not round-trip (authenticated): $unpacked" >&2; exit 1; }
    echo "  round trip ok (authenticated)"

    echo "== aarch64 demo under qemu: Alice, the mediator and Bob"
    DEMO_BIN_DIR="$BIN_DIR" DEMO_RUNNER="${qemu[*]}" ./scripts/demo.sh
}

case "${1:-}" in
setup) setup ;;
build) build ;;
build-ffi) build_ffi ;;
test)
    build
    run_tests
    ;;
*)
    echo "usage: $0 setup|build|build-ffi|test" >&2; exit 2
    ;;
esac
