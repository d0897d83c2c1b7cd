#!/usr/bin/env bash
# The Python package (python/): its virtualenvs under build/, the wheels, the tests, the benchmark.
#
#   scripts/python.sh setup    build/venv (maturin, zig, auditwheel, pytest, PyPI didcomm, websockets,
#                              tree-sitter), build/venv-mypy (mypy) and build/venv-askar (PyPI
#                              didcomm-messaging); installs only what is missing
#   scripts/python.sh wheel [ARCH...]  manylinux2014 release wheels in build/wheels (x86_64 and
#                              aarch64 unless named), each checked by `auditwheel show`
#   scripts/python.sh test     the x86_64 wheel installed into a fresh venv: pytest, the Askar
#                              interop, mypy on the installed package; then the aarch64 wheel
#                              installed for a Debian arm64 Python, a round trip under qemu-aarch64
#   scripts/python.sh test-aarch64  only that last part
#   scripts/python.sh bench    release wheel + the Rust core benchmark, then python/bench/bench.py
#   scripts/python.sh bench-instructions  the same, instructions per call under valgrind
#                              (python/bench/instructions.py)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
VENV=build/venv
MYPY_VENV=build/venv-mypy
PY="$VENV/bin/python"
# PyPI didcomm 0.3.2 (the reference library) pins old typing-extensions/pydantic: mypy, which
# wants newer ones, gets its own venv and checks this one through --python-executable.
DEPS=("maturin>=1.9,<2" "ziglang>=0.13" "auditwheel>=6" "pytest>=8" "didcomm==0.3.2" "websockets>=12" "tree-sitter>=0.23" "tree-sitter-swift>=0.7")
MYPY_DEPS=("mypy>=1.10")
# What the suite itself imports, installed beside the wheel in a venv made afresh for each run.
TEST_VENV=build/venv-wheel
TEST_DEPS=("pytest>=8" "didcomm==0.3.2" "websockets>=12")
# PyPI didcomm-messaging (Indicio, on Askar) needs pydid>=0.4.2, which PyPI didcomm 0.3.2 refuses:
# its live interop test (tests/test_askar_interop.py) runs again in a venv of its own.
ASKAR_VENV=build/venv-askar
ASKAR_DEPS=("pytest>=8" "cryptography>=41" "didcomm-messaging[askar,did-peer]==0.1.1")
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Create $1 if missing and install $2... unless a stamp of exactly that list exists.
ensure_venv() {
    local venv="$1"; shift
    local stamp="$venv/.installed-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
    [ -f "$stamp" ] && return
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" 2>/dev/null || {
            need_root apt-get update -qq && need_root apt-get install -y -qq python3-venv python3-pip
            python3 -m venv "$venv"
        }
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
    rm -f "$venv"/.installed-* && touch "$stamp"
}

setup() {
    command -v python3 >/dev/null || { need_root apt-get update -qq && need_root apt-get install -y -qq python3 python3-venv; }
    ensure_venv "$VENV" "${DEPS[@]}"
    ensure_venv "$MYPY_VENV" "${MYPY_DEPS[@]}"
    ensure_venv "$ASKAR_VENV" "${ASKAR_DEPS[@]}"
}

typecheck() {
    # The installed package (it ships py.typed) and the typing examples, as a user's mypy sees them.
    local mypy=(../"$MYPY_VENV"/bin/mypy --python-executable ../"$TEST_VENV/bin/python" --no-incremental)
    (cd python && "${mypy[@]}" -p didcomm_edge && "${mypy[@]}" tests/typing_usage.py)
}

# The wheel for $1 (x86_64 or aarch64): glibc 2.17 through zig (PyPI ziglang) so that its tag
# does not follow this machine's glibc, then `auditwheel show` must agree on manylinux_2_17.
wheel_for() {
    local arch="$1" target="$1-unknown-linux-gnu" report
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    rm -f build/wheels/didcomm_edge-*_"$arch".whl
    # Zig's linker drops the symbol table when asked to strip debug info, and uniffi-bindgen reads
    # the library's metadata from it: keep the symbols (the wheel is the larger for it).
    (cd python && PATH="$PWD/../$VENV/bin:$PATH" CARGO_PROFILE_RELEASE_STRIP=none \
        ../"$VENV"/bin/maturin build --release --zig --compatibility manylinux2014 \
        --target "$target" --out ../build/wheels 2>&1 | grep -v "old-style --config")
    local built=(build/wheels/didcomm_edge-*-py3-none-manylinux2014_"$arch".manylinux_2_17_"$arch".whl)
    [ -f "${built[0]}" ] || { echo "no manylinux2014 $arch wheel in build/wheels" >&2; exit 1; }
    report=$("$VENV/bin/auditwheel" show "${built[0]}")
    grep -q "consistent with the following platform tag:" <<<"$report" \
        && tr -d '\n' <<<"$report" | grep -q "platform tag: *\"manylinux_2_17_$arch\"" \
        || { echo "auditwheel does not agree on manylinux_2_17_$arch:" >&2; echo "$report" >&2; exit 1; }
    echo "${built[0]}"
}

wheel() {
    # A `maturin develop` of an older checkout leaves a generated module in the source tree
    # (ignored by git), which the wheel build refuses to overwrite.
    rm -rf python/src/didcomm_edge/_native
    local arch arches=("$@")
    [ "${#arches[@]}" -gt 0 ] || arches=(x86_64 aarch64)
    for arch in "${arches[@]}"; do wheel_for "$arch"; done
}

