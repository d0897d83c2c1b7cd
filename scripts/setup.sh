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
    else
        echo "rustup is missing: cannot add the wasm32 target" >&2; exit 1
    fi
    ;;
*)
    echo "usage: $0 rust|wasm" >&2; exit 2
    ;;
esac
