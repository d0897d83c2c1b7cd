"""The edge agent: one device's DIDComm client (mediation, send, pickup, live delivery,
rotation) as asyncio coroutines.

Like the engine's coroutines, each runs the native blocking call on the event loop's default
executor (the native code releases the GIL; the agent's network work runs on the library's own
runtime), so the loop stays free and nothing wakes it from a foreign thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from os import PathLike, fspath
from typing import Any, AsyncIterator, Iterator, Optional, Union

from ._engine import MessageLike, to_dict, to_text
from ._host import LOOPS
from ._errors import DidCommError
from ._native import didcomm_edge as _ffi


MediationVersion = _ffi.MediationVersion
PickupVersion = _ffi.PickupVersion
SendMode = _ffi.SendMode
Connection = _ffi.Connection
Sent = _ffi.Sent
Rotated = _ffi.Rotated
Acknowledged = _ffi.Acknowledged
LiveState = _ffi.LiveState
UnpackMetadata = _ffi.UnpackMetadata

# How long one native wait for a live message lasts: a cancelled or abandoned `recv` holds an
# executor thread at most this long (interpreter exit waits for executor threads).
_LIVE_POLL_MS = 250


@dataclass(frozen=True)
class Received:
    """A message delivered by the mediator and decrypted."""

    queue_id: str
    """The mediator's id for it (what an acknowledgement names)."""
    message: "dict[str, Any]"
    """The plaintext message."""
    metadata: UnpackMetadata
    """How it was protected."""
    sender: Optional[str]
    """The sender's DID when the envelope authenticated it; ``None`` for anonymous messages."""
    rotated_from: Optional[str]
    """The DID the sender rotated away from, when the message announced a verified rotation."""
    packed_len: int
    """Its size as delivered, in bytes."""
    ended_relationship: Optional[str] = None
    """The peer DID whose relationship this message ended (a verified ``from_prior`` without
    ``sub`` on a message without ``from``); the agent has already forgotten that peer."""

    @classmethod
    def _of(cls, r: _ffi.ReceivedMessage) -> "Received":
        return cls(
            r.queue_id,
            to_dict(r.message),
            r.metadata,
            r.sender,
            r.rotated_from,
            r.packed_len,
            r.ended_relationship,
        )

    def is_reply_to(self, message_id: str) -> bool:
        """Whether this message is in the thread of the message ``message_id``."""
        return self.message.get("thid") == message_id


@dataclass(frozen=True)
class Undecryptable:
    """A delivered message the agent could not open (acknowledge it like the others)."""

    queue_id: str
    error_kind: str
    """The kind's name (``"decryption_failed"``, ...)."""
    reason: str
    packed_len: int

    @classmethod
    def _of(cls, u: _ffi.UndecryptableMessage) -> "Undecryptable":
        return cls(u.queue_id, u.error_kind, u.reason, u.packed_len)


@dataclass(frozen=True)
class PickupStatus:
    """The mediator's queue for this device."""

    message_count: int
    live_delivery: Optional[bool]
    fields: "dict[str, Any]"
    """Every field of the ``status`` message."""


class Batch:
    """One pickup batch: read :attr:`messages` (and :attr:`failed`), then
    :meth:`acknowledge`; only then does the mediator delete them. A batch never acknowledged is
    delivered again."""

    def __init__(self, native: _ffi.PickupBatch) -> None:
        self._native = native
        self.messages: list[Received] = [Received._of(m) for m in native.messages()]
        self.failed: list[Undecryptable] = [Undecryptable._of(u) for u in native.failed()]
        self.redelivered: list[str] = list(native.redelivered())

    def __len__(self) -> int:
        return len(self.messages) + len(self.failed) + len(self.redelivered)

    def __iter__(self) -> Iterator[Received]:
        return iter(self.messages)

    async def acknowledge(self) -> Acknowledged:
        """Tell the mediator the whole batch was received (it deletes the messages), then send
        the automatic replies (``ack`` for ``please_ack``, ``ping-response``). Once only."""
        return await LOOPS.call(self._native.acknowledge_blocking)


LiveItem = Union[Received, Undecryptable]


