"""Instructions per call, this package's blocking methods against the Rust core, counted by
valgrind (cachegrind, no cache simulation): a measure that does not move with the load of a
shared machine, where the throughput ratios of ``bench.py`` move by about 8% between runs.

Each figure is a difference of two whole runs, so start-up and set-up cancel out:
- Python: the scenario's blocking call made N times, minus the same process making it 0 times;
- core: ``core_bench`` measuring the scenario for 4 s, minus one that only warms up, divided by
  the operations it reports (its rate times the window).

The scenarios are ``bench.py``'s (the same wallets and the same 418-byte message). The ratio
core / Python is the share of the work that is the core's; the rest is the price of the
Python boundary (argument conversion, the records built for the result).

Usage: python bench/instructions.py --core PATH [--calls N] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
CORE_WINDOW_MS = 4000


def refs(text: str) -> int:
    found = REFS.search(text)
    if not found:
        raise SystemExit(f"no instruction count in valgrind's output:\n{text[-2000:]}")
    return int(found.group(1).replace(",", ""))


def python_refs(name: str, calls: int) -> int:
    run = subprocess.run(
        [*VALGRIND, sys.executable, __file__, "--child", str(calls), name],
        capture_output=True, text=True, check=True,
    )
    return refs(run.stderr)


def core_refs(core: Path, name: str, window_ms: int) -> tuple[int, float]:
    """Instructions of a core_bench process that warms up, then measures for window_ms (if
    not 0), and the operations it made."""
    request = bench.scenarios()[name]["core"]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "valgrind.log"
        wrapper = Path(folder) / "core"
        wrapper.write_text(f'#!/bin/sh\nexec {" ".join(VALGRIND)} --log-file={log} {core} "$@"\n')
        wrapper.chmod(0o755)
        process = bench.Core(wrapper, Path(folder))
        process.measure({**request, "ms": 1})
        rate = process.measure({**request, "ms": window_ms}) if window_ms else 0.0
        process.close()
        return refs(log.read_text()), rate * window_ms / 1000


def child(calls: int, name: str) -> None:
    operation = bench.scenarios()[name]["blocking"]
    for _ in range(calls):
        operation()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--core", type=Path, help="the built core_bench example")
    parser.add_argument("--calls", type=int, default=2000, help="Python calls per scenario")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("scenarios", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.scenarios[0])
        return
    if args.core is None:
        parser.error("--core is required")
    names = args.scenarios or list(bench.scenarios())
    print(f"Instructions per call (valgrind {subprocess.run(['valgrind', '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"{args.calls} Python calls, a {CORE_WINDOW_MS} ms core window)")
    print("| operation | Python blocking | Rust core | core / Python | boundary, instructions per call |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        python = (python_refs(name, args.calls) - python_refs(name, 0)) / args.calls
        with_window, operations = core_refs(args.core, name, CORE_WINDOW_MS)
        warm_only, _ = core_refs(args.core, name, 0)
        core = (with_window - warm_only) / operations
        print(f"| {name} | {python:,.0f} | {core:,.0f} | {core / python:.3f} | {python - core:,.0f} |", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
