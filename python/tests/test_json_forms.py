"""The package's pack, unpack and route go through its CPython extension (``_fastpath``,
bindings/src/python.rs); the generated record forms (``unpack_blocking`` and the others on the
native object) remain, for Kotlin and Swift. These tests pin the two to each other: for every
envelope form of the vectors and every pack mode and option, the same message, the same
metadata (field by field, value types included) and the same typed errors."""

from __future__ import annotations

import inspect
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


def keyword_names(method: Callable[..., Any]) -> list[str]:
    return [p.name for p in inspect.signature(method).parameters.values() if p.kind is p.KEYWORD_ONLY]


def native_names(method: Any) -> list[str]:
    """The parameter names of an extension method, from the signature pyo3 gives it."""
    return [p.name for p in inspect.signature(method).parameters.values() if p.name != "self"]


def test_unpack_options_are_sent_as_the_record_would_carry_them() -> None:
    # The package passes the options by position: the extension's parameters must be the
    # keyword arguments in the same order, with the record's names.
    from didcomm_edge._fastpath import Engine

    names = keyword_names(de.DidComm.unpack_blocking)
    assert sorted(names) == sorted(UNPACK_DEFAULTS)
    assert names == list(vars(ffi.UnpackOptions()))
    assert native_names(Engine.unpack) == ["packed", *names]
    assert native_names(Engine.unpack_start) == ["event_loop", "packed", *names]
    assert keyword_names(de.DidComm.unpack) == names


def test_pack_options_are_sent_as_the_record_would_carry_them() -> None:
    from didcomm_edge._engine import _enc_name
    from didcomm_edge._fastpath import Engine

    names = {
        de.ContentEncryption.A256_CBC_HS512: "A256CBC-HS512",
        de.ContentEncryption.A256_GCM: "A256GCM",
        de.ContentEncryption.XC20P: "XC20P",
    }
    assert _enc_name(None) is None
    for member in de.ContentEncryption:
        assert _enc_name(member) == names[member]
    with pytest.raises(ValueError):
        _enc_name("A256GCM")  # type: ignore[arg-type]
    keywords = keyword_names(de.DidComm.pack_encrypted_blocking)
    # The record's fields, `from` spelled `from_` as in the generated module.
    assert keywords == ["from_", *list(vars(ffi.PackEncryptedOptions()))[1:]]
    assert native_names(Engine.pack_encrypted) == ["message", "to", *keywords]
    assert native_names(Engine.pack_encrypted_start) == ["event_loop", "message", "to", *keywords]
    assert keyword_names(de.DidComm.pack_encrypted) == keywords
    route = keyword_names(de.DidComm.route_blocking)
    assert route == list(vars(ffi.RouteOptions()))
    assert native_names(Engine.route) == ["packed", "to", *route]
    assert native_names(Engine.route_start) == ["event_loop", "packed", "to", *route]


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


def test_the_extension_is_in_use_and_agrees_with_the_generated_methods() -> None:
    from didcomm_edge import _fastpath

    assert isinstance(A._fast, _fastpath.Engine) and isinstance(B._fast, _fastpath.Engine)
    message = new_message(ALICE.did, BOB.did)
    text = json.dumps(message)
    for ours, generated in (
        (A._fast.pack_signed(message, ALICE.did), A._native.pack_signed_blocking(text, ALICE.did)),
        (
            A._fast.pack_encrypted(message, BOB.did, ALICE.did, ALICE.did, False, None, None),
            A._native.pack_encrypted_blocking(
                text, BOB.did, ffi.PackEncryptedOptions(_from=ALICE.did, sign_by=ALICE.did)
            ),
        ),
    ):
        assert type(ours) is type(generated)
        same_record(ours.metadata, generated.metadata, "pack")
        for packed in (ours.packed, generated.packed):
            check_unpack(B, packed, "pack")
    # A dict and its JSON text are the same message.
    signed = A._fast.pack_signed(text, ALICE.did).packed
    assert B.unpack_blocking(signed).message == message
    # Errors: the same classes and reasons as the generated methods.
    for dc, text_in in ((B, "{"), (B, "[1]"), (B, "")):
        with pytest.raises(de.DidCommError) as expected_error:
            dc._native.unpack_blocking(text_in, None)
        with pytest.raises(type(expected_error.value)) as caught:
            dc._fast.unpack(text_in, False, True, False, True, False, None, True)
        assert str(caught.value) == str(expected_error.value)
    nobody = new_message(ALICE.did, "did:example:nobody")
    with pytest.raises(de.DidCommError.DidNotResolved) as caught:
        A._fast.pack_encrypted(nobody, "did:example:nobody", None, None, False, None, None)
    with pytest.raises(de.DidCommError.DidNotResolved) as expected:
        A._native.pack_encrypted_blocking(json.dumps(nobody), "did:example:nobody", None)
    assert str(caught.value) == str(expected.value)


def test_message_dicts_json_does_not_write_plainly_go_through_json_dumps() -> None:
    # Subclasses, tuples and non-string keys are written by json.dumps as before; what it
    # refuses is refused with its own error.
    class Body(dict):  # type: ignore[type-arg]
        pass

    message = new_message(ALICE.did, BOB.did)
    for variant, expected_body in (
        ({**message, "body": Body(n=1)}, {"n": 1}),
        ({**message, "body": {"list": (1, 2)}}, {"list": [1, 2]}),
        ({**message, "body": {1: "one"}}, {"1": "one"}),
        ({**message, "body": {"big": 2**70}}, {"big": float(2**70)}),
    ):
        packed = A.pack_signed_blocking(variant, ALICE.did).packed
        assert B.unpack_blocking(packed).message["body"] == expected_body
    with pytest.raises(TypeError):
        A.pack_signed_blocking({**message, "body": {"x": object()}}, ALICE.did)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(ValueError):
        A.pack_signed_blocking({**message, "body": circular}, ALICE.did)
    deep: Any = {}
    for _ in range(200):
        deep = {"d": deep}
    with pytest.raises(de.DidCommError.Malformed):
        A.pack_signed_blocking({**message, "body": deep}, ALICE.did)
    with pytest.raises(de.DidCommError.IllegalArgument):
        A.pack_signed_blocking(["not", "a", "message"], ALICE.did)  # type: ignore[arg-type]


def test_arguments_longer_than_the_size_limit_are_refused() -> None:
    # (Formerly the FFI's i32 length field; the extension takes any str, the engine's limit
    # stays.)
    small = de.Wallet(wallet_of(BOB, ALICE).to_json()).did_comm(de.Config(max_message_size=10))
    with pytest.raises(de.DidCommError.TooLarge):
        small.unpack_blocking("x" * 11)
    with pytest.raises(de.DidCommError.Malformed):
        small.unpack_blocking("x" * 10)


def test_the_extension_keeps_the_engine_alive_and_hands_it_over_once() -> None:
    import gc

    from didcomm_edge import _fastpath

    packed = A.pack_signed_blocking(new_message(ALICE.did, BOB.did), ALICE.did).packed
    for _ in range(200):
        engine = wallet_of(BOB, ALICE).did_comm()
        fast = engine._fast
        del engine
        gc.collect()
        assert fast.unpack(packed, False, True, False, True, False, None, True).metadata.non_repudiation
    for _ in range(2000):
        B.unpack_blocking(packed)
    number = B._native.python_handoff()
    _fastpath.Engine(number)
    with pytest.raises(de.DidCommError.IllegalArgument):
        _fastpath.Engine(number)
