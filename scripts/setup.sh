#!/usr/bin/env bash
# Install what a target needs, skipping what is already present.
set -euo pipefail
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

case "${1:-all}" in
rust)
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            echo "cargo is in ~/.cargo/bin: add it to PATH" >&2; exit 1
        fi
        echo "installing Rust from Debian (rustup is preferred when available)"
        need_root apt-get update -qq && need_root apt-get install -y -qq cargo rustc
    fi
    ;;
wasm)
    if command -v rustup >/dev/null 2>&1; then
        rustup target list --installed | grep -qx wasm32-unknown-unknown \
            || rustup target add wasm32-unknown-unknown
        # The npm package is built with the pinned nightly in wasm/toolchain (-Zbuild-std; see
        # scripts/build-wasm.sh) unless WASM_TOOLCHAIN=stable.
        wasm_toolchain=${WASM_TOOLCHAIN:-$(cat "$(dirname "$0")/../wasm/toolchain")}
        if [ "$wasm_toolchain" != stable ]; then
            installed=$(rustup +"$wasm_toolchain" component list --installed 2>/dev/null || true)
            if ! grep -q '^rust-src' <<<"$installed" \
                || ! grep -q '^rust-std-wasm32-unknown-unknown' <<<"$installed"; then
                # Not fatal: scripts/build-wasm.sh falls back to stable (a larger module).
                rustup toolchain install "$wasm_toolchain" --profile minimal \
                    --component rust-src --target wasm32-unknown-unknown \
                    || echo "could not install $wasm_toolchain: the npm package will be built with stable" >&2
            fi
        fi
    else
        echo "rustup is missing: cannot add the wasm32 target" >&2; exit 1
    fi
    ;;
node)
    # Node.js 18+ with npm, for the npm package, its tests and the examples.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 \
        || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'; then
        echo "installing Node.js from Debian"
        need_root apt-get update -qq && need_root apt-get install -y -qq nodejs npm
    fi
    ;;
browser)
    # Debian's Chromium for the headless browser test (downloading a browser is not possible here).
    if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
        echo "installing chromium from Debian"
        need_root apt-get update -qq && need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    fi
    ;;
maven)
    # A JDK (17+) and Maven for the Kotlin bindings' tests; Maven fetches the rest itself.
    if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
        echo "installing a JDK and Maven from Debian"
        need_root apt-get update -qq && need_root apt-get install -y -qq default-jdk-headless maven
    fi
    ;;
deploy)
    # The deployment files' checks (mediator/tests/deploy.rs): systemd-analyze for the unit,
    # sqlite3 for the operator guide's online backup.
    missing=()
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} from Debian"
        need_root apt-get update -qq && need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    ;;
deny)
    # cargo-deny for `make lint` (licenses, duplicates, sources, advisories; deny.toml).
    # Built from crates.io (a few minutes once); the version is pinned so CI is repeatable.
    version=0.20.2
    if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $version"; then
        cargo install cargo-deny --version "$version" --locked
    fi
    ;;
*)
    echo "usage: $0 rust|wasm|node|browser|maven|deploy|deny" >&2; exit 2
    ;;
esac
