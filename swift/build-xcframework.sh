#!/usr/bin/env bash
# macOS only: build build/DIDCommEdgeFFI.xcframework (iOS devices, iOS simulators, macOS) from the
# Rust library, regenerate the Swift sources with the workspace's uniffi-bindgen, and leave the
# package (../Package.swift) ready for `swift build` / `swift test` or Xcode. Binaries stay out of git.
#
#   swift/build-xcframework.sh            release build (what apps ship)
#   PROFILE=dev swift/build-xcframework.sh   faster, unoptimized (for `swift test` while iterating)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != "Darwin" ]; then
    echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)" >&2
    exit 1
fi

PROFILE="${PROFILE:-release}"
OUT_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
IOS=aarch64-apple-ios
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
MACS=(aarch64-apple-darwin x86_64-apple-darwin)
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-12.0}"

rustup target add "$IOS" "${SIMULATORS[@]}" "${MACS[@]}"

# One static library per target (the crate is a cdylib + rlib; the static form is asked for here).
for target in "$IOS" "${SIMULATORS[@]}" "${MACS[@]}"; do
    cargo rustc --locked -p didcomm-edge-ffi --lib --crate-type staticlib \
        --profile "$PROFILE" --target "$target"
done

# The Swift sources, C header and modulemap, from a host build of the same code.
scripts/bindings.sh generate

work=build/xcframework
rm -rf "$work" swift/build/DIDCommEdgeFFI.xcframework
mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos" swift/build
cp build/swift-ffi/DIDCommEdgeFFI.h build/swift-ffi/module.modulemap "$work/headers/"
lib=libdidcomm_edge_ffi.a
# One fat library per platform: the arm64 and x86_64 simulators, Apple silicon and Intel Macs.
lipo -create $(for t in "${SIMULATORS[@]}"; do echo "target/$t/$OUT_DIR/$lib"; done) -output "$work/ios-simulator/$lib"
lipo -create $(for t in "${MACS[@]}"; do echo "target/$t/$OUT_DIR/$lib"; done) -output "$work/macos/$lib"

xcodebuild -create-xcframework \
    -library "target/$IOS/$OUT_DIR/$lib" -headers "$work/headers" \
    -library "$work/ios-simulator/$lib" -headers "$work/headers" \
    -library "$work/macos/$lib" -headers "$work/headers" \
    -output swift/build/DIDCommEdgeFFI.xcframework

echo "built swift/build/DIDCommEdgeFFI.xcframework; now: swift test (at the repository root)"
