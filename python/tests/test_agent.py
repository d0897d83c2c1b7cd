"""The edge agent from Python against a real mediator process (the workspace's
`didcomm-edge-mediator` on 127.0.0.1, SQLite in a temporary folder): two devices connect from
the mediator's invitation (Coordinate Mediation over the wire), send to each other through it,
pick up, receive live over the WebSocket, rotate their DID; and the typed network errors."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Awaitable, Iterator, TypeVar

import pytest

import didcomm_edge as de
from test_mediator import free_port, mediator_binary

STEP = 20.0  # seconds any one step may take
T = TypeVar("T")


class MediatorProcess:
    """A mediator with its defaults (mediation granted to anyone), started and stopped by the
    fixture."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.invitation = ""
        self.did = ""
        self.process = subprocess.Popen(
            [
                str(mediator_binary()),
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(data_dir),
                "--no-qr",
                "--admin-listen", "off",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + STEP
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("mediator DID: "):
                self.did = line.split(": ", 1)[1].strip()
            if line.startswith("invitation: "):
                self.invitation = line.split(": ", 1)[1].strip()
            if line.startswith("listening on "):
                break
            assert time.monotonic() < deadline, "the mediator did not start"
        assert self.invitation.startswith("http"), "the mediator printed no invitation"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STEP)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def mediator(tmp_path: Path) -> Iterator[MediatorProcess]:
    process = MediatorProcess(tmp_path / "mediator")
    try:
        yield process
    finally:
        process.stop()


def agent(path: Path | None = None) -> de.EdgeAgent:
    """Quick retries and short timeouts: a failing step fails fast."""
    return de.EdgeAgent(path, request_timeout=5.0, retry_attempts=2)


def run(flow: Awaitable[T], steps: int = 6) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(flow, steps * STEP)

    return asyncio.run(bounded())


async def pickup_one(device: de.EdgeAgent) -> de.Received:
    """Pick up until one message arrived (sends are accepted before they are queued)."""
    deadline = time.monotonic() + STEP
    while True:
        batch = await device.pickup()
        if batch.messages:
            assert len(batch.messages) == 1, [m.message for m in batch.messages]
            await batch.acknowledge()
            return batch.messages[0]
        assert time.monotonic() < deadline, "nothing arrived"
        await asyncio.sleep(0.05)


def test_two_devices_connect_send_pick_up_and_reply(mediator: MediatorProcess, tmp_path: Path) -> None:
    async def flow() -> None:
        alice, bob = agent(tmp_path / "alice.json"), agent()
        assert alice.did is None
        connection = await alice.connect(mediator.invitation)
        assert connection.mediator_did == mediator.did and connection.newly_granted
        assert alice.did == connection.did and alice.did != alice.control_did
        await bob.connect(mediator.invitation)
        assert bob.did is not None and alice.did is not None
        assert bob.did in await bob.keylist()
        assert (await bob.ping_mediator()) < STEP

        # Alice -> Bob through the mediator (authcrypt, one forward).
        sent = await alice.send(bob.did, de.basic_message("hello Bob"))
        assert sent.to == bob.did and sent.hops == [mediator.did] and not sent.announced_rotation
        assert (await bob.status()).message_count == 1
        received = await pickup_one(bob)
        assert received.message["id"] == sent.id
        assert received.sender == alice.did
        assert received.metadata.authenticated and received.metadata.encrypted
        assert received.metadata.encrypted_from_kid is not None
        assert received.metadata.encrypted_from_kid.startswith(alice.did + "#")
        assert de.parse_basic_message(received.message).content == "hello Bob"
        # Acknowledged: deleted at the mediator.
        assert (await bob.status()).message_count == 0

        # Bob replies in the thread.
        reply = await bob.send(received.sender, de.reply_to(received.message, de.basic_message("hi Alice")))
        answer = await pickup_one(alice)
        assert answer.message["id"] == reply.id and answer.is_reply_to(sent.id)
        assert answer.sender == bob.did

        # A restarted device (the state file) reuses its grant.
        again = agent(tmp_path / "alice.json")
        assert again.did == alice.did
        assert not (await again.connect(mediator.invitation)).newly_granted

    run(flow())


def test_live_delivery_over_the_websocket(mediator: MediatorProcess) -> None:
    async def flow() -> None:
        alice, bob = agent(), agent()
        await alice.connect(mediator.invitation)
        await bob.connect(mediator.invitation)
        assert bob.did is not None
        async with bob.live() as live:
            await live.wait_live(STEP)
            assert isinstance(live.state, de.LiveState.LIVE)

            # A recv cancelled before anything arrives loses nothing.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(live.recv(), 0.3)

            sent = [await alice.send(bob.did, de.basic_message(f"live {i}")) for i in range(3)]
            got: list[de.Received] = []
            async for item in live:
                assert isinstance(item, de.Received), item
                got.append(item)
                acknowledged = await live.ack(item)
                assert acknowledged.ids == [item.queue_id]
                if len(got) == len(sent):
                    break
            assert sorted(r.message["id"] for r in got) == sorted(s.id for s in sent)
            assert all(r.sender == alice.did for r in got)
            # A message is acknowledged once.
            with pytest.raises(de.DidCommError.IllegalArgument):
                await live.ack(got[0])
        assert live.state is None
        with pytest.raises(de.DidCommError.Closed):
            await live.recv()
        assert (await bob.status()).message_count == 0

    run(flow())


def test_rotation_then_a_message(mediator: MediatorProcess) -> None:
    async def flow() -> None:
        alice, bob = agent(), agent()
        await alice.connect(mediator.invitation)
        await bob.connect(mediator.invitation)
        assert alice.did is not None and bob.did is not None
        old_bob = bob.did

        rotated = await bob.rotate()
        assert rotated.prior_did == old_bob and rotated.new_did == bob.did != old_bob
        assert set(await bob.keylist()) >= {old_bob, rotated.new_did}
        assert bob.recipient_dids() == [rotated.new_did, old_bob]

        # Bob's next message announces the rotation (from_prior, signed by the old DID).
        sent = await bob.send(alice.did, de.basic_message("I moved"))
        assert sent.announced_rotation
        received = await pickup_one(alice)
        assert received.sender == rotated.new_did
        assert received.rotated_from == old_bob
        assert received.metadata.from_prior_issuer_kid is not None
        assert received.metadata.from_prior_issuer_kid.startswith(old_bob)
        # Alice follows: a message to the old DID goes to the new one.
        assert alice.peer_did(old_bob) == rotated.new_did
        reply = await alice.send(old_bob, de.basic_message("noted"))
        assert reply.to == rotated.new_did
        got = await pickup_one(bob)
        assert got.message["id"] == reply.id and got.sender == alice.did

        assert await bob.retire_prior_dids() == [old_bob]
        assert old_bob not in await bob.keylist()

    run(flow())


def test_ending_a_relationship(mediator: MediatorProcess) -> None:
    async def flow() -> None:
        alice, bob = agent(), agent()
        await alice.connect(mediator.invitation)
        await bob.connect(mediator.invitation)
        assert alice.did is not None and bob.did is not None
        await bob.send(alice.did, de.basic_message("hello"))
        assert (await pickup_one(alice)).sender == bob.did

        sent = await alice.end_relationship(bob.did)
        assert sent.to == bob.did
        got = await pickup_one(bob)
        assert got.ended_relationship == alice.did
        # Anoncrypt without `from`: the ending DID is known only from the verified JWT.
        assert got.sender is None and "from" not in got.message
        assert got.metadata.encrypted and not got.metadata.authenticated
        assert got.metadata.from_prior is not None
        assert got.metadata.from_prior.iss == alice.did and got.metadata.from_prior.sub is None
        assert got.metadata.from_prior_issuer_kid is not None
        assert got.metadata.from_prior_issuer_kid.startswith(alice.did)
        # A regular message is not an ending.
        await alice.send(bob.did, de.basic_message("still here"))
        assert (await pickup_one(bob)).ended_relationship is None

    run(flow())


def test_network_failures_are_typed(mediator: MediatorProcess) -> None:
    async def flow() -> None:
        # A mediator DID whose endpoint is a closed loopback port.
        closed_port = free_port()
        nowhere = de.generate_identity(
            de.IdentityMethod.PEER2, de.DidCommService(uri=f"http://127.0.0.1:{closed_port}/didcomm")
        )
        device = agent()
        started = time.monotonic()
        with pytest.raises(de.DidCommError.Unreachable) as unreachable:
            await device.connect(nowhere.did)
        assert unreachable.value.kind == de.ErrorKind.UNREACHABLE
        assert "attempts" in unreachable.value.reason
        assert time.monotonic() - started < STEP
        # Nothing to talk to yet.
        with pytest.raises(de.DidCommError.NotConnected):
            await device.pickup()

        # A send to a DID the mediator does not serve: refused, with the HTTP status.
        await device.connect(mediator.invitation)
        stranger = de.generate_identity(de.IdentityMethod.PEER2, de.DidCommService(uri=mediator.did))
        with pytest.raises(de.DidCommError.Refused) as refused:
            await device.send(stranger.did, de.basic_message("anyone there?"))
        error: Any = refused.value
        assert error.kind == de.ErrorKind.REFUSED
        assert error.http_status == 400 and error.problem_code is None
        assert "unknown_recipient" in error.reason

        # Malformed input is the envelope's typed error, before any network.
        with pytest.raises(de.DidCommError.Malformed):
            await device.send(stranger.did, "{not json")

    run(flow(), steps=3)
