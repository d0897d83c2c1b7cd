"""didcomm-edge: DIDComm v2 for Python on a Rust core.

Pack (plaintext, signed, anoncrypt, authcrypt), unpack, resolve (did:key, did:peer, did:jwk,
did:web, plus your own resolver) and route, with typed errors and an asyncio-friendly API::

    import asyncio
    from didcomm_edge import Wallet, create_message

    async def main() -> None:
        dc = Wallet.from_file("alice.json").did_comm()
        msg = create_message("https://didcomm.org/basicmessage/2.0/message",
                             {"content": "hi"}, {"from": alice, "to": [bob]})
        packed = await dc.pack_encrypted(msg, bob, from_=alice)
        received = await dc.unpack(packed.packed)

The edge agent (:class:`EdgeAgent`: mediator connection, send, pickup, live delivery, DID
rotation) is asyncio too::

    alice = EdgeAgent("alice.json")
    await alice.connect(invitation_url)
    await alice.send(bob_did, basic_message("hi"))
    async with bob.live() as live:
        async for item in live:
            await live.ack(item)

Every failure is a :class:`DidCommError` subclass named after its kind
(``DidCommError.DecryptionFailed``, ``DidCommError.Unreachable``, ...), with ``.kind``
(``"decryption_failed"``) and ``.reason``.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    # The wheel's version, which maturin takes from the workspace version in Cargo.toml.
    __version__: str = _metadata.version("didcomm-edge")
except _metadata.PackageNotFoundError:  # the source tree on sys.path, not installed
    __version__ = "0+unknown"

from ._errors import DidCommError, ErrorKind
from ._agent import (
    Acknowledged,
    Batch,
    Connection,
    EdgeAgent,
    LiveItem,
    LiveState,
    LiveStream,
    MediationVersion,
    PickupStatus,
    PickupVersion,
    Received,
    Rotated,
    SendMode,
    Sent,
    Undecryptable,
)
from ._engine import (
    Config,
    ContentEncryption,
    DidComm,
    Forward,
    FromPrior,
    Identity,
    IdentityMethod,
    PackedEncrypted,
    PackedFromPrior,
    PackedSigned,
    ResolverChain,
    Route,
    Routed,
    Unpacked,
    UnpackMetadata,
    UnwrappedForward,
    Wallet,
    generate_did_key,
    generate_identity,
    received_ending,
)
from ._host import DidResolverLike, SecretsStoreLike
from ._native import didcomm_edge as _ffi
from ._protocols import (
    BasicMessage,
    ProblemReport,
    ProtocolMessage,
    basic_message,
    build_protocol_message,
    create_message,
    forward_message,
    oob_attached_messages,
    oob_invitation,
    oob_invitation_from_url,
    oob_invitation_url,
    oob_reply,
    parse_basic_message,
    parse_forward,
    parse_problem_report,
    parse_protocol_message,
    problem_report,
    problem_report_for_error,
    protocol_message_types,
    pure_ack,
    reply_to,
    trust_ping,
    trust_ping_response,
)

DidResolver = _ffi.DidResolver
SecretsStore = _ffi.SecretsStore
InMemoryDidResolver = _ffi.InMemoryDidResolver
InMemorySecretsStore = _ffi.InMemorySecretsStore
DidCommService = _ffi.DidCommService
KeyType = _ffi.KeyType
PackEncryptedMetadata = _ffi.PackEncryptedMetadata
PackSignedMetadata = _ffi.PackSignedMetadata


__all__ = [
    "__version__",
    "Acknowledged",
    "Batch",
    "Connection",
    "EdgeAgent",
    "LiveItem",
    "LiveState",
    "LiveStream",
    "MediationVersion",
    "PickupStatus",
    "PickupVersion",
    "Received",
    "Rotated",
    "SendMode",
    "Sent",
    "Undecryptable",
    "BasicMessage",
    "Config",
    "ContentEncryption",
    "DidComm",
    "DidCommError",
    "DidCommService",
    "DidResolver",
    "DidResolverLike",
    "ErrorKind",
    "Forward",
    "FromPrior",
    "Identity",
    "IdentityMethod",
    "InMemoryDidResolver",
    "InMemorySecretsStore",
    "KeyType",
    "PackEncryptedMetadata",
    "PackSignedMetadata",
    "PackedEncrypted",
    "PackedFromPrior",
    "PackedSigned",
    "ProblemReport",
    "ProtocolMessage",
    "ResolverChain",
    "Route",
    "Routed",
    "SecretsStore",
    "SecretsStoreLike",
    "UnpackMetadata",
    "Unpacked",
    "UnwrappedForward",
    "Wallet",
    "basic_message",
    "build_protocol_message",
    "create_message",
    "forward_message",
    "generate_did_key",
    "generate_identity",
    "oob_attached_messages",
    "oob_invitation",
    "oob_invitation_from_url",
    "oob_invitation_url",
    "oob_reply",
    "parse_basic_message",
    "parse_forward",
    "parse_problem_report",
    "parse_protocol_message",
    "problem_report",
    "problem_report_for_error",
    "protocol_message_types",
    "pure_ack",
    "received_ending",
    "reply_to",
    "trust_ping",
    "trust_ping_response",
]
