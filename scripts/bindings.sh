#!/usr/bin/env bash
# The generated Kotlin and Swift sources, made by the workspace's own uniffi-bindgen from the
# built library (so generator and library always share one UniFFI release).
#
#   scripts/bindings.sh build     build the library (debug) and the generator
#   scripts/bindings.sh generate  write kotlin/src/main/kotlin/.../didcomm_edge.kt and
#                                 swift/Sources/DIDCommEdge/DIDCommEdge.swift (+ the C header and
#                                 modulemap in build/swift-ffi, for the XCFramework)
#   scripts/bindings.sh check     fail if the committed sources differ from freshly generated ones
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
KOTLIN_OUT=kotlin/src/main/kotlin/io/github/didcommedge
SWIFT_OUT=swift/Sources/DIDCommEdge

library() {
    for ext in so dylib; do
        if [ -f "target/debug/libdidcomm_edge_ffi.$ext" ]; then
            echo "target/debug/libdidcomm_edge_ffi.$ext"; return
        fi
    done
    echo "the library is not built: scripts/bindings.sh build" >&2; exit 1
}

build() {
    "$CARGO" build --locked -p didcomm-edge-ffi -p didcomm-edge-uniffi-bindgen
}

generate_into() {
    local out="$1" lib
    lib="$(library)"
    rm -rf "$out" && mkdir -p "$out"
    for language in kotlin swift; do
        target/debug/uniffi-bindgen generate --no-format --library "$lib" \
            --language "$language" --out-dir "$out/$language" >/dev/null
    done
}

case "${1:-}" in
build)
    build
    ;;
generate)
    build
    generate_into build/bindgen
    mkdir -p "$KOTLIN_OUT" "$SWIFT_OUT" build/swift-ffi
    cp build/bindgen/kotlin/io/github/didcommedge/didcomm_edge.kt "$KOTLIN_OUT/"
    cp build/bindgen/swift/DIDCommEdge.swift "$SWIFT_OUT/"
    cp build/bindgen/swift/DIDCommEdgeFFI.h build/swift-ffi/
    # SwiftPM and Xcode look for `module.modulemap` in an XCFramework's Headers folder.
    cp build/bindgen/swift/DIDCommEdgeFFI.modulemap build/swift-ffi/module.modulemap
    echo "generated $KOTLIN_OUT/didcomm_edge.kt and $SWIFT_OUT/DIDCommEdge.swift"
    ;;
check)
    build
    generate_into build/bindgen-check
    status=0
    cmp -s build/bindgen-check/kotlin/io/github/didcommedge/didcomm_edge.kt "$KOTLIN_OUT/didcomm_edge.kt" \
        || { echo "$KOTLIN_OUT/didcomm_edge.kt is stale" >&2; status=1; }
    cmp -s build/bindgen-check/swift/DIDCommEdge.swift "$SWIFT_OUT/DIDCommEdge.swift" \
        || { echo "$SWIFT_OUT/DIDCommEdge.swift is stale" >&2; status=1; }
    [ "$status" -eq 0 ] || echo "run: make bindings (and commit the result)" >&2
    exit "$status"
    ;;
*)
    echo "usage: $0 build|generate|check" >&2; exit 2
    ;;
esac