# A Debian arm64 Python (bookworm's python3.11, the packages only unpacked, nothing installed)
# under build/arm64-root, for qemu-aarch64 -L. Prints the root.
ARM64_ROOT=build/arm64-root
# The interpreter, its standard library and what they declare they depend on, plus libgcc_s
# (unwinding, for the extension).
ARM64_DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 libssl3
    zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libcrypt1 libuuid1 libtinfo6 libncursesw6
    libreadline8 libsqlite3-0 libdb5.3 libnsl2 libtirpc3)
arm64_python() {
    local stamp="$ARM64_ROOT/.unpacked-$(printf '%s\n' "${ARM64_DEBS[@]}" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        if ! dpkg --print-foreign-architectures | grep -qx arm64; then
            need_root dpkg --add-architecture arm64
        fi
        need_root apt-get update -qq
        rm -rf "$ARM64_ROOT" build/arm64-debs && mkdir -p "$ARM64_ROOT" build/arm64-debs
        (cd build/arm64-debs && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "${ARM64_DEBS[@]/%/:arm64}")
        local deb
        for deb in build/arm64-debs/*.deb; do dpkg-deb -x "$deb" "$ARM64_ROOT"; done
        rm -rf build/arm64-debs && touch "$stamp"
    fi
}

# The aarch64 wheel as a user on an ARM board gets it (pip, for that platform), imported by an
# arm64 interpreter under qemu-aarch64: a pack/unpack round trip through both native paths.
test_aarch64() {
    ./scripts/cross.sh setup
    arm64_python
    local whl site=build/arm64-site
    whl=$(wheel aarch64 | tail -1)
    rm -rf "$site"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux2014_aarch64 --python-version 3.11 --target "$site" "$whl"
    readelf -h "$site/didcomm_edge/_native/libdidcomm_edge_ffi.so" | grep -q 'Machine:.*AArch64'
    qemu-aarch64 -L "$ARM64_ROOT" \
        "$ARM64_ROOT/usr/bin/python3.11" -I -c "$(cat <<'PY'
import asyncio, platform, sys
sys.path.insert(0, sys.argv[1])
import didcomm_edge as de
assert platform.machine() == "aarch64", platform.machine()
assert de.__file__.startswith(sys.argv[1]), de.__file__
alice = de.generate_identity(de.IdentityMethod.PEER2)
bob = de.generate_identity(de.IdentityMethod.PEER4)
wa, wb = de.Wallet(), de.Wallet()
wa.add_identity(alice)
wb.add_identity(bob)
msg = de.create_message("https://didcomm.org/basicmessage/2.0/message", {"content": "hi"},
                        {"from": alice.did, "to": [bob.did]})
packed = wa.did_comm().pack_encrypted_blocking(msg, bob.did, from_=alice.did, sign_by=alice.did)
got = wb.did_comm().unpack_blocking(packed.packed)
assert got.message == msg and got.metadata.authenticated and got.metadata.non_repudiation, got
# The async form too (the extension's other path).
got = asyncio.run(wb.did_comm().unpack(packed.packed))
assert got.message == msg
print(f"aarch64 wheel under qemu: Python {platform.python_version()} on {platform.machine()},"
      f" didcomm-edge {de.__version__}: authcrypt+signed round trip, blocking and async")
PY
)" "$PWD/$site"
}

case "${1:-}" in
setup) setup ;;
test)
    setup
    "$CARGO" build --locked -p didcomm-edge-mediator --bin didcomm-edge-mediator
    whl=$(wheel x86_64 | tail -1)
    # A fresh venv with the wheel and what the tests import, nothing from the source tree.
    python3 -m venv --clear "$TEST_VENV"
    "$TEST_VENV/bin/pip" install -q --disable-pip-version-check "${TEST_DEPS[@]}" "$whl"
    DIDCOMM_EDGE_MEDIATOR="$PWD/target/debug/didcomm-edge-mediator" "$TEST_VENV/bin/python" -m pytest -q python/tests
    # The same wheel beside didcomm-messaging.
    "$ASKAR_VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$whl"
    "$ASKAR_VENV/bin/python" -m pytest -q python/tests/test_askar_interop.py
    typecheck
    test_aarch64
    ;;
test-aarch64) setup; test_aarch64 ;;
wheel) shift; setup; wheel "$@" ;;
bench | bench-instructions)
    command="$1"
    shift
    setup
    "$CARGO" build --locked --release -p didcomm-edge-ffi --example core_bench
    # The x86_64 wheel a user installs is the one measured.
    whl=$(wheel x86_64 | tail -1)
    "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$whl"
    if [ "$command" = bench ]; then
        "$PY" python/bench/bench.py --core target/release/examples/core_bench "$@"
    else
        command -v valgrind >/dev/null || { need_root apt-get update -qq && need_root apt-get install -y -qq valgrind; }
        "$PY" python/bench/instructions.py --core target/release/examples/core_bench "$@"
    fi
    ;;
*) echo "usage: $0 setup|test|test-aarch64|wheel [x86_64|aarch64]...|bench|bench-instructions" >&2; exit 2 ;;
esac
