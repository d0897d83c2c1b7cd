"""The public API as a type checker sees it: `scripts/python.sh test` runs mypy --strict on this
file (it is not a pytest module). The `type: ignore` lines must stay needed: with
`warn_unused_ignores` (part of --strict), an annotation loosened to Any makes mypy fail."""

from __future__ import annotations

from typing import Any, Optional

import didcomm_edge as de


class Resolver:
    def resolve(self, did: str) -> Optional[dict[str, Any]]:
        return None


class Secrets:
    async def get_secret(self, kid: str) -> Optional[str]:
        return None

    async def find_secrets(self, kids: list[str]) -> list[str]:
        return []


async def usage(wallet: de.Wallet) -> str:
    dc: de.DidComm = wallet.did_comm(de.Config(max_message_size=1 << 20))
    own = de.DidComm(de.ResolverChain(host=Resolver(), did_web=False), Secrets())
    message: dict[str, Any] = de.create_message(
        "https://didcomm.org/basicmessage/2.0/message", {"content": "hi"}, {"from": "did:example:a"}
    )
    packed: de.PackedEncrypted = await dc.pack_encrypted(
        message, "did:example:b", from_="did:example:a", enc_alg_anon=de.ContentEncryption.A256_GCM
    )
    text: str = packed.packed
    signed: de.PackedSigned = own.pack_signed_blocking(message, "did:example:a")
    received: de.Unpacked = await dc.unpack(text, reject_expired=True)
    body: dict[str, Any] = received.message
    authenticated: bool = received.metadata.authenticated
    sender: Optional[str] = received.metadata.encrypted_from_kid
    routed: de.Routed = await dc.route(text, "did:example:b")
    uri: str = routed.uri
    identity: de.Identity = de.generate_identity(de.IdentityMethod.PEER2)
    document: dict[str, Any] = identity.document
    parsed: de.ProtocolMessage = de.parse_protocol_message(de.trust_ping())
    basic: de.BasicMessage = de.parse_basic_message(de.basic_message("hello", lang="en"))
    try:
        dc.unpack_blocking("{}")
    except de.DidCommError as error:
        kind: de.ErrorKind = error.kind
        assert kind is de.ErrorKind.MALFORMED
    # Wrong types are caught:
    dc.pack_encrypted_blocking(message, 42)  # type: ignore[arg-type]
    wrong: int = dc.pack_plaintext(message)  # type: ignore[assignment]
    return " ".join([uri, document["id"], parsed.protocol, basic.content, signed.packed, str(body), str(authenticated), str(sender), str(wrong)])


async def agent_usage(invitation: str) -> list[str]:
    agent = de.EdgeAgent(None, pickup_version=de.PickupVersion.V3, request_timeout=5.0)
    connection: de.Connection = await agent.connect(invitation)
    did: Optional[str] = agent.did
    sent: de.Sent = await agent.send(connection.did, de.basic_message("hi"))
    batch: de.Batch = await agent.pickup()
    for received in batch.messages:
        sender: Optional[str] = received.sender
        body: dict[str, Any] = received.message
    acknowledged: de.Acknowledged = await batch.acknowledge()
    rotated: de.Rotated = await agent.rotate()
    async with agent.live() as live:
        async for item in live:
            if isinstance(item, de.Received):
                content: str = de.parse_basic_message(item.message).content
            await live.ack(item)
            break
    await agent.send(sent.to, 42)  # type: ignore[arg-type]
    return [str(did), rotated.new_did, *acknowledged.ids, *(await agent.keylist())]
