"""Both directions against the reference Python library (PyPI `didcomm`, the one the
decentralized-identity ecosystem ships for Python), on parties with keys from `cryptography`:
every curve both sides support for authcrypt and anoncrypt, every signature algorithm,
sign-then-encrypt, protected senders, plaintext, DID rotation and forward routing."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from typing import Any

import pytest

import authlib.deprecate  # noqa: F401 - its import adds an "always" filter; ours must come after

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from didcomm.common.algorithms import AnonCryptAlg
    from didcomm.common.resolvers import ResolversConfig
    from didcomm.did_doc.did_doc import DIDDoc
    from didcomm.did_doc.did_resolver_in_memory import DIDResolverInMemory
    from didcomm.message import FromPrior as RefFromPrior
    from didcomm.message import Message as RefMessage
    from didcomm.pack_encrypted import PackEncryptedConfig, PackEncryptedParameters, pack_encrypted
    from didcomm.pack_plaintext import pack_plaintext
    from didcomm.pack_signed import pack_signed
    from didcomm.secrets.secrets_resolver_in_memory import SecretsResolverInMemory
    from didcomm.secrets.secrets_util import jwk_to_secret
    from didcomm.unpack import unpack

import didcomm_edge as de
from conftest import KA_CURVES, SIGN_ALG, SIGN_CURVES, Party, make_party, new_message, wallet_of

ALICE = make_party("alice")
BOB = make_party("bob")
PARTIES = (ALICE, BOB)
OURS = {p.did: wallet_of(p, *PARTIES).did_comm() for p in PARTIES}


def theirs(party: Party) -> ResolversConfig:
    secrets = [jwk_to_secret({**s["privateKeyJwk"], "kid": s["kid"]}) for s in party.secrets]
    docs = [DIDDoc.deserialize(p.doc) for p in PARTIES]
    return ResolversConfig(
        secrets_resolver=SecretsResolverInMemory(secrets), did_resolver=DIDResolverInMemory(docs)
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def plain(message: Any) -> dict[str, Any]:
    """A message as a dict, without the `thid` the reference library fills in with the id
    (its Message class defaults `thid` to `id`; ours leaves an absent header absent)."""
    d = dict(message.as_dict() if hasattr(message, "as_dict") else message)
    if d.get("thid") == d.get("id"):
        d.pop("thid")
    return d


async def ref_unpack(party: Party, packed: str) -> Any:
    return await unpack(theirs(party), packed)


def ref_pack_encrypted(sender: Party, msg: dict[str, Any], to: str, **kwargs: Any) -> str:
    protect = kwargs.pop("protect_sender", False)
    enc = kwargs.pop("enc_alg_anon", AnonCryptAlg.XC20P_ECDH_ES_A256KW)
    config = PackEncryptedConfig(forward=False, protect_sender_id=protect, enc_alg_anon=enc)
    result = run(pack_encrypted(theirs(sender), RefMessage.from_dict(json.loads(json.dumps(msg))), to=to, pack_config=config, **kwargs))
    return str(result.packed_msg)


def short_p521_epk(packed: str) -> bool:
    """Whether the outer JWE has a P-521 `epk` with a coordinate shorter than 66 bytes."""
    protected = json.loads(packed)["protected"]
    epk = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))["epk"]
    if epk.get("crv") != "P-521":
        return False
    lengths = {len(base64.urlsafe_b64decode(epk[c] + "=" * (-len(epk[c]) % 4))) for c in ("x", "y")}
    return lengths != {66}


REF_ANON = {
    de.ContentEncryption.A256_CBC_HS512: AnonCryptAlg.A256CBC_HS512_ECDH_ES_A256KW,
    de.ContentEncryption.A256_GCM: AnonCryptAlg.A256GCM_ECDH_ES_A256KW,
    de.ContentEncryption.XC20P: AnonCryptAlg.XC20P_ECDH_ES_A256KW,
}


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("enc", list(REF_ANON))
def test_anoncrypt_ours_to_reference(crv: str, enc: de.ContentEncryption) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = OURS[ALICE.did].pack_encrypted_blocking(msg, BOB.ka_kids[crv], enc_alg_anon=enc)
    result = run(ref_unpack(BOB, packed.packed))
    assert plain(result.message) == msg
    assert result.metadata.encrypted and not result.metadata.authenticated
    assert result.metadata.encrypted_to == [BOB.ka_kids[crv]]


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("enc", list(REF_ANON))
def test_anoncrypt_reference_to_ours(crv: str, enc: de.ContentEncryption) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = ref_pack_encrypted(ALICE, msg, BOB.ka_kids[crv], enc_alg_anon=REF_ANON[enc])
    result = OURS[BOB.did].unpack_blocking(packed)
    assert plain(result.message) == msg
    assert result.metadata.anonymous_sender and not result.metadata.authenticated


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("protect_sender", [False, True])
def test_authcrypt_ours_to_reference(crv: str, protect_sender: bool) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = OURS[ALICE.did].pack_encrypted_blocking(
        msg, BOB.did, from_=ALICE.ka_kids[crv], protect_sender=protect_sender
    )
    result = run(ref_unpack(BOB, packed.packed))
    assert plain(result.message) == msg
    assert result.metadata.authenticated and result.metadata.encrypted
    assert result.metadata.anonymous_sender == protect_sender
    assert result.metadata.encrypted_from == ALICE.ka_kids[crv]
    assert result.metadata.encrypted_to == [BOB.ka_kids[crv]]


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("protect_sender", [False, True])
def test_authcrypt_reference_to_ours(crv: str, protect_sender: bool) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = ref_pack_encrypted(ALICE, msg, BOB.did, frm=ALICE.ka_kids[crv], protect_sender=protect_sender)
    result = OURS[BOB.did].unpack_blocking(packed)
    assert plain(result.message) == msg
    assert result.metadata.authenticated
    assert result.metadata.anonymous_sender == protect_sender
    assert result.metadata.encrypted_from_kid == ALICE.ka_kids[crv]


def test_reference_epks_without_leading_zero_bytes_are_read() -> None:
    """The reference library drops leading zero bytes of `epk` coordinates (RFC 7518 6.2.1.2
    wants full length): for P-521, whose top byte is 0 or 1, that is most messages; for P-256
    and P-384 about one in 128. They are the same points and must be read."""
    msg = new_message(ALICE.did, BOB.did)
    short = 0
    for _ in range(12):
        packed = ref_pack_encrypted(ALICE, msg, BOB.ka_kids["P-521"], enc_alg_anon=AnonCryptAlg.A256GCM_ECDH_ES_A256KW)
        short += short_p521_epk(packed)
        assert plain(OURS[BOB.did].unpack_blocking(packed).message) == msg
    assert short > 0, "no short coordinate seen in 12 tries (odds about 1 in 16 million)"


@pytest.mark.parametrize("crv", SIGN_CURVES)
def test_signed_both_ways(crv: str) -> None:
    msg = new_message(ALICE.did, BOB.did)
    ours = OURS[ALICE.did].pack_signed_blocking(msg, ALICE.sign_kids[crv])
    their_view = run(ref_unpack(BOB, ours.packed))
    assert plain(their_view.message) == msg
    assert their_view.metadata.non_repudiation
    assert their_view.metadata.sign_from == ALICE.sign_kids[crv]
    assert their_view.metadata.sign_alg.value == SIGN_ALG[crv]

    ref = run(pack_signed(theirs(ALICE), RefMessage.from_dict(json.loads(json.dumps(msg))), sign_frm=ALICE.sign_kids[crv]))
    our_view = OURS[BOB.did].unpack_blocking(ref.packed_msg)
    assert plain(our_view.message) == msg
    assert our_view.metadata.sign_from == ALICE.sign_kids[crv]
    assert our_view.metadata.sign_alg == SIGN_ALG[crv]


@pytest.mark.parametrize("crv", SIGN_CURVES)
def test_signed_then_authcrypted_both_ways(crv: str) -> None:
    msg = new_message(ALICE.did, BOB.did)
    ours = OURS[ALICE.did].pack_encrypted_blocking(msg, BOB.did, from_=ALICE.did, sign_by=ALICE.sign_kids[crv])
    their_view = run(ref_unpack(BOB, ours.packed))
    assert plain(their_view.message) == msg
    assert their_view.metadata.sign_from == ALICE.sign_kids[crv]
    assert their_view.metadata.encrypted_from == ALICE.ka_kids["X25519"]

    packed = ref_pack_encrypted(ALICE, msg, BOB.did, frm=ALICE.did, sign_frm=ALICE.sign_kids[crv])
    our_view = OURS[BOB.did].unpack_blocking(packed)
    assert plain(our_view.message) == msg
    assert our_view.metadata.non_repudiation and our_view.metadata.authenticated
    assert our_view.metadata.sign_from == ALICE.sign_kids[crv]
    assert our_view.metadata.encrypted_from_kid == ALICE.ka_kids["X25519"]


def test_plaintext_both_ways() -> None:
    msg = new_message(ALICE.did, BOB.did)
    assert plain(run(ref_unpack(BOB, OURS[ALICE.did].pack_plaintext(msg))).message) == msg
    ref = run(pack_plaintext(theirs(ALICE), RefMessage.from_dict(json.loads(json.dumps(msg)))))
    assert plain(OURS[BOB.did].unpack_blocking(ref.packed_msg).message) == msg


def test_our_problem_reports_are_read_by_the_reference_and_carry_no_ack() -> None:
    # didcomm-jvm (Identus' SDKs) refuses a non-string `ack`, the spec's form is an array:
    # our reports leave it out and are matched by `pthid`, which every library reads.
    request = new_message(ALICE.did, BOB.did)
    try:
        OURS[BOB.did].unpack_blocking("{}")
        raise AssertionError("an empty object unpacked")
    except de.DidCommError as error:
        report = de.problem_report_for_error(error, request)
    assert "ack" not in report
    report = {**report, "from": BOB.did, "to": [ALICE.did]}
    packed = OURS[BOB.did].pack_encrypted_blocking(report, ALICE.did, from_=BOB.did)
    result = run(ref_unpack(ALICE, packed.packed))
    theirs_view = result.message.as_dict()
    assert "ack" not in theirs_view or theirs_view["ack"] in (None, [])
    assert theirs_view["pthid"] == request["id"]
    assert theirs_view["body"]["code"] == report["body"]["code"]


def test_from_prior_both_ways() -> None:
    new_alice = make_party("alice-2", ka=["X25519"], sign=["Ed25519"])
    docs = [ALICE.doc, new_alice.doc, BOB.doc]
    ours_rotating = de.Wallet({"did_docs": docs, "secrets": ALICE.secrets + new_alice.secrets}).did_comm()
    ours_bob = de.Wallet({"did_docs": docs, "secrets": BOB.secrets}).did_comm()

    def ref_config(*parties: Party) -> ResolversConfig:
        secrets = [jwk_to_secret({**s["privateKeyJwk"], "kid": s["kid"]}) for p in parties for s in p.secrets]
        return ResolversConfig(
            secrets_resolver=SecretsResolverInMemory(secrets),
            did_resolver=DIDResolverInMemory([DIDDoc.deserialize(d) for d in docs]),
        )

    # Ours -> reference.
    jwt = ours_rotating.pack_from_prior_blocking(de.FromPrior(iss=ALICE.did, sub=new_alice.did))
    msg = new_message(new_alice.did, BOB.did, from_prior=jwt.jwt)
    packed = ours_rotating.pack_encrypted_blocking(msg, BOB.did, from_=new_alice.did)
    their_view = run(unpack(ref_config(BOB), packed.packed))
    assert their_view.metadata.from_prior_issuer_kid == ALICE.sign_kids["Ed25519"]
    assert their_view.message.from_prior.iss == ALICE.did

    # Reference -> ours.
    ref_msg = RefMessage.from_dict(new_message(new_alice.did, BOB.did))
    ref_msg.from_prior = RefFromPrior(iss=ALICE.did, sub=new_alice.did)
    result = run(
        pack_encrypted(
            ref_config(ALICE, new_alice),
            ref_msg,
            to=BOB.did,
            frm=new_alice.did,
            pack_config=PackEncryptedConfig(forward=False),
            pack_params=PackEncryptedParameters(from_prior_issuer_kid=ALICE.sign_kids["Ed25519"]),
        )
    )
    our_view = ours_bob.unpack_blocking(result.packed_msg)
    assert our_view.metadata.from_prior_issuer_kid == ALICE.sign_kids["Ed25519"]
    assert our_view.metadata.from_prior is not None and our_view.metadata.from_prior.sub == new_alice.did


def test_reference_forward_wrapping_is_opened_by_our_mediator() -> None:
    mediator = make_party("mediator", ka=["X25519"], sign=[])
    bob = make_party("bob-routed", ka=["X25519"], sign=[])
    # The DIDComm v2.0 service form (with the `recipientKeys` its DID document model insists
    # on) is the one the reference library reads; ours reads it and the v2.1 form.
    bob.doc["service"] = [
        {
            "id": f"{bob.did}#didcomm",
            "type": "DIDCommMessaging",
            "serviceEndpoint": "https://mediator.example",
            "accept": ["didcomm/v2"],
            "routingKeys": [mediator.ka_kids["X25519"]],
            "recipientKeys": [bob.ka_kids["X25519"]],
        }
    ]
    docs = [ALICE.doc, bob.doc, mediator.doc]
    config = ResolversConfig(
        secrets_resolver=SecretsResolverInMemory([jwk_to_secret({**s["privateKeyJwk"], "kid": s["kid"]}) for s in ALICE.secrets]),
        did_resolver=DIDResolverInMemory([DIDDoc.deserialize(d) for d in docs]),
    )
    msg = new_message(ALICE.did, bob.did)
    result = run(pack_encrypted(config, RefMessage.from_dict(json.loads(json.dumps(msg))), to=bob.did, frm=ALICE.did))
    assert result.service_metadata is not None
    ours_mediator = de.Wallet({"did_docs": docs, "secrets": mediator.secrets}).did_comm()
    opened = ours_mediator.unwrap_forward_blocking(result.packed_msg)
    assert opened.forward.next == bob.did
    ours_bob = de.Wallet({"did_docs": docs, "secrets": bob.secrets}).did_comm()
    assert plain(ours_bob.unpack_blocking(opened.forward.messages[0]).message) == msg

    # And the other way: our route, the reference library's mediator-side unpack.
    ours_alice = de.Wallet({"did_docs": docs, "secrets": ALICE.secrets}).did_comm()
    packed = ours_alice.pack_encrypted_blocking(msg, bob.did, from_=ALICE.did)
    routed = ours_alice.route_blocking(packed.packed, bob.did)
    assert routed.uri == "https://mediator.example"
    their_mediator = ResolversConfig(
        secrets_resolver=SecretsResolverInMemory([jwk_to_secret({**s["privateKeyJwk"], "kid": s["kid"]}) for s in mediator.secrets]),
        did_resolver=DIDResolverInMemory([DIDDoc.deserialize(d) for d in docs]),
    )
    forward = plain(run(unpack(their_mediator, routed.message)).message)
    assert forward["type"] == "https://didcomm.org/routing/2.0/forward"
    assert forward["body"]["next"] == bob.did
