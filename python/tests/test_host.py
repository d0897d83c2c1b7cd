"""Host-implemented resolvers and secrets stores: plain Python objects, sync or async methods,
dict or JSON answers; every failing callback becomes a typed error, never a crash."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Optional

import pytest

import didcomm_edge as de
from conftest import make_party, new_message, wallet_of

ALICE = make_party("alice", ka=["X25519", "P-256"], sign=["Ed25519"])
BOB = make_party("bob", ka=["X25519", "P-256"], sign=["Ed25519"])


class DictResolver:
    """Answers with dicts, counts calls and the threads it was called on."""

    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["id"]: d for d in docs}
        self.calls = 0
        self.threads: set[int] = set()

    def resolve(self, did: str) -> Optional[dict[str, Any]]:
        self.calls += 1
        self.threads.add(threading.get_ident())
        return self.docs.get(did)


class TextSecrets:
    """Answers with JSON text."""

    def __init__(self, secrets: list[dict[str, Any]]) -> None:
        self.secrets = {s["kid"]: s for s in secrets}

    def get_secret(self, kid: str) -> Optional[str]:
        s = self.secrets.get(kid)
        return None if s is None else json.dumps(s)

    def find_secrets(self, kids: list[str]) -> list[str]:
        return [k for k in kids if k in self.secrets]


class AsyncResolver:
    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["id"]: d for d in docs}

    async def resolve(self, did: str) -> Optional[dict[str, Any]]:
        await asyncio.sleep(0.001)
        return self.docs.get(did)


class AsyncSecrets:
    def __init__(self, secrets: list[dict[str, Any]]) -> None:
        self.secrets = {s["kid"]: s for s in secrets}

    async def get_secret(self, kid: str) -> Optional[dict[str, Any]]:
        await asyncio.sleep(0)
        return self.secrets.get(kid)

    async def find_secrets(self, kids: list[str]) -> list[str]:
        return [k for k in kids if k in self.secrets]


def packed_for_bob() -> str:
    return wallet_of(ALICE, BOB).did_comm().pack_encrypted_blocking(
        new_message(ALICE.did, BOB.did), BOB.did, from_=ALICE.did, sign_by=ALICE.did
    ).packed


def test_plain_host_objects_with_dicts_and_text() -> None:
    resolver = DictResolver(ALICE.doc, BOB.doc)
    dc = de.DidComm(resolver, TextSecrets(BOB.secrets))
    result = dc.unpack_blocking(packed_for_bob())
    assert result.metadata.authenticated and result.metadata.non_repudiation
    calls = resolver.calls
    dc.unpack_blocking(packed_for_bob())
    assert resolver.calls == calls, "documents are cached by the engine"
    dc.invalidate_did(ALICE.did)
    dc.unpack_blocking(packed_for_bob())
    assert resolver.calls > calls


def test_async_api_calls_the_host_off_the_event_loop_thread() -> None:
    resolver = DictResolver(ALICE.doc, BOB.doc)
    dc = de.DidComm(resolver, TextSecrets(BOB.secrets))

    async def main() -> None:
        await dc.unpack(packed_for_bob())

    asyncio.run(main())
    assert threading.get_ident() not in resolver.threads


def test_async_host_methods_run_on_the_callers_loop() -> None:
    dc = de.DidComm(AsyncResolver(ALICE.doc, BOB.doc), AsyncSecrets(BOB.secrets))

    async def main() -> de.Unpacked:
        return await dc.unpack(packed_for_bob())

    assert asyncio.run(main()).metadata.authenticated
    # Without a running loop, a blocking call runs async callbacks to completion itself.
    dc.clear_caches()
    assert dc.unpack_blocking(packed_for_bob()).metadata.authenticated


def test_async_callbacks_inside_a_blocking_call_on_the_loop_thread_are_refused() -> None:
    dc = de.DidComm(AsyncResolver(ALICE.doc, BOB.doc), AsyncSecrets(BOB.secrets))

    async def main() -> None:
        with pytest.raises(de.DidCommError.IllegalArgument) as caught:
            dc.unpack_blocking(packed_for_bob())
        assert "await the async method" in caught.value.reason

    asyncio.run(main())


def test_resolver_chain_puts_builtin_methods_first_and_pins_documents() -> None:
    identity = de.generate_identity(de.IdentityMethod.PEER2)
    resolver = DictResolver(ALICE.doc)
    chain = de.ResolverChain(host=resolver, did_web=False)
    dc = de.DidComm(chain, de.InMemorySecretsStore())
    assert dc.resolve_blocking(identity.did)["id"] == identity.did
    assert resolver.calls == 0, "did:peer is resolved by the library itself"
    assert dc.resolve_blocking(ALICE.did)["id"] == ALICE.did
    assert resolver.calls == 1
    pinned = de.InMemoryDidResolver([json.dumps({"id": identity.did, "service": []})])
    dc = de.DidComm(de.ResolverChain(pinned=pinned), de.InMemorySecretsStore())
    assert dc.resolve_blocking(identity.did) == {"id": identity.did}


class Exploding:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def resolve(self, did: str) -> Any:
        raise self.error

    def get_secret(self, kid: str) -> Any:
        raise self.error

    def find_secrets(self, kids: list[str]) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error", [RuntimeError("network down"), KeyError("x"), ZeroDivisionError(), RecursionError()]
)
def test_failing_callbacks_become_resolver_failures(error: BaseException) -> None:
    dc = de.DidComm(Exploding(error), TextSecrets(BOB.secrets))
    with pytest.raises(de.DidCommError.ResolverFailure) as caught:
        dc.unpack_blocking(packed_for_bob())
    assert type(error).__name__ in caught.value.reason

    dc = de.DidComm(DictResolver(ALICE.doc, BOB.doc), Exploding(error))
    with pytest.raises(de.DidCommError.ResolverFailure) as caught:
        asyncio.run(dc.unpack(packed_for_bob()))
    assert type(error).__name__ in caught.value.reason
    if str(error):
        assert str(error) not in caught.value.reason, "a secrets store's message is not repeated"


def test_a_host_may_raise_a_typed_error_itself() -> None:
    dc = de.DidComm(Exploding(de.DidCommError.DidNotResolved("offline registry")), TextSecrets(BOB.secrets))
    with pytest.raises(de.DidCommError.DidNotResolved) as caught:
        dc.unpack_blocking(packed_for_bob())
    assert "offline registry" in caught.value.reason


class Junk:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def resolve(self, did: str) -> Any:
        return self.answer

    def get_secret(self, kid: str) -> Any:
        return self.answer

    def find_secrets(self, kids: list[str]) -> Any:
        return kids


@pytest.mark.parametrize("answer", ["not json", "[]", 42, {"id": "did:example:someone-else"}, {"no": "id"}])
def test_bad_answers_are_typed_errors(answer: Any) -> None:
    dc = de.DidComm(Junk(answer), TextSecrets(BOB.secrets))
    with pytest.raises(de.DidCommError) as caught:
        dc.unpack_blocking(packed_for_bob())
    assert caught.value.kind in (de.ErrorKind.MALFORMED, de.ErrorKind.DID_NOT_RESOLVED, de.ErrorKind.RESOLVER_FAILURE)

    dc = de.DidComm(DictResolver(ALICE.doc, BOB.doc), Junk(answer))
    with pytest.raises(de.DidCommError) as caught:
        dc.unpack_blocking(packed_for_bob())
    assert caught.value.kind in (de.ErrorKind.MALFORMED, de.ErrorKind.RESOLVER_FAILURE, de.ErrorKind.SECRET_NOT_FOUND)


def test_a_store_answering_for_another_kid_is_refused() -> None:
    class Liar(TextSecrets):
        def get_secret(self, kid: str) -> Optional[str]:
            other = next(s for k, s in self.secrets.items() if k != kid)
            return json.dumps(other)

    dc = de.DidComm(DictResolver(ALICE.doc, BOB.doc), Liar(BOB.secrets))
    with pytest.raises(de.DidCommError.Malformed):
        dc.unpack_blocking(packed_for_bob())


def test_in_memory_stores_are_live() -> None:
    resolver = de.InMemoryDidResolver()
    secrets = de.InMemorySecretsStore()
    dc = de.DidComm(de.ResolverChain(pinned=resolver), secrets)
    with pytest.raises(de.DidCommError):
        dc.unpack_blocking(packed_for_bob())
    resolver.add(json.dumps(ALICE.doc))
    resolver.add(json.dumps(BOB.doc))
    for s in BOB.secrets:
        secrets.add(json.dumps(s))
    dc.clear_caches()
    assert dc.unpack_blocking(packed_for_bob()).metadata.authenticated
    assert resolver.remove(ALICE.did) and not resolver.remove(ALICE.did)
    assert sorted(secrets.kids()) == sorted(s["kid"] for s in BOB.secrets)
    with pytest.raises(de.DidCommError.Malformed):
        secrets.add('{"kid": "did:example:x#1", "privateKeyJwk": {"kty": "OKP"}}')


def test_objects_without_the_methods_are_type_errors() -> None:
    with pytest.raises(TypeError):
        de.DidComm(object(), de.InMemorySecretsStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        de.DidComm(de.ResolverChain(), object())  # type: ignore[arg-type]
