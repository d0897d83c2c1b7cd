"""Shared by the tests: the vector folder, identity files, fresh parties with keys made by the
`cryptography` package (an implementation independent of ours), and helpers."""

from __future__ import annotations

import base64
import json
import os
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

import didcomm_edge as de

# The reference library (PyPI `didcomm`) imports Authlib's deprecated JOSE module.
warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("DIDCOMM_VECTORS") or REPO / "testdata" / "vectors")

KA_CURVES = ["X25519", "P-256", "P-384", "P-521", "secp256k1"]
SIGN_CURVES = ["Ed25519", "P-256", "secp256k1"]
SIGN_ALG = {"Ed25519": "EdDSA", "P-256": "ES256", "secp256k1": "ES256K"}


def read_vectors(relative: str) -> Any:
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))


def wallet_file(name: str) -> dict[str, Any]:
    """`bob` is ids/spec-bob.json, `bob-rust` is ids/rust-bob.json (the vectors' naming)."""
    who, _, flavour = name.partition("-")
    path = f"ids/rust-{who}.json" if flavour == "rust" else f"ids/spec-{name}.json"
    return read_vectors(path)


def wallet(name: str) -> de.Wallet:
    return de.Wallet(wallet_file(name))


def normalized_metadata(m: de.UnpackMetadata) -> dict[str, Any]:
    """Metadata in the vectors' normalized form."""
    return {
        "encrypted": m.encrypted,
        "authenticated": m.authenticated,
        "non_repudiation": m.non_repudiation,
        "anonymous_sender": m.anonymous_sender,
        "re_wrapped_in_forward": m.re_wrapped_in_forward,
        "encrypted_from": m.encrypted_from_kid,
        "encrypted_to": sorted(m.encrypted_to_kids) if m.encrypted_to_kids is not None else None,
        "sign_from": m.sign_from,
        "enc_alg_auth": m.enc_alg_auth,
        "enc_alg_anon": m.enc_alg_anon,
        "sign_alg": m.sign_alg,
        "from_prior_issuer_kid": m.from_prior_issuer_kid,
    }


def sorted_expected(expected: dict[str, Any]) -> dict[str, Any]:
    e = dict(expected)
    if isinstance(e.get("encrypted_to"), list):
        e["encrypted_to"] = sorted(e["encrypted_to"])
    return e


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_EC = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
    "secp256k1": (ec.SECP256K1, 32),
}


def jwk_pair(crv: str) -> tuple[dict[str, str], dict[str, str]]:
    """A fresh key as (private JWK, public JWK)."""
    if crv in ("X25519", "Ed25519"):
        key = (x25519.X25519PrivateKey if crv == "X25519" else ed25519.Ed25519PrivateKey).generate()
        d = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        x = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        public = {"kty": "OKP", "crv": crv, "x": _b64u(x)}
        return {**public, "d": _b64u(d)}, public
    curve, size = _EC[crv]
    numbers = ec.generate_private_key(curve()).private_numbers()
    public = {
        "kty": "EC",
        "crv": crv,
        "x": _b64u(numbers.public_numbers.x.to_bytes(size, "big")),
        "y": _b64u(numbers.public_numbers.y.to_bytes(size, "big")),
    }
    return {**public, "d": _b64u(numbers.private_value.to_bytes(size, "big"))}, public


def slug(crv: str) -> str:
    return crv.lower().replace("-", "")


@dataclass
class Party:
    """`did:example:<name>` with one key agreement key per curve and one signing key per curve,
    in the document form every library reads (verificationMethod + references, JsonWebKey2020)."""

    did: str
    doc: dict[str, Any]
    secrets: list[dict[str, Any]] = field(default_factory=list)
    ka_kids: dict[str, str] = field(default_factory=dict)
    sign_kids: dict[str, str] = field(default_factory=dict)


def make_party(name: str, ka: list[str] = KA_CURVES, sign: list[str] = SIGN_CURVES) -> Party:
    did = f"did:example:{name}"
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "verificationMethod": [],
        "authentication": [],
        "keyAgreement": [],
        "service": [],
    }
    party = Party(did, doc)
    for curves, purpose, relationship, kids in (
        (ka, "ka", "keyAgreement", party.ka_kids),
        (sign, "sign", "authentication", party.sign_kids),
    ):
        for crv in curves:
            kid = f"{did}#{purpose}-{slug(crv)}"
            private, public = jwk_pair(crv)
            doc["verificationMethod"].append(
                {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": public}
            )
            doc[relationship].append(kid)
            party.secrets.append({"kid": kid, "type": "JsonWebKey2020", "privateKeyJwk": private})
            kids[crv] = kid
    return party


def wallet_of(me: Party, *others: Party) -> de.Wallet:
    """A wallet holding `me`'s secrets and every party's document."""
    return de.Wallet({"did_docs": [me.doc, *(o.doc for o in others)], "secrets": me.secrets})


def new_message(frm: str, to: str, **extra: Any) -> dict[str, Any]:
    message = {
        "id": str(uuid.uuid4()),
        "typ": "application/didcomm-plain+json",
        "type": "https://example.com/protocols/test/1.0/hello",
        "from": frm,
        "to": [to],
        "created_time": 1700000000,
        "body": {"text": "hello", "n": 7},
    }
    message.update(extra)
    return message
