"""Pack/unpack throughput through Python, side by side in one run:

- this package, blocking methods (``*_blocking``) and coroutines (``await``);
- the reference Python library (PyPI ``didcomm``), which is coroutine-only;
- the Rust core itself with no FFI (``bindings/examples/core_bench.rs``, a child process fed
  the same wallets and message).

Rounds alternate between the four, and medians are compared. The scenarios and the 418-byte
basic message are the npm package's benchmark's (wasm/npm/bench/bench.mjs).

Then the longest event-loop stall of each coroutine: the coroutine runs back to back in one
task while a second task ticks (``await asyncio.sleep(0)``), and the longest gap between two
ticks is the longest the loop was held (wall clock, which includes preemption by other
processes, and CPU time of the loop's thread, which does not). The goals (issue 19) are checked and printed: blocking
>= 0.85 of the core, async >= 0.7, no stall of 1 ms or more.

Usage: python bench/bench.py --core PATH [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Awaitable, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import authlib.deprecate  # noqa: E402,F401 - before the filter: its import adds an "always" filter

warnings.filterwarnings("ignore")

import didcomm_edge as de  # noqa: E402
from conftest import make_party  # noqa: E402
from didcomm.common.algorithms import AnonCryptAlg  # noqa: E402
from didcomm.common.resolvers import ResolversConfig  # noqa: E402
from didcomm.did_doc.did_doc import DIDDoc  # noqa: E402
from didcomm.did_doc.did_resolver_in_memory import DIDResolverInMemory  # noqa: E402
from didcomm.message import Message as RefMessage  # noqa: E402
from didcomm.pack_encrypted import PackEncryptedConfig, pack_encrypted  # noqa: E402
from didcomm.pack_signed import pack_signed  # noqa: E402
from didcomm.secrets.secrets_resolver_in_memory import SecretsResolverInMemory  # noqa: E402
from didcomm.secrets.secrets_util import jwk_to_secret  # noqa: E402
from didcomm.unpack import unpack  # noqa: E402

ALICE = make_party("alice", ka=["X25519", "P-256"], sign=["Ed25519"])
BOB = make_party("bob", ka=["X25519", "P-256"], sign=["Ed25519"])
DOCS = [ALICE.doc, BOB.doc]


def wallet_json(me: Any) -> dict[str, Any]:
    return {"did_docs": DOCS, "secrets": me.secrets}


OURS_A = de.Wallet(wallet_json(ALICE)).did_comm()
OURS_B = de.Wallet(wallet_json(BOB)).did_comm()


def ref_config(me: Any) -> ResolversConfig:
    secrets = [jwk_to_secret({**s["privateKeyJwk"], "kid": s["kid"]}) for s in me.secrets]
    return ResolversConfig(
        secrets_resolver=SecretsResolverInMemory(secrets),
        did_resolver=DIDResolverInMemory([DIDDoc.deserialize(d) for d in DOCS]),
    )


REF_A, REF_B = ref_config(ALICE), ref_config(BOB)
MESSAGE = de.create_message(
    "https://didcomm.org/basicmessage/2.0/message",
    {"content": "The quick brown fox jumps over the lazy dog. " * 4},
    {"from": ALICE.did, "to": [BOB.did]},
)


class Core:
    """The Rust core benchmark child process."""

    def __init__(self, binary: Path, folder: Path) -> None:
        files = []
        for name, content in (("a", wallet_json(ALICE)), ("b", wallet_json(BOB)), ("m", MESSAGE)):
            path = folder / f"{name}.json"
            path.write_text(json.dumps(content))
            files.append(str(path))
        self.process = subprocess.Popen(
            [str(binary), *files], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def measure(self, request: dict[str, Any]) -> float:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return float(json.loads(self.process.stdout.readline())["ops_per_sec"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def ref_message() -> Any:
    return RefMessage.from_dict(json.loads(json.dumps(MESSAGE)))


def scenarios() -> dict[str, dict[str, Any]]:
    """name -> the same operation four ways: blocking, async, reference (async), core request."""
    x_from, x_to = ALICE.ka_kids["X25519"], BOB.ka_kids["X25519"]
    p_from, p_to = ALICE.ka_kids["P-256"], BOB.ka_kids["P-256"]
    signer = ALICE.sign_kids["Ed25519"]
    cbc = de.ContentEncryption.A256_CBC_HS512
    ref_anon = PackEncryptedConfig(forward=False, enc_alg_anon=AnonCryptAlg.A256CBC_HS512_ECDH_ES_A256KW)
    no_forward = PackEncryptedConfig(forward=False)
    auth = OURS_A.pack_encrypted_blocking(MESSAGE, x_to, from_=x_from).packed
    anon = OURS_A.pack_encrypted_blocking(MESSAGE, x_to, enc_alg_anon=cbc).packed
    auth_p256 = OURS_A.pack_encrypted_blocking(MESSAGE, p_to, from_=p_from).packed
    signed = OURS_A.pack_signed_blocking(MESSAGE, signer).packed
    for packed in (auth, anon, auth_p256, signed):
        assert OURS_B.unpack_blocking(packed).message == MESSAGE
    ms = 400

    def unpack_case(packed: str) -> dict[str, Any]:
        return {
            "blocking": lambda: OURS_B.unpack_blocking(packed),
            "async": lambda: OURS_B.unpack(packed),
            "reference": lambda: unpack(REF_B, packed),
            "core": {"op": "unpack", "packed": packed, "ms": ms},
        }

    return {
        "authcrypt X25519 pack": {
            "blocking": lambda: OURS_A.pack_encrypted_blocking(MESSAGE, x_to, from_=x_from),
            "async": lambda: OURS_A.pack_encrypted(MESSAGE, x_to, from_=x_from),
            "reference": lambda: pack_encrypted(REF_A, ref_message(), to=x_to, frm=x_from, pack_config=no_forward),
            "core": {"op": "pack_encrypted", "to": x_to, "from": x_from, "ms": ms},
        },
        "authcrypt X25519 unpack": unpack_case(auth),
        "anoncrypt X25519 pack (A256CBC-HS512)": {
            "blocking": lambda: OURS_A.pack_encrypted_blocking(MESSAGE, x_to, enc_alg_anon=cbc),
            "async": lambda: OURS_A.pack_encrypted(MESSAGE, x_to, enc_alg_anon=cbc),
            "reference": lambda: pack_encrypted(REF_A, ref_message(), to=x_to, pack_config=ref_anon),
            "core": {"op": "pack_encrypted", "to": x_to, "from": None, "enc": "A256CBC-HS512", "ms": ms},
        },
        "anoncrypt X25519 unpack": unpack_case(anon),
        "authcrypt P-256 pack": {
            "blocking": lambda: OURS_A.pack_encrypted_blocking(MESSAGE, p_to, from_=p_from),
            "async": lambda: OURS_A.pack_encrypted(MESSAGE, p_to, from_=p_from),
            "reference": lambda: pack_encrypted(REF_A, ref_message(), to=p_to, frm=p_from, pack_config=no_forward),
            "core": {"op": "pack_encrypted", "to": p_to, "from": p_from, "ms": ms},
        },
        "authcrypt P-256 unpack": unpack_case(auth_p256),
        "signed EdDSA pack": {
            "blocking": lambda: OURS_A.pack_signed_blocking(MESSAGE, signer),
            "async": lambda: OURS_A.pack_signed(MESSAGE, signer),
            "reference": lambda: pack_signed(REF_A, ref_message(), sign_frm=signer),
            "core": {"op": "pack_signed", "sign_by": signer, "ms": ms},
        },
        "signed EdDSA unpack": unpack_case(signed),
    }


def rate_blocking(op: Callable[[], Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        op()
        count += 1
    return count / elapsed


async def rate_async(op: Callable[[], Awaitable[Any]], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        await op()
        count += 1
    return count / elapsed


async def loop_gaps(op: Callable[[], Awaitable[Any]], seconds: float) -> list[tuple[float, float]]:
    """The gaps between the ticks of a second task while ``op`` runs back to back: wall-clock
    time, and CPU time of the loop's thread (what the loop's own work took, without the time
    the process was preempted by others on a shared machine)."""
    running = True
    gaps: list[tuple[float, float]] = []

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while running:
            await asyncio.sleep(0)
            now, now_cpu = time.perf_counter(), time.thread_time()
            gaps.append((now - last, now_cpu - last_cpu))
            last, last_cpu = now, now_cpu

    # The collector off: a full collection over the gaps recorded here is the benchmark's own.
    gc.disable()
    try:
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await op()
        running = False
        await task
    finally:
        gc.enable()
    return gaps


async def idle() -> None:
    """A coroutine that only yields: its gaps are the machine's own (preemption by other
    processes on a shared machine, the interpreter)."""
    await asyncio.sleep(0)


GOALS = {"blocking / core": 0.85, "async / core": 0.7, "stall ms": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--core", type=Path, required=True, help="the built core_bench example")
    parser.add_argument("--quick", action="store_true", help="3 short rounds (a smoke test)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rounds, seconds = (3, 0.15) if args.quick else (7, 0.4)

    cases = scenarios()
    kinds = ("blocking", "async", "reference", "core")
    figures: dict[str, dict[str, list[float]]] = {name: {k: [] for k in kinds} for name in cases}
    with tempfile.TemporaryDirectory() as folder:
        core = Core(args.core, Path(folder))
        loop = asyncio.new_event_loop()
        try:
            # Warm-up: caches, allocator, CPU frequency.
            for case in cases.values():
                rate_blocking(case["blocking"], 0.05)
                loop.run_until_complete(rate_async(case["async"], 0.05))
                loop.run_until_complete(rate_async(case["reference"], 0.05))
                core.measure({**case["core"], "ms": 50})
            for _ in range(rounds):
                for name, case in cases.items():
                    figures[name]["blocking"].append(rate_blocking(case["blocking"], seconds))
                    figures[name]["async"].append(loop.run_until_complete(rate_async(case["async"], seconds)))
                    figures[name]["reference"].append(loop.run_until_complete(rate_async(case["reference"], seconds)))
                    figures[name]["core"].append(core.measure({**case["core"], "ms": int(seconds * 1000)}))
            gaps = {
                name: [g for _ in range(3) for g in loop.run_until_complete(loop_gaps(case["async"], seconds))]
                for name, case in {**cases, "(idle coroutine)": {"async": idle}}.items()
            }
        finally:
            loop.close()
            core.close()

    walls = {name: sorted(w for w, _ in g) for name, g in gaps.items()}
    stalls = {name: w[-1] for name, w in walls.items()}
    p999 = {name: w[int(len(w) * 0.999)] for name, w in walls.items()}
    cpu_stalls = {name: max(c for _, c in g) for name, g in gaps.items()}
    medians = {name: {k: statistics.median(v) for k, v in f.items()} for name, f in figures.items()}
    header = (
        "| operation | Python blocking ops/s | Python async ops/s | PyPI didcomm ops/s | Rust core ops/s "
        "| blocking / didcomm | async / didcomm | blocking / core | async / core | loop stall, wall: longest / 99.9% | loop stall, loop thread CPU: longest |"
    )
    print(f"Python {platform.python_version()}, {rounds} rounds of {seconds * 1000:.0f} ms, medians")
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    missed = []
    for name, m in medians.items():
        blocking, asynchronous, stall = m["blocking"] / m["core"], m["async"] / m["core"], cpu_stalls[name] * 1000
        print(
            f"| {name} | {m['blocking']:.0f} | {m['async']:.0f} | {m['reference']:.0f} | {m['core']:.0f} "
            f"| {m['blocking'] / m['reference']:.1f} | {m['async'] / m['reference']:.1f} "
            f"| {blocking:.2f} | {asynchronous:.2f} | {stalls[name] * 1000:.2f} / {p999[name] * 1000:.2f} ms "
            f"| {stall:.2f} ms |"
        )
        if blocking < GOALS["blocking / core"]:
            missed.append(f"{name}: blocking / core {blocking:.2f} < {GOALS['blocking / core']}")
        if asynchronous < GOALS["async / core"]:
            missed.append(f"{name}: async / core {asynchronous:.2f} < {GOALS['async / core']}")
        if stall >= GOALS["stall ms"]:
            missed.append(f"{name}: loop stall {stall:.2f} ms >= {GOALS['stall ms']} ms")
    print(
        "Loop stall of a coroutine that only yields, the machine's own: wall longest "
        f"{stalls['(idle coroutine)'] * 1000:.2f} ms, 99.9% {p999['(idle coroutine)'] * 1000:.2f} ms; "
        f"loop thread CPU longest {cpu_stalls['(idle coroutine)'] * 1000:.2f} ms"
    )
    print(
        f"Goals: blocking / core >= {GOALS['blocking / core']}, async / core >= {GOALS['async / core']}, "
        f"longest loop stall (loop thread CPU) < {GOALS['stall ms']:.0f} ms: " + ("all met" if not missed else "missed")
    )
    for line in missed:
        print(f"  missed: {line}")
    if args.json:
        summary = {
            "rounds": rounds,
            "seconds": seconds,
            "figures": figures,
            "medians": medians,
            "stalls": stalls,
            "stalls_p999": p999,
            "stalls_cpu": cpu_stalls,
        }
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
