#!/usr/bin/env bash
# Build the npm package `didcomm-edge` (wasm/npm/dist) from the `wasm/` crate, twice (the
# engine alone, and with the `sdk` feature for `didcomm-edge/sdk`):
#   cargo (profile wasm-release: opt-level "z"/"s" + LTO, std rebuilt with the pinned nightly)
#   -> wasm-bindgen --target web -> wasm-opt -Oz -> the hand-written ESM modules
#   -> a CommonJS bundle of the Node entry (esbuild).
# WASM_TOOLCHAIN=stable builds the same package with stable Rust and the prebuilt std (larger).
# Installs what is missing (wasm32 target, wasm-bindgen-cli at the Cargo.lock version, the npm
# dev dependencies) and skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NPM_DIR=$ROOT/wasm/npm
DIST=$NPM_DIR/dist
CARGO=${CARGO:-cargo}

step() { printf '\033[1m== %s\033[0m\n' "$*"; }

# --- tools -------------------------------------------------------------------------------------
./scripts/setup.sh wasm
./scripts/setup.sh node
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')

# The CLI must be exactly the wasm-bindgen version in Cargo.lock (the glue and the module's
# custom section must agree). Built from crates.io: about 10 minutes on 2 cores, once.
# `cargo install` puts it in $CARGO_HOME/bin, which need not be on PATH (a fresh CARGO_HOME).
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
WB_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
    step "installing wasm-bindgen-cli $WB_VERSION (about 10 minutes)"
    # No --locked: one of its locked dependencies is not on the registry mirror.
    $CARGO install wasm-bindgen-cli --version "$WB_VERSION"
fi

# npm dev dependencies (wasm-opt from `binaryen`, esbuild, typescript, the test tools):
# reinstalled only when package-lock.json changed since the last install.
if [ ! -f "$NPM_DIR/node_modules/.package-lock.json" ] \
    || [ "$NPM_DIR/package-lock.json" -nt "$NPM_DIR/node_modules/.package-lock.json" ]; then
    step "npm ci (wasm/npm)"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund)
fi
BIN=$NPM_DIR/node_modules/.bin

# --- build -------------------------------------------------------------------------------------
WASM_TOOLCHAIN=${WASM_TOOLCHAIN:-$(cat "$ROOT/wasm/toolchain")}
if [ "$WASM_TOOLCHAIN" != stable ] && ! rustup run "$WASM_TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    echo "toolchain $WASM_TOOLCHAIN is not installed: building with stable (a larger module)" >&2
    WASM_TOOLCHAIN=stable
fi
RAW=$TARGET_DIR/wasm32-unknown-unknown/wasm-release/didcomm_edge_wasm.wasm
rm -rf "$DIST" "$NPM_DIR/.dist-stamp.json"
mkdir -p "$DIST"

# Two modules from the one crate: the engine alone (the main entry: pack/unpack users load
# only this) and, with the `sdk` feature, the engine plus the SDK (`didcomm-edge/sdk`).
# build_module <out-name> [cargo features...]
build_module() {
    local name=$1
    shift
    local features=()
    [ $# -gt 0 ] && features=(--features "$*")
    if [ "$WASM_TOOLCHAIN" = stable ]; then
        step "cargo build (wasm32, profile wasm-release, stable) -> $name"
        $CARGO build -p didcomm-edge-wasm --target wasm32-unknown-unknown --profile wasm-release \
            --locked "${features[@]}"
    else
        # std rebuilt with the package (-Zbuild-std) at the profile's opt-level, with its
        # `optimize_for_size` variants, and panics compiled to a bare trap (`immediate-abort`): no
        # panic messages, locations or formatting machinery in the module. The core never panics on
        # any input, and a panic in wasm is a trap either way (no panic hook is installed).
        # About 73 KB smaller than the stable build (BENCHMARKS.md, "Size").
        step "cargo build (wasm32, profile wasm-release, $WASM_TOOLCHAIN -Zbuild-std) -> $name"
        RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
            rustup run "$WASM_TOOLCHAIN" cargo build -p didcomm-edge-wasm \
            --target wasm32-unknown-unknown --profile wasm-release --locked "${features[@]}" \
            -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
    fi

    step "wasm-bindgen -> $name"
    wasm-bindgen "$RAW" --out-dir "$DIST" --out-name "$name" --target web \
        --no-typescript --remove-name-section --remove-producers-section

    step "wasm-opt -Oz -> $name"
    # The features rustc enables by default for wasm32 (and Node 18+ and current browsers run).
    "$BIN/wasm-opt" -Oz --converge \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$DIST/${name}_bg.wasm" -o "$DIST/${name}_bg.wasm"
}
build_module didcomm_edge
build_module didcomm_edge_sdk sdk

step "JS modules"
cp "$NPM_DIR"/src/*.js "$NPM_DIR"/src/*.mjs "$DIST/"
# CommonJS builds of the Node entries: one bundle each, the same .wasm beside it.
for entry in node sdk-node; do
    "$BIN/esbuild" "$DIST/$entry.mjs" --bundle --platform=node --format=cjs --target=node18 \
        --define:import.meta.url=__didcomm_edge_module_url \
        --banner:js="const __didcomm_edge_module_url = require('node:url').pathToFileURL(__filename).href;" \
        --log-level=warning --outfile="$DIST/$entry.cjs"
done
# The same declarations serve `import` and `require` consumers.
cp "$NPM_DIR/index.d.ts" "$NPM_DIR/index.d.cts"
# sdk.d.cts reads the CommonJS declarations of the main entry.
sed "s#'./index.js'#'./index.cjs'#g" "$NPM_DIR/sdk.d.ts" > "$NPM_DIR/sdk.d.cts"
# The repository's license files ship at the package root (package.json `files`).
cp "$ROOT/LICENSE" "$ROOT/NOTICE" "$NPM_DIR/"
# Record what dist/ was built from: `npm pack` (prepack) then skips the build while it is current.
node "$NPM_DIR/scripts/dist-state.mjs" stamp

SIZE=$(wc -c < "$DIST/didcomm_edge_bg.wasm")
SDK_SIZE=$(wc -c < "$DIST/didcomm_edge_sdk_bg.wasm")
step "built wasm/npm (didcomm_edge_bg.wasm: $SIZE bytes, didcomm_edge_sdk_bg.wasm: $SDK_SIZE bytes)"
