#!/usr/bin/env bash
# `make dist`: every release artifact of this version into dist/, with SHA256SUMS.
#   didcomm_edge-V-py3-none-manylinux2014_{x86_64,aarch64}.*.whl
#                                    Python wheels (scripts/python.sh wheel: maturin with zig, glibc 2.17)
#   didcomm-edge-V.tgz               npm package (npm pack; prepack builds wasm/npm/dist if stale)
#   didcomm-edge-V.jar, -sources.jar Kotlin/JVM (scripts/jar.sh build: the native library inside,
#                                    linux-x86-64/ and linux-aarch64/)
#   didcomm-edge-V-aarch64-unknown-linux-gnu.tar.gz
#                                    the mediator, the CLI and the demo for aarch64 Linux
#                                    (scripts/cross.sh build), with LICENSE and NOTICE
#   didcomm-edge*-V.crate            the published Rust crates (cargo package, not verified here)
# Every one carries LICENSE and NOTICE; scripts/version.sh check runs first.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
OUT="$PWD/dist"
# The published crates (the Makefile's PUBLISHED_CRATES passes the same list).
read -r -a CRATES <<< "${PUBLISHED_CRATES:-didcomm-edge didcomm-edge-web didcomm-edge-agent didcomm-edge-cli didcomm-edge-mediator}"
step() { printf '\033[1m== %s\033[0m\n' "$*"; }

./scripts/version.sh check
VERSION=$(./scripts/version.sh)
rm -rf "$OUT"
mkdir -p "$OUT"

step "Python wheel"
./scripts/python.sh wheel >/dev/null
cp build/wheels/didcomm_edge-"$VERSION"-*.whl "$OUT/"

step "npm package"
(cd wasm/npm && npm pack --silent --pack-destination "$OUT" >/dev/null)

step "Kotlin jar (with the native libraries) and sources jar"
./scripts/jar.sh build
cp kotlin/target/didcomm-edge-"$VERSION".jar kotlin/target/didcomm-edge-"$VERSION"-sources.jar "$OUT/"

step "aarch64 Linux binaries"
./scripts/cross.sh setup
./scripts/cross.sh build
arm=didcomm-edge-"$VERSION"-aarch64-unknown-linux-gnu
arm_dir="$(mktemp -d)"
mkdir "$arm_dir/$arm"
for bin in didcomm-edge-mediator didcomm-edge edge-demo; do
    aarch64-linux-gnu-strip -o "$arm_dir/$arm/$bin" target/aarch64-unknown-linux-gnu/release/"$bin"
done
cp LICENSE NOTICE "$arm_dir/$arm/"
tar -C "$arm_dir" --owner=0 --group=0 -czf "$OUT/$arm.tar.gz" "$arm"
rm -rf "$arm_dir"

step "Rust crates"
# Packaged together, so that the crates that depend on didcomm-edge resolve it from the
# workspace. Not verified (compiling each one again takes minutes): `cargo package` without
# --no-verify before publishing.
pkgs=()
for crate in "${CRATES[@]}"; do pkgs+=(-p "$crate"); done
"$CARGO" package --locked --no-verify --allow-dirty -q "${pkgs[@]}"
target_dir=$("$CARGO" metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
for crate in "${CRATES[@]}"; do cp "$target_dir/package/$crate-$VERSION.crate" "$OUT/"; done

(cd "$OUT" && sha256sum -- * > SHA256SUMS)
step "dist/ (version $VERSION)"
(cd "$OUT" && ls -l -- * | awk '{ printf "  %10d  %s\n", $5, $9 }')
