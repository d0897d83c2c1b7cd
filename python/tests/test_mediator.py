"""The edge flow against a real mediator process (the workspace's `didcomm-edge-mediator`
binary, on 127.0.0.1): a sender routes a message through the mediator with `route`, the
device picks it up (Message Pickup 3.0 over HTTP: status, delivery, messages-received) and
then gets a second message pushed live over a WebSocket.

Mediation (Coordinate Mediation) is not wired into the mediator on main yet, so the device's
grant is written into the mediator's SQLite database between two starts, as the mediator's own
tests and load generator do. Everything else goes over the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import didcomm_edge as de
from conftest import REPO

PICKUP = "https://didcomm.org/messagepickup/3.0"
ENCRYPTED = "application/didcomm-encrypted+json"
STEP = 20.0  # seconds any one step may take


def mediator_binary() -> Path:
    configured = os.environ.get("DIDCOMM_EDGE_MEDIATOR")
    if configured:
        return Path(configured)
    built = REPO / "target" / "debug" / "didcomm-edge-mediator"
    if not built.exists():
        pytest.skip("build it first: cargo build -p didcomm-edge-mediator (or set DIDCOMM_EDGE_MEDIATOR)")
    return built


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mediator:
    """One mediator process; started and stopped by the fixture."""

    def __init__(self, data_dir: Path, pinned: Path) -> None:
        self.data_dir = data_dir
        self.pinned = pinned
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.did = ""

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(mediator_binary()),
                "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.data_dir),
                "--pinned-did-docs", str(self.pinned),
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
            if line.startswith("listening on "):
                break
            assert time.monotonic() < deadline, "the mediator did not start"
        assert self.did.startswith("did:"), "the mediator printed no DID"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            # 0 after a graceful stop; -SIGTERM when the signal came before the mediator had
            # installed its handler (it does so just after printing its banner).
            code = self.process.wait(timeout=STEP)
            assert code in (0, -signal.SIGTERM), f"the mediator exited with {code}"
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def grant(self, did: str) -> None:
        """What a mediate-grant and a recipient-update would store: `did` may pick up, and
        forwards to `did` are queued for it."""
        with sqlite3.connect(self.data_dir / "mediator.sqlite") as db:
            db.execute("INSERT INTO grants (did, routing_did, granted_at) VALUES (?, ?, ?)", (did, self.did, 1))
            db.execute("INSERT INTO keys (key, did) VALUES (?, ?)", (did, did))

    def post(self, packed: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{self.url}/didcomm", data=packed.encode(), headers={"Content-Type": ENCRYPTED}
        )
        try:
            with urllib.request.urlopen(request, timeout=STEP) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Mediator, de.Identity, de.Identity]]:
    port_holder = Mediator(tmp_path / "data", tmp_path / "pinned.json")
    endpoint = f"{port_holder.url}/didcomm"
    # The sender and the device. The device's service sends everything through the mediator:
    # its endpoint, with the mediator's key as routing key (known after the first start).
    sender = de.generate_identity(de.IdentityMethod.PEER2)
    port_holder.pinned.write_text(json.dumps({"did_docs": [sender.document]}))
    port_holder.start()
    port_holder.stop()
    mediator_wallet = json.loads((port_holder.data_dir / "mediator-identity.json").read_text())
    mediator_doc = mediator_wallet["did_docs"][0]
    mediator_key = mediator_doc["keyAgreement"][0]
    mediator_key = mediator_key if isinstance(mediator_key, str) else mediator_key["id"]
    if mediator_key.startswith("#"):
        mediator_key = mediator_doc["id"] + mediator_key
    device = de.generate_identity(
        de.IdentityMethod.PEER2, de.DidCommService(uri=endpoint, routing_keys=[mediator_key])
    )
    port_holder.pinned.write_text(json.dumps({"did_docs": [sender.document, device.document]}))
    port_holder.grant(device.did)
    port_holder.start()
    try:
        yield port_holder, sender, device
    finally:
        port_holder.stop()


def engine(me: de.Identity, *peers: de.Identity) -> de.DidComm:
    wallet = de.Wallet()
    wallet.add_identity(me)
    for peer in peers:
        wallet.add_document(peer.document)
    return wallet.did_comm()


async def pickup_request(
    dc: de.DidComm, device: de.Identity, mediator: Mediator, name: str, fields: dict[str, Any]
) -> de.ProtocolMessage:
    """Send one Pickup 3.0 request (authcrypted, `return_route: all`) and read the answer."""
    request = de.build_protocol_message(
        f"{PICKUP}/{name}", fields, {"from": device.did, "to": [mediator.did]}
    )
    packed = await dc.pack_encrypted(request, mediator.did, from_=device.did)
    status, body = await asyncio.to_thread(mediator.post, packed.packed)
    assert status == 200, f"{name}: HTTP {status} {body}"
    reply = await dc.unpack(body)
    assert reply.metadata.authenticated and reply.message["from"] == mediator.did
    assert reply.message.get("thid") == request["id"]
    return de.parse_protocol_message(reply.message)


def test_route_then_pickup_then_live_delivery(world: tuple[Mediator, de.Identity, de.Identity]) -> None:
    mediator, sender, device = world
    sender_dc = engine(sender, device)
    device_dc = engine(device, sender)

    async def send(text: str) -> dict[str, Any]:
        message = de.basic_message(text, headers={"from": sender.did, "to": [device.did]})
        packed = await sender_dc.pack_encrypted(message, device.did, from_=sender.did)
        routed = await sender_dc.route(packed.packed, device.did)
        assert routed.uri == f"{mediator.url}/didcomm"
        assert len(routed.hops) == 1
        status, body = await asyncio.to_thread(mediator.post, routed.message)
        assert status == 202, f"forward: HTTP {status} {body}"
        return message

    async def flow() -> None:
        sent = [await send(f"hello {i}") for i in range(3)]

        status = await pickup_request(device_dc, device, mediator, "status-request", {})
        assert status.message_type == f"{PICKUP}/status"
        assert status.fields["message_count"] == 3

        delivery = await pickup_request(device_dc, device, mediator, "delivery-request", {"limit": 10})
        assert delivery.message_type == f"{PICKUP}/delivery"
        delivered = delivery.fields["messages"]
        assert len(delivered) == 3
        received = [await device_dc.unpack(d["message"]) for d in delivered]
        assert sorted(r.message["id"] for r in received) == sorted(m["id"] for m in sent)
        for r in received:
            assert r.metadata.authenticated and r.metadata.encrypted_from_kid is not None
            assert r.message["from"] == sender.did
            assert de.parse_basic_message(r.message).content.startswith("hello ")

        status = await pickup_request(
            device_dc, device, mediator, "messages-received", {"message_id_list": [d["id"] for d in delivered]}
        )
        assert status.fields["message_count"] == 0

        # Live delivery: the device turns it on over a WebSocket, then a new message is pushed.
        import websockets

        async with websockets.connect(f"ws://127.0.0.1:{mediator.port}/ws", open_timeout=STEP) as ws:
            change = de.build_protocol_message(
                f"{PICKUP}/live-delivery-change", {"live_delivery": True},
                {"from": device.did, "to": [mediator.did]},
            )
            packed = await device_dc.pack_encrypted(change, mediator.did, from_=device.did)
            await ws.send(packed.packed)
            answer = await device_dc.unpack(await asyncio.wait_for(ws.recv(), STEP))
            assert de.parse_protocol_message(answer.message).fields.get("live_delivery") is True

            live = await send("pushed")
            frame = await asyncio.wait_for(ws.recv(), STEP)
            pushed = de.parse_protocol_message((await device_dc.unpack(frame)).message)
            assert pushed.message_type == f"{PICKUP}/delivery"
            (item,) = pushed.fields["messages"]
            inner = await device_dc.unpack(item["message"])
            assert inner.message["id"] == live["id"]
            assert de.parse_basic_message(inner.message).content == "pushed"

    asyncio.run(asyncio.wait_for(flow(), 6 * STEP))


def test_pickup_needs_a_grant_and_authcrypt(world: tuple[Mediator, de.Identity, de.Identity]) -> None:
    mediator, sender, device = world
    sender_dc = engine(sender, device)

    async def flow() -> None:
        # The sender holds no grant: refused, with the mediator's typed error.
        request = de.build_protocol_message(
            f"{PICKUP}/status-request", {}, {"from": sender.did, "to": [mediator.did]}
        )
        packed = await sender_dc.pack_encrypted(request, mediator.did, from_=sender.did)
        status, body = await asyncio.to_thread(mediator.post, packed.packed)
        assert status == 403, body
        # The sender can read a reply: the refusal comes as a problem report packed for it.
        refusal = await sender_dc.unpack(body)
        assert refusal.metadata.authenticated and refusal.message["from"] == mediator.did
        assert de.parse_problem_report(refusal.message).code == "e.p.req.not-allowed"
        # Anonymous pickup is refused too, even for the granted device's DID.
        anonymous = de.build_protocol_message(
            f"{PICKUP}/status-request", {}, {"from": device.did, "to": [mediator.did]}
        )
        packed = await sender_dc.pack_encrypted(anonymous, mediator.did)
        status, _ = await asyncio.to_thread(mediator.post, packed.packed)
        assert status in (400, 403)

    asyncio.run(asyncio.wait_for(flow(), 3 * STEP))
