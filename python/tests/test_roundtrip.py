"""Every pack mode and option through the Python package, both API styles (async and
blocking), with parties whose keys come from the `cryptography` package."""

from __future__ import annotations

import asyncio
import json

import pytest

import didcomm_edge as de
from conftest import KA_CURVES, SIGN_ALG, SIGN_CURVES, make_party, new_message, wallet_of

ALICE = make_party("alice")
BOB = make_party("bob")
A = wallet_of(ALICE, BOB).did_comm()
B = wallet_of(BOB, ALICE).did_comm()
ENCRYPTIONS = [
    (de.ContentEncryption.A256_CBC_HS512, "ECDH-ES+A256KW/A256CBC-HS512"),
    (de.ContentEncryption.A256_GCM, "ECDH-ES+A256KW/A256GCM"),
    (de.ContentEncryption.XC20P, "ECDH-ES+A256KW/XC20P"),
]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_plaintext() -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = A.pack_plaintext(msg)
    result = B.unpack_blocking(packed)
    assert result.message == msg
    assert not result.metadata.encrypted and not result.metadata.authenticated


@pytest.mark.parametrize("crv", SIGN_CURVES)
def test_signed(crv: str) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = run(A.pack_signed(msg, ALICE.sign_kids[crv]))
    assert packed.metadata.sign_by_kid == ALICE.sign_kids[crv]
    assert packed.metadata.sign_alg == SIGN_ALG[crv]
    result = B.unpack_blocking(packed.packed)
    assert result.message == msg
    assert result.metadata.non_repudiation and result.metadata.authenticated
    assert result.metadata.sign_from == ALICE.sign_kids[crv]
    assert result.metadata.sign_alg == SIGN_ALG[crv]
    assert json.loads(result.metadata.signed_message or "{}") == json.loads(packed.packed)


def test_signed_by_a_did_picks_its_first_authentication_key() -> None:
    packed = A.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did)
    assert packed.metadata.sign_by_kid == ALICE.sign_kids["Ed25519"]


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("enc,name", ENCRYPTIONS)
def test_anoncrypt(crv: str, enc: de.ContentEncryption, name: str) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = A.pack_encrypted_blocking(msg, BOB.ka_kids[crv], enc_alg_anon=enc)
    assert packed.metadata.from_kid is None
    assert packed.metadata.to_kids == [BOB.ka_kids[crv]]
    result = run(B.unpack(packed.packed))
    assert result.message == msg
    assert result.metadata.encrypted and result.metadata.anonymous_sender
    assert not result.metadata.authenticated
    assert result.metadata.enc_alg_anon == name


@pytest.mark.parametrize("crv", KA_CURVES)
@pytest.mark.parametrize("protect_sender", [False, True])
def test_authcrypt(crv: str, protect_sender: bool) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = run(
        A.pack_encrypted(msg, BOB.did, from_=ALICE.ka_kids[crv], protect_sender=protect_sender)
    )
    assert packed.metadata.from_kid == ALICE.ka_kids[crv]
    assert packed.metadata.to_kids == [BOB.ka_kids[crv]]
    result = B.unpack_blocking(packed.packed)
    assert result.message == msg
    assert result.metadata.authenticated and result.metadata.encrypted
    assert result.metadata.anonymous_sender == protect_sender
    assert result.metadata.encrypted_from_kid == ALICE.ka_kids[crv]
    assert result.metadata.enc_alg_auth == "ECDH-1PU+A256KW/A256CBC-HS512"


@pytest.mark.parametrize("crv", SIGN_CURVES)
def test_signed_then_authcrypted(crv: str) -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = A.pack_encrypted_blocking(msg, BOB.did, from_=ALICE.did, sign_by=ALICE.sign_kids[crv])
    assert packed.metadata.sign_by_kid == ALICE.sign_kids[crv]
    result = B.unpack_blocking(packed.packed)
    assert result.message == msg
    assert result.metadata.non_repudiation and result.metadata.authenticated
    assert result.metadata.sign_from == ALICE.sign_kids[crv]


def test_to_kids_limits_the_recipients() -> None:
    packed = A.pack_encrypted_blocking(
        new_message(ALICE.did, BOB.did), BOB.did, to_kids=[BOB.ka_kids["P-384"]]
    )
    assert packed.metadata.to_kids == [BOB.ka_kids["P-384"]]
    assert B.unpack_blocking(packed.packed).metadata.encrypted_to_kids == [BOB.ka_kids["P-384"]]


