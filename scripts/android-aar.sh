#!/usr/bin/env bash
# The Android library: dist/didcomm-edge-V.aar with the Kotlin classes and jni/<abi>/ for
# arm64-v8a, armeabi-v7a, x86_64 and x86, every library aligned for 16 KB pages.
#
#   scripts/android-aar.sh build              needs an Android NDK (ANDROID_NDK_HOME); none can be
#                                             had on the project's machines, so this is not run
#                                             by `make test`
#   scripts/android-aar.sh check-align SO...  fail unless every LOAD segment of each library is
#                                             aligned to 16 KB or more (`make test-jar` runs it on
#                                             the Linux libraries: aarch64 passes, x86-64 must not)
#
# Apps add the AAR plus `net.java.dev.jna:jna:5.17.0@aar` and kotlinx-coroutines-android (an AAR
# file names no dependencies); R8 reads proguard.txt from it.
set -euo pipefail
cd "$(dirname "$0")/.."

check_align() {
    local so status=0 aligns
    for so in "$@"; do
        # GNU readelf reads every architecture's ELF; the Align column is the last one.
        aligns=$(readelf -lW "$so" | awk '$1 == "LOAD" { print $NF }')
        [ -n "$aligns" ] || { echo "$so: no LOAD segment" >&2; status=1; continue; }
        while read -r align; do
            if [ $((align)) -lt 16384 ]; then
                echo "$so: a LOAD segment aligned to $align (16 KB pages need 0x4000)" >&2
                status=1
            fi
        done <<<"$aligns"
    done
    return "$status"
}

build() {
    local ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
    [ -d "$ndk" ] || { echo "set ANDROID_NDK_HOME to an Android NDK (r26 or later)" >&2; exit 1; }
    local version work abi abis=(arm64-v8a armeabi-v7a x86_64 x86) targets=()
    version=$(./scripts/version.sh)
    rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
    cargo ndk --version >/dev/null 2>&1 || cargo install cargo-ndk --locked
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    for abi in "${abis[@]}"; do targets+=(-t "$abi"); done
    # NDK r28+ aligns to 16 KB by itself; the flag makes older ones do the same.
    RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384" \
        cargo ndk "${targets[@]}" --platform 24 -o "$work/aar/jni" \
        build --release --locked -p didcomm-edge-ffi --lib
    for abi in "${abis[@]}"; do
        check_align "$work/aar/jni/$abi/libdidcomm_edge_ffi.so"
    done
    # The classes without the desktop libraries (Android takes jni/ instead).
    (cd kotlin && mvn -B -q -Dmaven.test.skip=true -Dnative.resources="$work/none" package)
    unzip -q "kotlin/target/didcomm-edge-$version.jar" -d "$work/classes"
    rm -rf "$work/classes/META-INF/maven"
    (cd "$work/classes" && zip -qr "$work/aar/classes.jar" .)
    cp kotlin/src/main/resources/META-INF/proguard/didcomm-edge.pro "$work/aar/proguard.txt"
    mkdir -p "$work/aar/META-INF" && cp LICENSE NOTICE "$work/aar/META-INF/"
    cat > "$work/aar/AndroidManifest.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="io.github.didcommedge">
    <uses-sdk android:minSdkVersion="24" />
</manifest>
EOF
    : > "$work/aar/R.txt"
    mkdir -p dist
    rm -f "dist/didcomm-edge-$version.aar"
    (cd "$work/aar" && zip -qr "$OLDPWD/dist/didcomm-edge-$version.aar" .)
    echo "dist/didcomm-edge-$version.aar"
}

case "${1:-}" in
build) build ;;
check-align) shift; [ $# -gt 0 ] || { echo "usage: $0 check-align SO..." >&2; exit 2; }; check_align "$@" ;;
*) echo "usage: $0 build | check-align SO..." >&2; exit 2 ;;
esac
