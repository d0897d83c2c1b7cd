"""Every message vector of testdata/vectors/didcomm-spec/ (and the reference library's corpus)
through the Python package: positives unpack to the expected message and metadata, negatives
fail with a typed error (never InvalidState, never a crash)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import didcomm_edge as de
from conftest import normalized_metadata, read_vectors, sorted_expected, wallet, wallet_file


def _options(vector: dict[str, Any]) -> dict[str, Any]:
    # The reference corpus predates DIDComm v2.1, where `body` became optional.
    return {"require_body": True} if vector["id"] == "rs-INVALID_PLAINTEXT_MSG_NO_BODY" else {}


# The corpus's from_prior JWT has exp 1234 and nbf 12345 (valid at no time); the reference
# library does not check JWT times, we do by default (the same in every language).
REFUSED_AS_EXPIRED = {"rs-PLAINTEXT_FROM_PRIOR"}


def run_file(relative: str) -> tuple[int, int]:
    positives = negatives = 0
    for v in read_vectors(relative)["vectors"]:
        dc = wallet(v["unpack_with"]).did_comm()
        if v["id"] in REFUSED_AS_EXPIRED:
            with pytest.raises(de.DidCommError) as caught:
                dc.unpack_blocking(v["packed"], **_options(v))
            assert caught.value.kind == de.ErrorKind.EXPIRED, f"{v['id']}: {caught.value}"
            # Without the time check it is the message the reference library reads.
            lenient = dc.unpack_blocking(v["packed"], check_from_prior_times=False, **_options(v))
            assert lenient.message == v["expected"]["message"], v["id"]
            negatives += 1
            continue
        if v.get("expected_error"):
            with pytest.raises(de.DidCommError) as caught:
                dc.unpack_blocking(v["packed"], **_options(v))
            assert caught.value.kind != de.ErrorKind.INVALID_STATE, f"{v['id']}: {caught.value}"
            negatives += 1
            continue
        result = dc.unpack_blocking(v["packed"], **_options(v))
        assert result.message == v["expected"]["message"], v["id"]
        assert normalized_metadata(result.metadata) == sorted_expected(v["expected"]["metadata"]), v["id"]
        positives += 1
    return positives, negatives


def test_spec_appendix_c_all_ten_messages() -> None:
    assert run_file("didcomm-spec/appendix-c-messages.json") == (10, 0)


def test_reference_library_message_vectors() -> None:
    assert run_file("sicpa-didcomm-rust/vectors_messages.json") == (8, 1)


def test_reference_library_plaintext_vectors() -> None:
    assert run_file("sicpa-didcomm-rust/vectors_plaintext.json") == (8, 18)


def _appendix_wallet() -> de.Wallet:
    """Bob straight from the spec's appendices A (secrets) and B (documents), loaded the way a
    tolerant app would: the published `"kid "` member (trailing space) is trimmed."""
    secrets = read_vectors("didcomm-spec/appendix-a-secrets.json")["bob_secrets"]
    docs = read_vectors("didcomm-spec/appendix-b-diddocs.json")
    wallet = de.Wallet()
    for doc in (docs["alice"], docs["bob"]):
        wallet.add_document(doc)
    for jwk in secrets:
        jwk = {k.strip(): v for k, v in jwk.items()}
        kid = jwk.pop("kid")
        wallet.add_secret({"kid": kid, "type": "JsonWebKey2020", "privateKeyJwk": jwk})
    return wallet


def test_spec_vectors_with_appendix_a_and_b_loaded_directly() -> None:
    dc = _appendix_wallet().did_comm()
    vectors = read_vectors("didcomm-spec/appendix-c-messages.json")["vectors"]
    for v in vectors:
        result = dc.unpack_blocking(v["packed"])
        assert result.message == v["expected"]["message"], v["id"]
        assert normalized_metadata(result.metadata) == sorted_expected(v["expected"]["metadata"]), v["id"]
    assert len(vectors) == 10


def test_spec_vectors_through_the_async_api_concurrently() -> None:
    vectors = read_vectors("didcomm-spec/appendix-c-messages.json")["vectors"]
    dc = wallet("bob").did_comm()

    async def main() -> list[de.Unpacked]:
        return await asyncio.gather(*(dc.unpack(v["packed"]) for v in vectors))

    for v, result in zip(vectors, asyncio.run(main())):
        assert result.message == v["expected"]["message"], v["id"]
        assert normalized_metadata(result.metadata) == sorted_expected(v["expected"]["metadata"])


def test_spec_vectors_also_unpack_from_parsed_dicts() -> None:
    import json

    dc = wallet("bob").did_comm()
    for v in read_vectors("didcomm-spec/appendix-c-messages.json")["vectors"]:
        assert dc.unpack_blocking(json.loads(v["packed"])).message == v["expected"]["message"]


def test_alice_cannot_read_what_was_encrypted_to_bob() -> None:
    dc = wallet("alice").did_comm()
    for v in read_vectors("didcomm-spec/appendix-c-messages.json")["vectors"]:
        if v["expected"]["metadata"]["encrypted"]:
            with pytest.raises(de.DidCommError) as caught:
                dc.unpack_blocking(v["packed"])
            assert caught.value.kind in (de.ErrorKind.SECRET_NOT_FOUND, de.ErrorKind.DECRYPTION_FAILED)


def test_did_key_vectors_resolve_through_the_builtin_chain() -> None:
    dc = de.DidComm(de.ResolverChain(did_web=False), de.InMemorySecretsStore())
    count = 0
    for name in ("w3c-ccg-ed25519-x25519", "w3c-ccg-x25519", "w3c-ccg-secp256k1", "w3c-ccg-nist-curves"):
        for did in read_vectors(f"did-key/{name}.json")["data"]:
            if not did.startswith("did:key:"):
                continue
            document = dc.resolve_blocking(did)
            assert document["id"] == did
            assert document.get("verificationMethod"), did
            count += 1
    assert count >= 10