def test_a_did_recipient_gets_every_key_of_one_curve() -> None:
    packed = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did)
    assert packed.metadata.to_kids == [BOB.ka_kids["X25519"]]


def test_many_operations_in_flight_at_once() -> None:
    async def main() -> None:
        msgs = [new_message(ALICE.did, BOB.did, body={"i": i}) for i in range(40)]
        packed = await asyncio.gather(*(A.pack_encrypted(m, BOB.did, from_=ALICE.did) for m in msgs))
        results = await asyncio.gather(*(B.unpack(p.packed) for p in packed))
        assert [r.message for r in results] == msgs

    run(main())


def test_from_prior_rotation() -> None:
    new_party = make_party("alice-new", ka=["X25519"], sign=["Ed25519"])
    rotating = de.Wallet({"did_docs": [ALICE.doc, new_party.doc, BOB.doc], "secrets": ALICE.secrets + new_party.secrets}).did_comm()
    jwt = rotating.pack_from_prior_blocking(de.FromPrior(iss=ALICE.did, sub=new_party.did))
    assert jwt.issuer_kid == ALICE.sign_kids["Ed25519"]
    msg = new_message(new_party.did, BOB.did, from_prior=jwt.jwt)
    packed = run(rotating.pack_encrypted(msg, BOB.did, from_=new_party.did))
    receiver = de.Wallet({"did_docs": [ALICE.doc, new_party.doc, BOB.doc], "secrets": BOB.secrets}).did_comm()
    result = receiver.unpack_blocking(packed.packed)
    assert result.metadata.from_prior_issuer_kid == ALICE.sign_kids["Ed25519"]
    assert result.metadata.from_prior is not None
    assert (result.metadata.from_prior.iss, result.metadata.from_prior.sub) == (ALICE.did, new_party.did)


def test_ending_a_relationship() -> None:
    # Alice ends her relationship with Bob: from_prior without sub, no from, anoncrypt.
    ending = run(A.end_relationship(ALICE.did))
    assert ending.issuer_kid == ALICE.sign_kids["Ed25519"]
    msg = new_message(ALICE.did, BOB.did, from_prior=ending.jwt)
    del msg["from"]
    packed = A.pack_encrypted_blocking(msg, BOB.did)
    result = B.unpack_blocking(packed.packed)
    assert result.metadata.anonymous_sender and not result.metadata.authenticated
    assert result.metadata.from_prior_issuer_kid == ALICE.sign_kids["Ed25519"]
    assert result.metadata.from_prior is not None
    assert (result.metadata.from_prior.iss, result.metadata.from_prior.sub) == (ALICE.did, None)
    assert de.received_ending(result.message, result.metadata) == ALICE.did
    # The same claims through pack_from_prior (sub left out), received as plaintext.
    jwt = A.pack_from_prior_blocking(de.FromPrior(iss=ALICE.did, iat=1700000000))
    plain = B.unpack_blocking(A.pack_plaintext({**msg, "from_prior": jwt.jwt}))
    assert de.received_ending(plain.message, plain.metadata) == ALICE.did
    assert plain.metadata.from_prior is not None and plain.metadata.from_prior.iat == 1700000000
    # A regular message ends nothing.
    regular = B.unpack_blocking(A.pack_plaintext(new_message(ALICE.did, BOB.did)))
    assert de.received_ending(regular.message, regular.metadata) is None
    # An ending cannot keep its `from` (so no authcrypt): refused when sending and receiving.
    with_from = {**msg, "from": ALICE.did}
    with pytest.raises(de.DidCommError.IllegalArgument):
        A.pack_encrypted_blocking(with_from, BOB.did, from_=ALICE.did)
    with pytest.raises(de.DidCommError.SenderMismatch):
        B.unpack_blocking(json.dumps(with_from))


