"""Host objects: plain Python resolvers and secrets stores, adapted to the native traits.

A host object needs only the methods (no base class): ``resolve(did)`` for a resolver,
``get_secret(kid)`` and ``find_secrets(kids)`` for a secrets store. Each may be a plain or an
``async`` method, and may return JSON text or the parsed ``dict``. The library calls them on the
thread that runs the operation (a worker thread for the async API), so they may block.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from typing import Any, Dict, Awaitable, Callable, Optional, Protocol, TypeVar, Union, runtime_checkable

from ._errors import DidCommError
from ._native import didcomm_edge as _ffi


JsonObject = Dict[str, Any]  # a parsed JSON object
T = TypeVar("T")


@runtime_checkable
class DidResolverLike(Protocol):
    """Anything with ``resolve(did)`` returning a DID document (``dict`` or JSON text) or
    ``None`` when the DID does not exist; plain or ``async``."""

    def resolve(self, did: str) -> Any: ...


@runtime_checkable
class SecretsStoreLike(Protocol):
    """Anything with ``get_secret(kid)`` (the secret as ``dict`` or JSON text, or ``None``) and
    ``find_secrets(kids)`` (the held ones, in order); plain or ``async``."""

    def get_secret(self, kid: str) -> Any: ...

    def find_secrets(self, kids: list[str]) -> Any: ...


class _LoopHolder:
    """Where an async host callback runs: on the event loop whose coroutine started the
    operation (the operation itself runs on a worker thread, see ``in_worker_thread``)."""

    def __init__(self) -> None:
        self._local = threading.local()

    async def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the loop's default executor, remembering the loop for the
        callbacks it makes on that thread."""
        loop = asyncio.get_running_loop()

        def run() -> T:
            self._local.loop = loop
            try:
                return function()
            finally:
                self._local.loop = None

        return await loop.run_in_executor(None, run)

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wait() -> Any:
            return await awaitable

        loop = getattr(self._local, "loop", None)
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(wait(), loop).result()
        try:
            asyncio.get_running_loop()
            on_loop_thread = True
        except RuntimeError:
            on_loop_thread = False
        if on_loop_thread:
            # A *_blocking call made on an event-loop thread: the loop cannot run the coroutine
            # while this thread waits for it.
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise DidCommError.IllegalArgument(
                "an async host callback cannot run inside a *_blocking call made on an event "
                "loop's thread: await the async method instead"
            )
        return asyncio.run(wait())


def _json_text(value: Union[str, JsonObject], what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise DidCommError.Malformed(f"{what} must be a dict or JSON text, not {type(value).__name__}")


def _host_failure(what: str, error: BaseException, detail: bool) -> DidCommError:
    # Secrets-store exceptions are named by type only: their text could describe key material.
    text = f"{what} raised {type(error).__name__}"
    if detail and str(error):
        text += f": {str(error)[:200]}"
    return DidCommError.ResolverFailure(text)


class _HostResolver(_ffi.DidResolver):
    def __init__(self, host: DidResolverLike, loops: _LoopHolder) -> None:
        self._host = host
        self._loops = loops

    def resolve(self, did: str) -> Optional[str]:
        try:
            answer = self._host.resolve(did)
            if inspect.isawaitable(answer):
                answer = self._loops.run(answer)
        except DidCommError:
            raise
        except Exception as error:  # noqa: BLE001 - every host failure becomes a typed error
            raise _host_failure("the host resolver", error, detail=True) from None
        if answer is None:
            return None
        return _json_text(answer, "a resolved DID document")


class _HostSecrets(_ffi.SecretsStore):
    def __init__(self, host: SecretsStoreLike, loops: _LoopHolder) -> None:
        self._host = host
        self._loops = loops

    def _call(self, answer: Any) -> Any:
        if inspect.isawaitable(answer):
            return self._loops.run(answer)
        return answer

    def get_secret(self, kid: str) -> Optional[str]:
        try:
            answer = self._call(self._host.get_secret(kid))
        except DidCommError:
            raise
        except Exception as error:  # noqa: BLE001
            raise _host_failure("the secrets store", error, detail=False) from None
        if answer is None:
            return None
        return _json_text(answer, "a secret")

    def find_secrets(self, kids: list[str]) -> list[str]:
        try:
            answer = self._call(self._host.find_secrets(list(kids)))
        except DidCommError:
            raise
        except Exception as error:  # noqa: BLE001
            raise _host_failure("the secrets store", error, detail=False) from None
        if not isinstance(answer, (list, tuple, set, frozenset)) or not all(
            isinstance(k, str) for k in answer
        ):
            raise DidCommError.Malformed("find_secrets must return a list of key ids")
        return list(answer)


LOOPS = _LoopHolder()


def native_resolver(resolver: Any) -> _ffi.DidResolver:
    """A native resolver for ``resolver``: Rust objects as they are, Python objects adapted."""
    if isinstance(resolver, (_ffi.InMemoryDidResolver, _ffi.DidResolverImpl)):
        return resolver
    if isinstance(resolver, DidResolverLike):
        return _HostResolver(resolver, LOOPS)
    raise TypeError(f"a DID resolver needs a resolve(did) method, not {type(resolver).__name__}")


def native_secrets(secrets: Any) -> _ffi.SecretsStore:
    """A native secrets store for ``secrets``: Rust objects as they are, Python objects adapted."""
    if isinstance(secrets, (_ffi.InMemorySecretsStore, _ffi.SecretsStoreImpl)):
        return secrets
    if isinstance(secrets, SecretsStoreLike):
        return _HostSecrets(secrets, LOOPS)
    raise TypeError(
        "a secrets store needs get_secret(kid) and find_secrets(kids) methods, "
        f"not {type(secrets).__name__}"
    )
