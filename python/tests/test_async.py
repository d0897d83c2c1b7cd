"""Where coroutines run: an engine without Python host objects runs pack, unpack and route on
the event loop's thread (at the blocking cost) and yields to the loop once per call; what must
wait or is large finishes on a library thread; an engine with host objects uses the loop's
executor."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, Coroutine

import pytest

import didcomm_edge as de
from didcomm_edge._fastpath import INLINE_LIMIT
from conftest import make_party, new_message, wallet_of

ALICE = make_party("alice", ka=["X25519", "P-256"], sign=["Ed25519"])
BOB = make_party("bob", ka=["X25519", "P-256"], sign=["Ed25519"])
A = wallet_of(ALICE, BOB).did_comm()
B = wallet_of(BOB, ALICE).did_comm()


class NoExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that refuses work: a coroutine that reaches it fails."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the default executor was used")


def on_loop_without_executor(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def wrapped() -> Any:
        asyncio.get_running_loop().set_default_executor(NoExecutor())
        return await main()

    return asyncio.run(wrapped())


def test_engines_without_host_objects_need_no_executor() -> None:
    message = new_message(ALICE.did, BOB.did)

    async def main() -> None:
        packed = await A.pack_encrypted(message, BOB.did, from_=ALICE.did)
        assert (await B.unpack(packed.packed)).message == message
        signed = await A.pack_signed(message, ALICE.did)
        assert (await B.unpack(signed.packed)).metadata.non_repudiation
        # (Bob's document has no service: route answers, with the typed error.)
        with pytest.raises(de.DidCommError.DidUrlNotFound):
            await A.route(packed.packed, BOB.did)
        # In-memory stores given to the engine are native too.
        wallet = wallet_of(BOB, ALICE)
        engine = de.DidComm(wallet.resolver, wallet.secrets)
        assert (await engine.unpack(packed.packed)).metadata.authenticated

    on_loop_without_executor(main)


def test_engines_with_host_objects_use_the_executor() -> None:
    class Resolver:
        def resolve(self, did: str) -> Any:
            return {d["id"]: d for d in (ALICE.doc, BOB.doc)}.get(did)

    engine = de.DidComm(Resolver(), wallet_of(BOB).secrets)
    packed = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did).packed

    async def main() -> None:
        await engine.unpack(packed)

    with pytest.raises(AssertionError, match="default executor"):
        on_loop_without_executor(main)
    # The same engine with a working executor.
    assert asyncio.run(engine.unpack(packed)).metadata.encrypted


def test_each_call_lets_other_tasks_run() -> None:
    packed = A.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did).packed

    async def main() -> int:
        ticks = 0
        running = True

        async def ticker() -> None:
            nonlocal ticks
            while running:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        for _ in range(50):
            await B.unpack(packed)
        running = False
        await task
        return ticks - start

    assert on_loop_without_executor(main) >= 45


def test_large_inputs_finish_off_the_loop_thread() -> None:
    big = new_message(ALICE.did, BOB.did, body={"text": "x" * (INLINE_LIMIT + 1)})
    small = new_message(ALICE.did, BOB.did)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = A._fast.pack_encrypted_start(loop, big, BOB.did, ALICE.did, None, False, None, None)
        assert isinstance(started, asyncio.Future)
        packed = await started
        assert isinstance(packed, de.PackedEncrypted)
        started = B._fast.unpack_start(loop, packed.packed, False, True, False, True, False, None, True)
        assert isinstance(started, asyncio.Future)
        assert (await started).message == big
        assert (await B.unpack(packed.packed)).message == big
        # Small ones finish at once.
        done = A._fast.pack_signed_start(loop, small, ALICE.did)
        assert isinstance(done, de.PackedSigned)
        # Failures arrive through the future as the same typed errors.
        junk = "x" * (INLINE_LIMIT + 1)
        with pytest.raises(de.DidCommError.Malformed) as caught:
            await B.unpack(junk)
        with pytest.raises(de.DidCommError.Malformed) as expected:
            B.unpack_blocking(junk)
        assert str(caught.value) == str(expected.value)

    on_loop_without_executor(main)


def test_a_call_that_must_wait_finishes_off_the_loop_thread() -> None:
    # did:web needs a name lookup and a connection (here a name that never resolves): the
    # first pass cannot finish it.
    stranger = "did:web:didcomm-edge-test.invalid"
    message = new_message(ALICE.did, stranger)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        started = A._fast.pack_encrypted_start(loop, message, stranger, None, None, False, None, None)
        assert isinstance(started, asyncio.Future)
        with pytest.raises(de.DidCommError):
            await started
        with pytest.raises(de.DidCommError):
            await A.pack_encrypted(message, stranger)

    on_loop_without_executor(main)


def test_a_cancelled_call_ends_quietly() -> None:
    big = new_message(ALICE.did, BOB.did, body={"text": "x" * (INLINE_LIMIT + 1)})
    problems: list[Any] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: problems.append(context))
        started = A._fast.pack_encrypted_start(loop, big, BOB.did, None, None, False, None, None)
        started.cancel()
        # Its end arrives later and is dropped; the next call still works.
        await asyncio.sleep(0.2)
        assert (await A.pack_encrypted(big, BOB.did)).metadata.to_kids

    asyncio.run(main())
    assert problems == []