def test_generated_identities_talk_to_each_other() -> None:
    for method in (de.IdentityMethod.PEER2, de.IdentityMethod.PEER4, de.IdentityMethod.KEY):
        alice = de.generate_identity(method)
        bob = de.generate_identity(method)
        assert alice.did.startswith({"PEER2": "did:peer:2", "PEER4": "did:peer:4", "KEY": "did:key:"}[method.name])
        wa, wb = de.Wallet(), de.Wallet()
        wa.add_identity(alice)
        wb.add_identity(bob)
        msg = new_message(alice.did, bob.did)
        packed = wa.did_comm().pack_encrypted_blocking(msg, bob.did, from_=alice.did, sign_by=alice.did)
        result = wb.did_comm().unpack_blocking(packed.packed)
        assert result.message == msg
        assert result.metadata.authenticated and result.metadata.non_repudiation
    service = de.DidCommService(uri="https://example.com/didcomm")
    peer = de.generate_identity(de.IdentityMethod.PEER2, service)
    assert peer.document["service"][0]["serviceEndpoint"]["uri"] == "https://example.com/didcomm"
    for key_type in (de.KeyType.P256, de.KeyType.SECP256K1, de.KeyType.X25519):
        assert de.generate_did_key(key_type).did.startswith("did:key:z")


def test_wallet_round_trips_through_its_file_form(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "wallet.json"
    path.write_text(wallet_of(BOB, ALICE).to_json())
    reloaded = de.Wallet.from_file(path)
    packed = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did, from_=ALICE.did)
    assert reloaded.did_comm().unpack_blocking(packed.packed).metadata.authenticated
    assert sorted(reloaded.resolver.dids()) == [ALICE.did, BOB.did]
    assert len(reloaded.secrets.kids()) == len(BOB.secrets)


def test_resolve_returns_the_document() -> None:
    assert A.resolve_blocking(BOB.did)["id"] == BOB.did
    assert run(A.resolve(BOB.did))["id"] == BOB.did
    with pytest.raises(de.DidCommError.DidNotResolved):
        A.resolve_blocking("did:example:nobody")


def test_errors_have_their_kinds() -> None:
    msg = new_message(ALICE.did, BOB.did)
    packed = A.pack_encrypted_blocking(msg, BOB.did, from_=ALICE.did)
    tampered = json.loads(packed.packed)
    tampered["ciphertext"] = tampered["ciphertext"][:-4] + ("AAAA" if not tampered["ciphertext"].endswith("AAAA") else "BBBB")
    with pytest.raises(de.DidCommError.DecryptionFailed) as caught:
        B.unpack_blocking(tampered)
    assert caught.value.kind == de.ErrorKind.DECRYPTION_FAILED == "decryption_failed"
    assert isinstance(caught.value, de.DidCommError)
    cases = [
        (lambda: B.unpack_blocking("not json"), de.DidCommError.Malformed),
        (lambda: A.pack_encrypted_blocking(msg, "did:example:nobody"), de.DidCommError.IllegalArgument),
        (lambda: A.pack_encrypted_blocking(new_message(ALICE.did, "did:example:carol"), "did:example:carol"), de.DidCommError.DidNotResolved),
        (lambda: B.pack_signed_blocking(msg, ALICE.did), de.DidCommError.SecretNotFound),
        (lambda: A.pack_encrypted_blocking(msg, BOB.did, from_=BOB.did), de.DidCommError.IllegalArgument),
        (lambda: A.pack_plaintext({"type": "x"}), de.DidCommError.Malformed),
    ]
    for call, kind in cases:
        with pytest.raises(kind):
            call()


def test_size_limit_and_expiry() -> None:
    small = wallet_of(BOB, ALICE).did_comm(de.Config(max_message_size=200))
    packed = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did)
    with pytest.raises(de.DidCommError.TooLarge):
        small.unpack_blocking(packed.packed)
    expired = new_message(ALICE.did, BOB.did, expires_time=1000)
    packed = A.pack_encrypted_blocking(expired, BOB.did)
    assert B.unpack_blocking(packed.packed).metadata.expired
    with pytest.raises(de.DidCommError.Expired):
        B.unpack_blocking(packed.packed, reject_expired=True)
    assert not B.unpack_blocking(packed.packed, now=999).metadata.expired
    assert small.config.max_message_size == 200
    assert de.Config().max_message_size == 4 * 1024 * 1024


def test_the_packer_refuses_a_recipient_the_message_does_not_list() -> None:
    carol = make_party("carol", ka=["X25519"], sign=[])
    sender = wallet_of(ALICE, BOB, carol).did_comm()
    with pytest.raises(de.DidCommError.IllegalArgument):
        sender.pack_encrypted_blocking(new_message(ALICE.did, carol.did), BOB.did)
