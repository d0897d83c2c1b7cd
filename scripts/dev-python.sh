#!/usr/bin/env bash
# Developer loop: rebuild the debug wheel and reinstall it into build/venv.
set -euo pipefail
cd "$(dirname "$0")/../python"
../build/venv/bin/maturin build --profile dev --out ../build/wheels -q 2>&1 | grep -v "old-style --config" || true
../build/venv/bin/pip install -q --force-reinstall --no-deps ../build/wheels/didcomm_edge-*.whl
