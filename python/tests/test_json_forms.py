"""The package's pack and unpack go through the bindings' low-overhead JSON forms
(``*_json_blocking``); the generated record forms (``unpack_blocking`` and the others on the
native object) remain, for Kotlin and Swift. These tests pin the two to each other: for every
envelope form of the vectors and every pack mode and option, the same message, the same
metadata (field by field, value types included) and the same typed errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import didcomm_edge as de
from didcomm_edge._native import didcomm_edge as ffi
from conftest import make_party, new_message, read_vectors, wallet, wallet_of

VECTOR_FILES = [
    "didcomm-spec/appendix-c-messages.json",
    "sicpa-didcomm-rust/vectors_messages.json",
    "sicpa-didcomm-rust/vectors_plaintext.json",
]

# The defaults table every language checks (testdata/defaults.json).
UNPACK_DEFAULTS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "testdata" / "defaults.json").read_text()
)["unpack"]


def same_record(json_path: Any, record_path: Any, where: str) -> None:
    """Equal as records and field by field, with the same Python types (``__eq__`` of the
    generated records would take ``1 == True``)."""
    assert type(json_path) is type(record_path), where
    assert json_path == record_path, where
    for name, value in vars(record_path).items():
        other = getattr(json_path, name)
        if isinstance(value, (ffi.FromPrior, ffi.UnpackMetadata)):
            same_record(other, value, f"{where}.{name}")
            continue
        assert type(other) is type(value), f"{where}.{name}: {type(other)} != {type(value)}"
        assert other == value, f"{where}.{name}"
        if isinstance(value, list):
            assert [type(v) for v in other] == [type(v) for v in value], f"{where}.{name}"
    assert vars(json_path).keys() == vars(record_path).keys(), where


def same_outcome(json_call: Callable[[], Any], record_call: Callable[[], Any], where: str) -> Optional[Any]:
    """Both succeed (returning both results) or both fail with the same class and reason."""
    try:
        record = record_call()
    except de.DidCommError as expected:
        with pytest.raises(type(expected)) as caught:
            json_call()
        assert str(caught.value) == str(expected), where
        assert caught.value.kind == expected.kind, where
        return None
    return json_call(), record


def record_unpack(dc: de.DidComm, packed: str, **options: Any) -> de.Unpacked:
    """The generated record form, as the package called it before."""
    result = dc._native.unpack_blocking(packed, ffi.UnpackOptions(**{**UNPACK_DEFAULTS, **options}))
    return de.Unpacked(json.loads(result.message), result.metadata)


def check_unpack(dc: de.DidComm, packed: str, where: str, **options: Any) -> None:
    both = same_outcome(
        lambda: dc.unpack_blocking(packed, **options), lambda: record_unpack(dc, packed, **options), where
    )
    if both is not None:
        json_path, record_path = both
        assert json_path.message == record_path.message, where
        same_record(json_path.metadata, record_path.metadata, where)


@pytest.mark.parametrize("relative", VECTOR_FILES)
def test_every_vector_unpacks_the_same_both_ways(relative: str) -> None:
    seen = {"positive": 0, "negative": 0}
    for v in read_vectors(relative)["vectors"]:
        dc = wallet(v["unpack_with"]).did_comm()
        options = {"require_body": True} if v["id"] == "rs-INVALID_PLAINTEXT_MSG_NO_BODY" else {}
        check_unpack(dc, v["packed"], v["id"], **options)
        seen["negative" if v.get("expected_error") else "positive"] += 1
        # The same vector with each option changed alone: every option name reaches the engine.
        for name, default in UNPACK_DEFAULTS.items():
            changed = 1 if name == "now" else not default
            check_unpack(dc, v["packed"], f"{v['id']} {name}={changed}", **{**options, name: changed})
    assert seen["positive"] > 0


def test_the_spec_vectors_cover_every_envelope_form() -> None:
    # What the test above compares: plaintext, signed, anoncrypt, authcrypt, signed then
    # authcrypted, and that again with the sender protected (the pack tests below add a
    # protected sender without a signature).
    forms = set()
    for v in read_vectors("didcomm-spec/appendix-c-messages.json")["vectors"]:
        m = wallet(v["unpack_with"]).did_comm().unpack_blocking(v["packed"]).metadata
        forms.add((m.encrypted, m.authenticated, m.non_repudiation, m.anonymous_sender))
    assert {
        (False, False, False, False),
        (False, True, True, False),
        (True, False, False, True),
        (True, True, False, False),
        (True, True, True, False),
        (True, True, True, True),
    } <= forms


ALICE = make_party("alice", ka=["X25519", "P-256", "secp256k1"], sign=["Ed25519", "P-256", "secp256k1"])
BOB = make_party("bob", ka=["X25519", "P-256", "secp256k1"], sign=["Ed25519"])
A = wallet_of(ALICE, BOB).did_comm()
B = wallet_of(BOB, ALICE).did_comm()

PACK_CASES: list[dict[str, Any]] = [
    {},
    {"from_": ALICE.did},
    {"from_": ALICE.ka_kids["P-256"]},
    {"from_": ALICE.did, "protect_sender": True},
    {"from_": ALICE.did, "sign_by": ALICE.sign_kids["P-256"]},
    {"sign_by": ALICE.did},
    {"enc_alg_anon": de.ContentEncryption.A256_GCM},
    {"enc_alg_anon": de.ContentEncryption.XC20P, "from_": ALICE.did, "protect_sender": True},
    {"to_kids": [BOB.ka_kids["secp256k1"]]},
    {"from_": ALICE.did, "to_kids": [BOB.ka_kids["P-256"]]},
    {"from_": ALICE.did, "to": BOB.ka_kids["X25519"]},
]


@pytest.mark.parametrize("case", PACK_CASES, ids=lambda c: ",".join(c) or "anoncrypt")
def test_every_pack_mode_packs_and_unpacks_the_same_both_ways(case: dict[str, Any]) -> None:
    options = dict(case)
    to = options.pop("to", BOB.did)
    message = new_message(ALICE.did, BOB.did)
    json_path = A.pack_encrypted_blocking(message, to, **options)
    record_options = ffi.PackEncryptedOptions(
        _from=options.get("from_"),
        sign_by=options.get("sign_by"),
        protect_sender=options.get("protect_sender", False),
        enc_alg_anon=options.get("enc_alg_anon"),
        to_kids=options.get("to_kids", []),
    )
    record_path = A._native.pack_encrypted_blocking(json.dumps(message), to, record_options)
    assert type(json_path) is type(record_path)
    assert type(json_path.packed) is str
    same_record(json_path.metadata, record_path.metadata, str(case))
    for packed in (json_path.packed, record_path.packed):
        check_unpack(B, packed, str(case))
        assert B.unpack_blocking(packed).message == message


@pytest.mark.parametrize("kid", ["Ed25519", "P-256", "secp256k1", None])
def test_signing_packs_and_unpacks_the_same_both_ways(kid: Optional[str]) -> None:
    signer = ALICE.did if kid is None else ALICE.sign_kids[kid]
    message = new_message(ALICE.did, BOB.did)
    json_path = A.pack_signed_blocking(message, signer)
    record_path = A._native.pack_signed_blocking(json.dumps(message), signer)
    assert type(json_path) is type(record_path)
    # Signatures over the same bytes: Ed25519 is deterministic, ECDSA here is not.
    if kid in ("Ed25519", None):
        assert json_path.packed == record_path.packed
    same_record(json_path.metadata, record_path.metadata, signer)
    for packed in (json_path.packed, record_path.packed):
        check_unpack(B, packed, signer)


def test_from_prior_claims_come_back_the_same_both_ways() -> None:
    new_party = make_party("alice-new", ka=["X25519"], sign=["Ed25519"])
    docs = [ALICE.doc, new_party.doc, BOB.doc]
    rotating = de.Wallet({"did_docs": docs, "secrets": ALICE.secrets + new_party.secrets}).did_comm()
    claims = de.FromPrior(iss=ALICE.did, sub=new_party.did, aud="x", exp=4000000000, nbf=1, iat=2, jti="j")
    jwt = rotating.pack_from_prior_blocking(claims)
    message = new_message(new_party.did, BOB.did, from_prior=jwt.jwt)
    receiver = de.Wallet({"did_docs": docs, "secrets": BOB.secrets}).did_comm()
    for packed in (
        rotating.pack_encrypted_blocking(message, BOB.did, from_=new_party.did).packed,
        rotating.pack_signed_blocking(message, new_party.did).packed,
        rotating.pack_plaintext(message),
    ):
        check_unpack(receiver, packed, "from_prior")
        metadata = receiver.unpack_blocking(packed).metadata
        assert metadata.from_prior == claims
        assert isinstance(metadata.from_prior, ffi.FromPrior)


def test_unpack_options_are_sent_as_the_record_would_carry_them() -> None:
    from didcomm_edge._engine import _unpack_options_json

    assert _unpack_options_json(**UNPACK_DEFAULTS) == b""
    for name, default in UNPACK_DEFAULTS.items():
        options = {**UNPACK_DEFAULTS, name: 1700000000 if name == "now" else not default}
        record = ffi.UnpackOptions(**options)
        assert json.loads(_unpack_options_json(**options)) == vars(record), name


def test_pack_options_are_sent_as_the_record_would_carry_them() -> None:
    from didcomm_edge._engine import _pack_options_json

    names = {
        de.ContentEncryption.A256_CBC_HS512: "A256CBC-HS512",
        de.ContentEncryption.A256_GCM: "A256GCM",
        de.ContentEncryption.XC20P: "XC20P",
    }
    assert _pack_options_json(None, None, False, None, None) == b""
    for case in PACK_CASES + [{"enc_alg_anon": de.ContentEncryption.A256_CBC_HS512}]:
        options = {k: v for k, v in case.items() if k != "to"}
        sent = _pack_options_json(
            options.get("from_"),
            options.get("sign_by"),
            options.get("protect_sender", False),
            options.get("enc_alg_anon"),
            options.get("to_kids"),
        )
        if not options:
            assert sent == b""
            continue
        expected = {
            "from": options.get("from_"),
            "sign_by": options.get("sign_by"),
            "protect_sender": options.get("protect_sender", False),
            "enc_alg_anon": names.get(options.get("enc_alg_anon")),  # type: ignore[arg-type]
            "to_kids": options.get("to_kids", []),
        }
        # Fields left out are the record's defaults on the native side.
        assert {**expected, **json.loads(sent)} == expected, case


def test_the_forward_and_expiry_options_act_the_same_both_ways() -> None:
    message = new_message(ALICE.did, BOB.did, expires_time=2000)
    inner = A.pack_encrypted_blocking(message, BOB.did, from_=ALICE.did).packed
    forward = A.wrap_in_forward_blocking(inner, BOB.did, [BOB.did])
    unwrapped = B.unpack_blocking(forward, now=1000)
    assert unwrapped.message == message and unwrapped.metadata.re_wrapped_in_forward
    kept = B.unpack_blocking(forward, now=1000, unwrap_re_wrapping_forward=False)
    assert kept.message["type"] == "https://didcomm.org/routing/2.0/forward"
    with pytest.raises(de.DidCommError.Expired):
        B.unpack_blocking(inner, now=3000, reject_expired=True)
    assert B.unpack_blocking(inner, now=3000).metadata.expired
    assert not B.unpack_blocking(inner, now=1000).metadata.expired
    for options in (
        {"now": 1000},
        {"now": 1000, "unwrap_re_wrapping_forward": False},
        {"now": 3000},
        {"now": 3000, "reject_expired": True},
        {"expect_decrypt_by_all_keys": True},
        {"check_recipient_in_to": False},
    ):
        check_unpack(B, forward, f"forward {options}", **options)
        check_unpack(B, inner, f"inner {options}", **options)


def test_failures_are_the_same_typed_errors_both_ways() -> None:
    packed = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did), BOB.did, from_=ALICE.did).packed
    tampered = packed.replace('"ciphertext":"', '"ciphertext":"AAAA', 1)
    expired = A.pack_encrypted_blocking(new_message(ALICE.did, BOB.did, expires_time=1000), BOB.did).packed
    for where, dc, text, options in (
        ("not json", B, "{", {}),
        ("not an envelope", B, "[1]", {}),
        ("not for us", A, packed, {}),
        ("tampered", B, tampered, {}),
        ("expired", B, expired, {"reject_expired": True}),
        ("non-ASCII", B, '{"ciphertext": "é€"}', {}),
    ):
        both = same_outcome(
            lambda: dc.unpack_blocking(text, **options), lambda: record_unpack(dc, text, **options), where
        )
        assert both is None, f"{where} unpacked"
    with pytest.raises(de.DidCommError.DidNotResolved):
        A.pack_encrypted_blocking(new_message(ALICE.did, "did:example:nobody"), "did:example:nobody")
    with pytest.raises(de.DidCommError.Malformed):
        A.pack_signed_blocking("{", ALICE.did)
    with pytest.raises(de.DidCommError.SecretNotFound):
        B.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did)


def test_argument_type_errors_are_those_of_the_generated_module() -> None:
    message = new_message(ALICE.did, BOB.did)
    with pytest.raises(TypeError):
        A.pack_encrypted_blocking(message, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        A.pack_encrypted_blocking(message, BOB.did, from_=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        A.pack_encrypted_blocking(message, BOB.did, to_kids=[5])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        A.pack_encrypted_blocking(message, BOB.did, enc_alg_anon="A256GCM")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        A.pack_signed_blocking(message, None)  # type: ignore[arg-type]
    packed = A.pack_signed_blocking(message, ALICE.did).packed
    with pytest.raises(TypeError):
        B.unpack_blocking(packed, now="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        B.unpack_blocking(packed, now=-1)
    # Truthy flags count as true, as the generated module reads them.
    assert B.unpack_blocking(packed, require_body=1).message == message  # type: ignore[arg-type]


def test_bad_options_text_is_an_illegal_argument_from_the_native_side() -> None:
    packed = A.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did).packed.encode()
    for options in (b'{"reject_expred": true}', b"[false]", b'{"now": -1}'):
        with pytest.raises(de.DidCommError.IllegalArgument):
            B._native.unpack_json_blocking(packed, options)
    with pytest.raises(de.DidCommError.IllegalArgument):
        A._native.pack_encrypted_json_blocking(b"{}", BOB.did.encode(), b'{"enc_alg_anon": "A128GCM"}')
    with pytest.raises(de.DidCommError.Malformed):
        B._native.unpack_json_blocking(b"\xff", b"")


def test_the_direct_calls_are_in_use_and_agree_with_the_generated_methods() -> None:
    from didcomm_edge import _direct

    # False would mean the generated declarations changed (a new UniFFI release): the package
    # still works through the generated methods, only slower; see _direct.py.
    assert _direct.DIRECT
    message = json.dumps(new_message(ALICE.did, BOB.did)).encode()
    options = json.dumps({"from": ALICE.did, "sign_by": ALICE.did}).encode()
    for direct, generated, native, arguments in (
        (_direct.pack_signed_json, "pack_signed_json_blocking", A._native, (message, ALICE.did.encode())),
        (_direct.pack_encrypted_json, "pack_encrypted_json_blocking", A._native, (message, BOB.did.encode(), options)),
    ):
        result, expected = json.loads(direct(native, *arguments)), json.loads(getattr(native, generated)(*arguments))
        assert result["metadata"] == expected["metadata"]
        for packed in (result["packed"], expected["packed"]):
            unpacked = _direct.unpack_json(B._native, packed.encode(), b"")
            assert json.loads(unpacked) == json.loads(B._native.unpack_json_blocking(packed.encode(), b""))
    # Errors: the same classes and reasons, the engine's and the options reader's, and text
    # that is not UTF-8.
    for native, arguments in (
        (B._native, (b"{", b"")),
        (B._native, (b"{}", b'{"now": "x"}')),
        (B._native, (b"\xfe", b"")),
        (A._native, (message, b"did:example:nobody", b"")),
    ):
        call = _direct.unpack_json if len(arguments) == 2 else _direct.pack_encrypted_json
        name = "unpack_json_blocking" if len(arguments) == 2 else "pack_encrypted_json_blocking"
        with pytest.raises(de.DidCommError) as expected_error:
            getattr(native, name)(*arguments)
        with pytest.raises(type(expected_error.value)) as caught:
            call(native, *arguments)
        assert str(caught.value) == str(expected_error.value)
    # Empty arguments cross as empty slices.
    with pytest.raises(de.DidCommError.Malformed):
        _direct.unpack_json(B._native, b"", b"")


def test_arguments_longer_than_the_ffi_length_field_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from didcomm_edge import _direct

    # uniffi passes byte lengths as i32; the real limit (2 GiB) is lowered to test it cheaply.
    monkeypatch.setattr(_direct, "_MAX_LEN", 10)
    with pytest.raises(de.DidCommError.TooLarge):
        _direct.unpack_json(B._native, b"x" * 11, b"")
    with pytest.raises(de.DidCommError.Malformed):
        _direct.unpack_json(B._native, b"x" * 10, b"")


def test_the_direct_calls_keep_the_engine_alive_and_release_nothing_twice() -> None:
    from didcomm_edge import _direct

    # Each call hands the native method a cloned handle; many calls on an engine created and
    # dropped inside the loop would crash on a handle consumed twice or leaked as freed.
    packed = A.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did).packed.encode()
    for _ in range(200):
        engine = wallet_of(BOB, ALICE).did_comm()
        assert json.loads(_direct.unpack_json(engine._native, packed, b""))["metadata"]["non_repudiation"]
        del engine
    for _ in range(2000):
        _direct.unpack_json(B._native, packed, b"")
