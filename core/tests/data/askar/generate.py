#!/usr/bin/env python3
"""Write vectors.json next to this file: DIDComm v2 messages packed by PyPI `didcomm-messaging`
(Indicio; its Askar backend, the one ACA-Py's DIDComm v2 support builds on), with what it takes
to read them: the recipient's secrets as JWKs and the DID documents of both parties, as the
Python side resolved them.

Its anoncrypt writes a fresh `epk` into each recipient's `header` (none in the protected
header); its authcrypt writes one `epk` in the protected header. The committed output makes the
Rust, Python and JS tests independent of Python packages; run this only to regenerate it:

    python3 -m venv /tmp/askar-venv
    /tmp/askar-venv/bin/pip install "didcomm-messaging[askar,did-peer]==0.1.1"
    /tmp/askar-venv/bin/python core/tests/data/askar/generate.py

P-256 is not generated: the Askar backend of 0.1.1 maps only Ed25519, X25519 and secp256k1
keys (its `AskarKey` multicodec table), so secp256k1 stands in for an EC curve.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aries_askar import Key, KeyAlg
from did_peer_2 import KeySpec, generate as peer2_generate
from did_peer_2 import resolve as peer2_resolve
from didcomm_messaging import DIDCommMessaging
from didcomm_messaging.crypto.backend.askar import AskarCryptoService, AskarSecretKey
from didcomm_messaging.crypto.backend.basic import InMemorySecretsManager
from didcomm_messaging.multiformats import multibase, multicodec
from didcomm_messaging.packaging import PackagingService
from didcomm_messaging.resolver import DIDResolver, PrefixResolver
from didcomm_messaging.resolver.peer import Peer2
from didcomm_messaging.routing import RoutingService

OUT = Path(__file__).with_name("vectors.json")
CODEC = {KeyAlg.X25519: "x25519-pub", KeyAlg.K256: "secp256k1-pub", KeyAlg.ED25519: "ed25519-pub"}


def multikey(key: Key) -> str:
    return multibase.encode(multicodec.wrap(CODEC[key.algorithm], key.get_public_bytes()), "base58btc")


class DidKey(DIDResolver):
    """did:key for one key-agreement key (didcomm-messaging ships no did:key resolver): the
    document did:key expands to, with the key as `Multikey`."""

    async def is_resolvable(self, did: str) -> bool:
        return did.startswith("did:key:")

    async def resolve(self, did: str) -> dict:
        return did_key_doc(did)


def did_key_doc(did: str) -> dict[str, Any]:
    mb = did.removeprefix("did:key:")
    kid = f"{did}#{mb}"
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {"id": kid, "type": "Multikey", "controller": did, "publicKeyMultibase": mb}
        ],
        "keyAgreement": [kid],
    }
    if not mb.startswith("z6LS"):  # an EC key serves every relationship, as did:key expands it
        doc["authentication"] = [kid]
        doc["assertionMethod"] = [kid]
    return doc


class Party:
    """A DID with its key-agreement secrets (kid -> Askar key) and its document."""

    def __init__(self, did: str, secrets: dict[str, Key], doc: dict[str, Any]):
        self.did = did
        self.secrets = secrets
        self.doc = doc

    @property
    def kids(self) -> list[str]:
        return list(self.secrets)

    def secret_jwks(self) -> list[dict[str, Any]]:
        return [
            {"kid": kid, "type": "JsonWebKey2020", "privateKeyJwk": json.loads(key.get_jwk_secret())}
            for kid, key in self.secrets.items()
        ]


def did_key_party(alg: KeyAlg) -> Party:
    key = Key.generate(alg)
    did = f"did:key:{multikey(key)}"
    return Party(did, {f"{did}#{multikey(key)}": key}, did_key_doc(did))


def peer2_party(*algs: KeyAlg) -> Party:
    """A did:peer:2 with an Ed25519 verification key (key-1) and key-agreement keys key-2...,
    as didcomm-messaging's quickstart makes them."""
    verkey = Key.generate(KeyAlg.ED25519)
    ka = [Key.generate(alg) for alg in algs]
    service = {
        "type": "DIDCommMessaging",
        "serviceEndpoint": {"uri": "http://127.0.0.1:1/", "accept": ["didcomm/v2"]},
    }
    specs = [KeySpec.verification(multikey(verkey))] + [KeySpec.key_agreement(multikey(k)) for k in ka]
    did = str(peer2_generate(specs, [service]))
    secrets = {f"{did}#key-{i + 2}": k for i, k in enumerate(ka)}
    return Party(did, secrets, peer2_resolve(did))


