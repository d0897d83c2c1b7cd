#!/usr/bin/env bash
# The Python package (python/): its virtualenv under build/, the wheel, the tests, the benchmark.
#
#   scripts/python.sh setup    build/venv (maturin, pytest, PyPI didcomm, websockets, tree-sitter),
#                              build/venv-mypy (mypy) and build/venv-askar (PyPI didcomm-messaging);
#                              installs only what is missing
#   scripts/python.sh test     debug build into the source tree (maturin develop), pytest, mypy
#   scripts/python.sh wheel    the release wheel in build/wheels
#   scripts/python.sh bench    release wheel + the Rust core benchmark, then python/bench/bench.py
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
VENV=build/venv
MYPY_VENV=build/venv-mypy
PY="$VENV/bin/python"
# PyPI didcomm 0.3.2 (the reference library) pins old typing-extensions/pydantic: mypy, which
# wants newer ones, gets its own venv and checks this one through --python-executable.
DEPS=("maturin>=1.9,<2" "pytest>=8" "didcomm==0.3.2" "websockets>=12" "tree-sitter>=0.23" "tree-sitter-swift>=0.7")
MYPY_DEPS=("mypy>=1.10")
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

develop() {
    # Editable install into build/venv: the library and the generated module are written to
    # python/src/didcomm_edge/_native (ignored by git), the package is imported from python/src.
    (cd python && VIRTUAL_ENV="$PWD/../$VENV" PATH="$PWD/../$VENV/bin:$PATH" \
        maturin develop --profile dev -q 2>&1 | grep -v "old-style --config" || true)
    test -f python/src/didcomm_edge/_native/didcomm_edge.py
}

typecheck() {
    (cd python && ../"$MYPY_VENV"/bin/mypy --python-executable ../"$PY" --no-incremental)
}

wheel() {
    # `maturin develop` leaves the library and the generated module in the source tree
    # (ignored by git); the wheel build refuses to overwrite them, and the next develop rewrites them.
    rm -rf python/src/didcomm_edge/_native build/wheels/didcomm_edge-*.whl
    (cd python && ../"$VENV"/bin/maturin build --release --out ../build/wheels 2>&1 | grep -v "old-style --config")
    ls build/wheels/didcomm_edge-*.whl
}

case "${1:-}" in
setup) setup ;;
test)
    setup
    "$CARGO" build --locked -p didcomm-edge-mediator --bin didcomm-edge-mediator
    develop
    DIDCOMM_EDGE_MEDIATOR="$PWD/target/debug/didcomm-edge-mediator" "$PY" -m pytest -q python/tests
    # The package as `develop` left it in python/src, beside didcomm-messaging.
    PYTHONPATH="$PWD/python/src" "$ASKAR_VENV/bin/python" -m pytest -q python/tests/test_askar_interop.py
    typecheck
    ;;
wheel) setup; wheel ;;
bench)
    shift
    setup
    "$CARGO" build --locked --release -p didcomm-edge-ffi --example core_bench
    wheel >/dev/null
    # The release wheel replaces the editable install for the measurement.
    "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps build/wheels/didcomm_edge-*.whl
    "$PY" python/bench/bench.py --core target/release/examples/core_bench "$@"
    ;;
*) echo "usage: $0 setup|test|wheel|bench" >&2; exit 2 ;;
esac