class LiveStream:
    """Messages pushed by the mediator over a WebSocket as they arrive, reconnecting by itself::

        async with agent.live() as live:
            async for item in live:
                if isinstance(item, Received):
                    handle(item.message)
                await live.ack(item)

    Nothing is deleted at the mediator until :meth:`ack`; closing the stream leaves
    unacknowledged messages queued. A cancelled :meth:`recv` loses nothing: the next one returns
    what the cancelled one would have."""

    def __init__(self, agent: "EdgeAgent") -> None:
        self._agent = agent
        self._native: Optional[_ffi.LiveStream] = None
        self._inflight: Optional["asyncio.Future[Optional[_ffi.LiveMessage]]"] = None
        self._closed = False

    async def _open(self) -> _ffi.LiveStream:
        if self._closed:
            raise DidCommError.Closed("the live stream was closed")
        if self._native is None:
            self._native = await LOOPS.call(self._agent._native.live_blocking)
        return self._native

    async def wait_live(self, timeout: float = 10.0) -> None:
        """Wait until the connection is live (``DidCommError.TimedOut`` after ``timeout``
        seconds)."""
        native = await self._open()
        await LOOPS.call(lambda: native.wait_live_blocking(int(timeout * 1000)))

    @property
    def state(self) -> Optional[LiveState]:
        """Where the connection stands (``None`` before it is opened)."""
        return None if self._native is None else self._native.state()

    async def recv(self) -> LiveItem:
        """The next message. ``DidCommError.Closed`` once the stream stopped, or the refusal
        that stopped it."""
        native = await self._open()
        while True:
            inflight = self._inflight
            if inflight is None:
                inflight = asyncio.ensure_future(
                    LOOPS.call(lambda: native.recv_blocking(_LIVE_POLL_MS))
                )
                self._inflight = inflight
            try:
                # Shielded: on cancellation the native wait goes on, and its message is kept
                # for the next recv instead of being lost.
                got = await asyncio.shield(inflight)
            except asyncio.CancelledError:
                if inflight.cancelled():
                    self._inflight = None
                raise
            except BaseException:
                self._inflight = None
                raise
            self._inflight = None
            if got is not None:
                if got.message is not None:
                    return Received._of(got.message)
                if got.undecryptable is not None:
                    return Undecryptable._of(got.undecryptable)
                raise DidCommError.InvalidState("a live message without content")

    async def ack(self, item: Union[LiveItem, str]) -> Acknowledged:
        """Acknowledge a message the application has taken (or its ``queue_id``): the mediator
        deletes it. Returns once the mediator confirmed, after the automatic replies."""
        native = await self._open()
        queue_id = item if isinstance(item, str) else item.queue_id
        return await LOOPS.call(lambda: native.ack_blocking(queue_id))

    async def close(self) -> None:
        """Close the connection (unacknowledged messages stay queued at the mediator)."""
        self._closed = True
        native, self._native = self._native, None
        if native is not None:
            await LOOPS.call(native.stop_blocking)
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            # The pending native wait ends with Closed (or a message that stays queued).
            await asyncio.gather(inflight, return_exceptions=True)

    def __aiter__(self) -> AsyncIterator[LiveItem]:
        return self

    async def __anext__(self) -> LiveItem:
        try:
            return await self.recv()
        except DidCommError.Closed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> "LiveStream":
        await self._open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class EdgeAgent:
    """A DIDComm v2 edge device: connects to a mediator, sends, picks up, receives live,
    rotates::

        alice = EdgeAgent("alice.json")           # state file; EdgeAgent() keeps it in memory
        await alice.connect(invitation_url)       # mediation, messaging DID, keylist
        await alice.send(bob_did, basic_message("hi"))
        batch = await alice.pickup()
        for received in batch.messages:
            print(received.sender, received.message["body"])
        await batch.acknowledge()

    ``path``: the state file (identities, keys, mediator grant; it holds private keys), created
    when missing. The keyword options override the agent's defaults: ``mediation_version``
    (2.0), ``pickup_version`` (3.0), ``send_mode`` (authcrypt), ``request_timeout`` (seconds,
    10), ``retry_attempts`` (4), ``batch_size`` (50), ``auto_ack``, ``auto_ping_response``
    (true), ``websocket_url``. Failures are :class:`DidCommError` subclasses; the network ones
    are ``Unreachable``, ``TimedOut`` and ``Refused`` (with ``problem_code`` and
    ``http_status``)."""

    def __init__(
        self,
        path: Union[None, str, "PathLike[str]"] = None,
        *,
        mediation_version: Optional[MediationVersion] = None,
        pickup_version: Optional[PickupVersion] = None,
        send_mode: Optional[SendMode] = None,
        request_timeout: Optional[float] = None,
        retry_attempts: Optional[int] = None,
        batch_size: Optional[int] = None,
        auto_ack: Optional[bool] = None,
        auto_ping_response: Optional[bool] = None,
        websocket_url: Optional[str] = None,
    ) -> None:
        config = _ffi.AgentConfig(
            mediation_version=mediation_version,
            pickup_version=pickup_version,
            send_mode=send_mode,
            request_timeout_ms=None if request_timeout is None else int(request_timeout * 1000),
            retry_attempts=retry_attempts,
            batch_size=batch_size,
            auto_ack=auto_ack,
            auto_ping_response=auto_ping_response,
            websocket_url=websocket_url,
        )
        if path is None:
            self._native = _ffi.EdgeAgent(config)
        else:
            self._native = _ffi.EdgeAgent.open(fspath(path), config)

    @property
    def control_did(self) -> str:
        """The DID that talks to the mediator."""
        return self._native.control_did()

    @property
    def did(self) -> Optional[str]:
        """The DID peers write to, once connected."""
        return self._native.did()

    def peer_did(self, did: str) -> str:
        """The current DID of a peer, following the rotations it announced."""
        return self._native.peer_did(did)

    def recipient_dids(self) -> list[str]:
        """Every DID this device receives for (messaging, then prior DIDs not yet retired)."""
        return list(self._native.recipient_dids())

    async def connect(self, invitation: Union[str, "dict[str, Any]"]) -> Connection:
        """Connect to a mediator from its invitation (an ``_oob`` URL, the invitation, or the
        mediator's DID). A saved grant from the same mediator is reused."""
        text = to_text(invitation, "the invitation")
        return await LOOPS.call(lambda: self._native.connect_blocking(text))

    async def send(self, to: str, message: MessageLike) -> Sent:
        """Send a plaintext message to ``to`` (``from`` and ``to`` are set here): packed,
        wrapped in forwards for the recipient's mediators, delivered."""
        text = to_text(message, "the message")
        return await LOOPS.call(lambda: self._native.send_blocking(to, text))

    async def ping(self, to: str) -> Sent:
        """Trust-ping a peer (the response arrives like any message: :meth:`Received.is_reply_to`)."""
        return await LOOPS.call(lambda: self._native.ping_blocking(to))

    async def end_relationship(self, peer: str) -> Sent:
        """End the relationship with ``peer`` (DIDComm v2.1 "Ending a Relationship"): an
        anoncrypted message without ``from`` whose ``from_prior`` (no ``sub``) is signed by the
        DID the peer knows us by. The peer forgets that DID; this agent forgets the peer once
        the message is delivered."""
        return await LOOPS.call(lambda: self._native.end_relationship_blocking(peer))

    async def pickup(self) -> Batch:
        """One batch of waiting messages, decrypted; acknowledge it once handled."""
        return Batch(await LOOPS.call(self._native.pickup_blocking))

    async def rotate(self) -> Rotated:
        """New keys and messaging DID, registered at the mediator; the next messages to each
        peer announce it (``from_prior``)."""
        return await LOOPS.call(self._native.rotate_blocking)

    async def keylist(self) -> list[str]:
        """The recipient DIDs the mediator holds for this device."""
        return list(await LOOPS.call(self._native.keylist_blocking))

    async def status(self, recipient_did: Optional[str] = None) -> PickupStatus:
        """How many messages wait at the mediator."""
        s = await LOOPS.call(lambda: self._native.status_blocking(recipient_did))
        return PickupStatus(s.message_count, s.live_delivery, to_dict(s.fields))

    async def ping_mediator(self) -> float:
        """Trust-ping the mediator; the round trip in seconds."""
        return (await LOOPS.call(self._native.ping_mediator_blocking)) / 1000.0

    async def retire_prior_dids(self, even_if_messages_wait: bool = False) -> list[str]:
        """Stop receiving for the DIDs rotated away from (refused while messages wait for them
        unless ``even_if_messages_wait``)."""
        return list(
            await LOOPS.call(lambda: self._native.retire_prior_dids_blocking(even_if_messages_wait))
        )

    def live(self) -> LiveStream:
        """Live delivery over the mediator's WebSocket; the connection opens on first use
        (``async with``, ``async for``, :meth:`LiveStream.wait_live`)."""
        return LiveStream(self)