def messaging(party: Party) -> DIDCommMessaging:
    secrets = InMemorySecretsManager({kid: AskarSecretKey(key, kid) for kid, key in party.secrets.items()})
    return DIDCommMessaging(
        crypto=AskarCryptoService(),
        secrets=secrets,
        resolver=PrefixResolver({"did:peer:2": Peer2(), "did:key:": DidKey()}),
        packaging=PackagingService(),
        routing=RoutingService(),
    )


async def pack(sender: Party, recipient: Party, to: list[str], authcrypt: bool) -> tuple[dict[str, Any], str]:
    message = {
        "id": str(uuid.uuid4()),
        "typ": "application/didcomm-plain+json",
        "type": "https://didcomm.org/basicmessage/2.0/message",
        "from": sender.did,
        "to": [recipient.did],
        "created_time": 1764633600,
        "body": {"content": f"from didcomm-messaging {version('didcomm-messaging')}"},
    }
    dmp = messaging(sender)
    # DIDCommMessaging.pack takes one target; its PackagingService takes several kids of it.
    packed = await dmp.packaging.pack(
        dmp.crypto,
        dmp.resolver,
        dmp.secrets,
        json.dumps(message).encode(),
        to,
        sender.kids[0] if authcrypt else None,
    )
    # The library reads its own message back: the vector is what it writes and accepts.
    back = await messaging(recipient).unpack(packed)
    assert back.message == message and back.authenticated == authcrypt
    return message, packed.decode()


def vector(name: str, sender: Party, recipient: Party, to: list[str], authcrypt: bool) -> dict[str, Any]:
    message, packed = asyncio.run(pack(sender, recipient, to, authcrypt))
    return {
        "id": name,
        "packed": packed,
        "expected": {
            "message": message,
            "authenticated": authcrypt,
            "encrypted_from_kid": sender.kids[0] if authcrypt else None,
            "encrypted_to_kids": sorted(to),
        },
        # What the recipient needs: its secrets, and both documents (the sender's for authcrypt).
        "wallet": {"did_docs": [recipient.doc, sender.doc], "secrets": recipient.secret_jwks()},
    }


def main() -> None:
    key_x = did_key_party(KeyAlg.X25519)
    key_k = did_key_party(KeyAlg.K256)
    key_k2 = did_key_party(KeyAlg.K256)
    peer_x = peer2_party(KeyAlg.X25519)
    peer_xx = peer2_party(KeyAlg.X25519, KeyAlg.X25519)
    peer_xk = peer2_party(KeyAlg.X25519, KeyAlg.K256)
    vectors = [
        vector("anoncrypt-did-key-x25519", peer_x, key_x, key_x.kids, False),
        vector("anoncrypt-did-peer-2-x25519", key_x, peer_x, peer_x.kids, False),
        vector("anoncrypt-did-peer-2-two-x25519-recipients", peer_x, peer_xx, peer_xx.kids, False),
        vector("anoncrypt-did-key-secp256k1", key_x, key_k, key_k.kids, False),
        vector("anoncrypt-did-peer-2-x25519-and-secp256k1-recipients", key_x, peer_xk, peer_xk.kids, False),
        vector("authcrypt-did-key-to-did-peer-2-x25519", key_x, peer_x, peer_x.kids, True),
        vector("authcrypt-did-peer-2-to-did-key-x25519", peer_x, key_x, key_x.kids, True),
        vector("authcrypt-did-peer-2-two-x25519-recipients", peer_x, peer_xx, peer_xx.kids, True),
        vector("authcrypt-did-key-secp256k1", key_k2, key_k, key_k.kids, True),
    ]
    out = {
        "generator": "core/tests/data/askar/generate.py",
        "library": {
            "didcomm-messaging": version("didcomm-messaging"),
            "aries-askar": version("aries-askar"),
            "did-peer-2": version("did-peer-2"),
        },
        "vectors": vectors,
    }
    OUT.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
