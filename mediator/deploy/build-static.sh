#!/bin/sh
# Build the mediator as one static binary (musl; SQLite and rustls built in) into $1.
# The Dockerfile's build stage runs this; so can a host with rustup and musl-tools.
set -eu
out=${1:?usage: build-static.sh OUT_DIR}
case "$(uname -m)" in
x86_64) target=x86_64-unknown-linux-musl ;;
aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
*) echo "no static target for $(uname -m)" >&2; exit 1 ;;
esac
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
# musl-gcc (Debian musl-tools) compiles the bundled SQLite and ring's C parts for the target;
# build scripts and proc macros still use the host compiler.
cc_var="CC_$(echo "$target" | tr - _)"
env "$cc_var=${CC_MUSL:-musl-gcc}" cargo build --release --locked -p didcomm-edge-mediator --target "$target"
bin="target/$target/release/didcomm-edge-mediator"
# Static means no interpreter: refuse a binary that would need the build machine's libc.
if readelf -l "$bin" | grep -q 'INTERP'; then
    echo "$bin is not static" >&2; exit 1
fi
mkdir -p "$out"
cp "$bin" "$out/didcomm-edge-mediator"
