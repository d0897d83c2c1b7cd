"""The engine, the resolver chain and the wallet, with Python types at the edges: messages,
DID documents and secrets are ``dict`` (JSON text is accepted too), options are keyword
arguments, failures are :class:`DidCommError` subclasses."""

from __future__ import annotations

import asyncio
import json
import operator
from dataclasses import dataclass
from os import PathLike
from typing import Any, Optional, Sequence, Union, cast

from . import _fastpath
from ._host import LOOPS, DidResolverLike, SecretsStoreLike, native_resolver, native_secrets
from ._errors import DidCommError
from ._native import didcomm_edge as _ffi

Config = _ffi.Config
ContentEncryption = _ffi.ContentEncryption
FromPrior = _ffi.FromPrior
PackedEncrypted = _ffi.PackedEncrypted
PackedSigned = _ffi.PackedSigned
PackedFromPrior = _ffi.PackedFromPrior
UnpackMetadata = _ffi.UnpackMetadata
Route = _ffi.Route
Routed = _ffi.Routed
Forward = _ffi.Forward
IdentityMethod = _ffi.IdentityMethod

Json = dict  # a parsed JSON object (``dict[str, Any]``)
MessageLike = Union[str, "dict[str, Any]"]


def to_text(value: Union[str, "dict[str, Any]"], what: str) -> str:
    """JSON text for a ``dict`` (or the text as given)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    raise DidCommError.IllegalArgument(f"{what} must be a dict or JSON text")


def to_dict(text: str) -> "dict[str, Any]":
    """The ``dict`` of JSON text the library produced."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise DidCommError.InvalidState("expected a JSON object from the library")
    return value


# -- the hot path ------------------------------------------------------------------------------
#
# pack, unpack and route go through the package's CPython extension (`_fastpath`, bindings/src/
# python.rs): a `dict` message becomes the core's JSON value and a received message a `dict`
# without JSON text in between, and the results are built as the generated record classes in
# Rust. The generated methods (`self._native.*_blocking`) stay, for Kotlin and Swift;
# python/tests/test_json_forms.py pins the two paths to each other.
#
# The coroutines of an engine without Python host objects run the native call on the event
# loop's thread, which costs what the blocking call does: it finishes there when it needs no
# waiting (the documents cached, an input under `INLINE_LIMIT`), otherwise it finishes on a
# thread of the library's runtime and the coroutine awaits it. An engine with a Python resolver
# or secrets store runs each coroutine on the loop's default executor instead, since a host
# object may block.

_ENC_ALG_NAMES = {
    ContentEncryption.A256_CBC_HS512: "A256CBC-HS512",
    ContentEncryption.A256_GCM: "A256GCM",
    ContentEncryption.XC20P: "XC20P",
}


def _enc_name(enc_alg_anon: Optional[ContentEncryption]) -> Optional[str]:
    if enc_alg_anon is None:
        return None
    name = _ENC_ALG_NAMES.get(enc_alg_anon)
    if name is None:
        raise ValueError(enc_alg_anon)
    return name


def _u64_arg(value: Any) -> int:
    # What the generated module checks for a u64 argument, with its errors.
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None
    if not 0 <= number < 2**64:
        raise ValueError("u64 requires 0 <= value < 18446744073709551616")
    return number


def _optional_u64(value: Any) -> Optional[int]:
    return None if value is None else _u64_arg(value)


def _optional_i64(value: Any) -> Optional[int]:
    if value is None:
        return None
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None
    if not -(2**63) <= number < 2**63:
        raise ValueError("i64 requires -9223372036854775808 <= value < 9223372036854775808")
    return number


async def _finish(result: Any) -> Any:
    """The result of a ``*_start`` call: awaited when it went off the loop's thread; otherwise
    one pass of the loop first, so that a task calling in a loop lets the others run."""
    if isinstance(result, asyncio.Future):
        return await result
    await asyncio.sleep(0)
    return result


@dataclass(frozen=True)
class Unpacked:
    """A received message (``dict``) and what protected it."""

    message: "dict[str, Any]"
    metadata: UnpackMetadata


@dataclass(frozen=True)
class UnwrappedForward:
    """A forward addressed to us: what to pass on, and how it was protected."""

    forward: Forward
    metadata: UnpackMetadata


class ResolverChain:
    """DID resolution as engines use it: ``pinned`` first (documents you hold, which win over
    what a method would derive), then the built-in methods (did:key, did:peer, did:jwk and
    did:web over HTTPS unless ``did_web`` is false), then ``host`` for every other method.

    ``pinned`` and ``host`` are :class:`InMemoryDidResolver` objects or any object with a
    ``resolve(did)`` method (plain or async)."""

    def __init__(
        self,
        *,
        pinned: Optional[Union[DidResolverLike, _ffi.InMemoryDidResolver]] = None,
        host: Optional[Union[DidResolverLike, _ffi.InMemoryDidResolver]] = None,
        did_web: bool = True,
    ) -> None:
        self._native = _ffi.ResolverChain(
            pinned=None if pinned is None else native_resolver(pinned),
            host=None if host is None else native_resolver(host),
            did_web=did_web,
        )
        # Whether every lookup stays in Rust (no Python object is ever called).
        self._native_only = all(
            r is None or isinstance(r, _ffi.InMemoryDidResolver) for r in (pinned, host)
        )


def _chain(resolver: Any) -> "tuple[_ffi.ResolverChain, bool]":
    """The native chain for ``resolver``, and whether it calls no Python object."""
    if isinstance(resolver, ResolverChain):
        return resolver._native, resolver._native_only
    if isinstance(resolver, _ffi.ResolverChain):
        # Built elsewhere: what it holds is unknown, so taken as calling the host.
        return resolver, False
    # A plain resolver serves the methods the library does not implement itself.
    chain = ResolverChain(host=resolver)
    return chain._native, chain._native_only


class DidComm:
    """The DIDComm v2 envelope engine over a DID resolver and a secrets store.

    ``resolver``: a :class:`ResolverChain`, or any resolver (then asked for the DID methods the
    library does not implement). ``secrets``: an :class:`InMemorySecretsStore` or any object with
    ``get_secret(kid)`` and ``find_secrets(kids)``. The engine caches resolved documents, parsed
    keys and ECDH-1PU secrets: create one and keep it.

    Operations that may call the resolver or the store are coroutines; each has a
    ``*_blocking`` twin that runs on the calling thread (the native call releases the GIL).
    Where a coroutine runs:

    - engines without Python host objects (a :class:`Wallet`'s, or in-memory stores) run pack,
      unpack and route on the event loop's thread, at the blocking cost: a short native call
      (well under a millisecond for messages up to 64 KiB) that yields to the loop once before
      returning. What must wait (a did:web fetch) or is larger finishes on a library thread while
      the loop goes on. The calls of one loop therefore take turns on one core; to spread many
      of them over cores, run the ``*_blocking`` forms on threads
      (``await asyncio.to_thread(dc.unpack_blocking, packed)`` or a ``ThreadPoolExecutor``):
      they release the GIL and run in parallel.
    - engines with a Python resolver or secrets store, which may block, run every coroutine on
      the loop's default executor, so the loop is never blocked and calls run in parallel.
    """

    def __init__(
        self,
        resolver: Union[ResolverChain, DidResolverLike, _ffi.InMemoryDidResolver],
        secrets: Union[SecretsStoreLike, _ffi.InMemorySecretsStore],
        config: Optional[Config] = None,
    ) -> None:
        chain, native_only = _chain(resolver)
        self._native = _ffi.DidComm(chain, native_secrets(secrets), config)
        self._attach(native_only and isinstance(secrets, _ffi.InMemorySecretsStore))

    def _attach(self, on_loop: bool) -> None:
        self._fast = _fastpath.Engine(self._native.python_handoff())
        # Whether coroutines may run the native call on the loop's thread (no host object).
        self._on_loop = on_loop

    @classmethod
    def _wrap(cls, native: _ffi.DidComm, on_loop: bool = False) -> "DidComm":
        engine = cls.__new__(cls)
        engine._native = native
        engine._attach(on_loop)
        return engine

    @property
    def config(self) -> Config:
        """The configuration in use."""
        return self._native.config()

    # -- plaintext ---------------------------------------------------------------------------

    def pack_plaintext(self, message: MessageLike) -> str:
        """Serialize a plaintext message after checking it."""
        return self._native.pack_plaintext(to_text(message, "the message"))

    # -- signed ------------------------------------------------------------------------------

    async def pack_signed(self, message: MessageLike, sign_by: str) -> PackedSigned:
        """Sign a message (JWS). ``sign_by``: a DID (its first authentication key held) or a
        key id of the message's ``from``."""
        if not self._on_loop:
            return await LOOPS.call(lambda: self.pack_signed_blocking(message, sign_by))
        started = self._fast.pack_signed_start(asyncio.get_running_loop(), message, sign_by)
        return cast(PackedSigned, await _finish(started))

    def pack_signed_blocking(self, message: MessageLike, sign_by: str) -> PackedSigned:
        """:meth:`pack_signed` on the calling thread."""
        return cast(PackedSigned, self._fast.pack_signed(message, sign_by))

    # -- encrypted ---------------------------------------------------------------------------

    async def pack_encrypted(
        self,
        message: MessageLike,
        to: str,
        *,
        from_: Optional[str] = None,
        sign_by: Optional[str] = None,
        protect_sender: bool = False,
        enc_alg_anon: Optional[ContentEncryption] = None,
        to_kids: Optional[Sequence[str]] = None,
    ) -> PackedEncrypted:
        """Encrypt a message to ``to`` (a DID or one of its key ids): authcrypt from ``from_``
        (the message's ``from``, or one of its key ids) when given, anoncrypt otherwise; signed
        first by ``sign_by`` when given. ``protect_sender`` wraps authcrypt in anoncrypt;
        ``enc_alg_anon`` picks the anoncrypt content encryption; ``to_kids`` limits the
        recipient keys."""
        arguments = self._pack_encrypted_arguments(
            message, to, from_, sign_by, protect_sender, enc_alg_anon, to_kids
        )
        if not self._on_loop:
            return await LOOPS.call(
                lambda: cast(PackedEncrypted, self._fast.pack_encrypted(*arguments))
            )
        started = self._fast.pack_encrypted_start(asyncio.get_running_loop(), *arguments)
        return cast(PackedEncrypted, await _finish(started))

    def pack_encrypted_blocking(
        self,
        message: MessageLike,
        to: str,
        *,
        from_: Optional[str] = None,
        sign_by: Optional[str] = None,
        protect_sender: bool = False,
        enc_alg_anon: Optional[ContentEncryption] = None,
        to_kids: Optional[Sequence[str]] = None,
    ) -> PackedEncrypted:
        """:meth:`pack_encrypted` on the calling thread."""
        arguments = self._pack_encrypted_arguments(
            message, to, from_, sign_by, protect_sender, enc_alg_anon, to_kids
        )
        return cast(PackedEncrypted, self._fast.pack_encrypted(*arguments))

    @staticmethod
    def _pack_encrypted_arguments(
        message: MessageLike,
        to: str,
        from_: Optional[str],
        sign_by: Optional[str],
        protect_sender: bool,
        enc_alg_anon: Optional[ContentEncryption],
        to_kids: Optional[Sequence[str]],
    ) -> "tuple[Any, ...]":
        # The extension's positional order (bindings/src/python.rs `pack_encrypted`).
        kids = None if to_kids is None else list(to_kids)
        return (message, to, from_, sign_by, protect_sender, _enc_name(enc_alg_anon), kids)

    # -- unpack ------------------------------------------------------------------------------

    async def unpack(
        self,
        packed: MessageLike,
        *,
        expect_decrypt_by_all_keys: bool = False,
        unwrap_re_wrapping_forward: bool = True,
        require_body: bool = False,
        check_recipient_in_to: bool = True,
        reject_expired: bool = False,
        now: Optional[int] = None,
        check_from_prior_times: bool = True,
    ) -> Unpacked:
        """Unpack a message of any form (plaintext, signed, anoncrypt, authcrypt, nested),
        verify it, and report what protected it."""
        arguments = self._unpack_arguments(
            packed,
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )
        if not self._on_loop:
            return await LOOPS.call(lambda: cast(Unpacked, self._fast.unpack(*arguments)))
        started = self._fast.unpack_start(asyncio.get_running_loop(), *arguments)
        return cast(Unpacked, await _finish(started))

    def unpack_blocking(
        self,
        packed: MessageLike,
        *,
        expect_decrypt_by_all_keys: bool = False,
        unwrap_re_wrapping_forward: bool = True,
        require_body: bool = False,
        check_recipient_in_to: bool = True,
        reject_expired: bool = False,
        now: Optional[int] = None,
        check_from_prior_times: bool = True,
    ) -> Unpacked:
        """:meth:`unpack` on the calling thread."""
        arguments = self._unpack_arguments(
            packed,
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )
        return cast(Unpacked, self._fast.unpack(*arguments))

    @staticmethod
    def _unpack_arguments(
        packed: MessageLike,
        expect_decrypt_by_all_keys: bool,
        unwrap_re_wrapping_forward: bool,
        require_body: bool,
        check_recipient_in_to: bool,
        reject_expired: bool,
        now: Optional[int],
        check_from_prior_times: bool,
    ) -> "tuple[Any, ...]":
        # The extension's positional order (bindings/src/python.rs `unpack`).
        return (
            packed,
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            _optional_u64(now),
            check_from_prior_times,
        )

    # -- resolve -----------------------------------------------------------------------------

    async def resolve(self, did: str) -> "dict[str, Any]":
        """The DID document of ``did`` through the engine's cache (``DidNotResolved`` when the
        DID does not exist)."""
        return to_dict(await LOOPS.call(lambda: self._native.resolve_blocking(did)))

    def resolve_blocking(self, did: str) -> "dict[str, Any]":
        """:meth:`resolve` on the calling thread."""
        return to_dict(self._native.resolve_blocking(did))

    # -- DID rotation ------------------------------------------------------------------------

    async def pack_from_prior(
        self, claims: FromPrior, issuer_kid: Optional[str] = None
    ) -> PackedFromPrior:
        """Sign ``from_prior`` claims with a key of the prior DID, for the ``from_prior``
        header of the new DID's first messages."""
        return await LOOPS.call(lambda: self._native.pack_from_prior_blocking(claims, issuer_kid))

    def pack_from_prior_blocking(
        self, claims: FromPrior, issuer_kid: Optional[str] = None
    ) -> PackedFromPrior:
        """:meth:`pack_from_prior` on the calling thread."""
        return self._native.pack_from_prior_blocking(claims, issuer_kid)

    async def end_relationship(self, did: str, issuer_kid: Optional[str] = None) -> PackedFromPrior:
        """End the relationship that uses ``did`` (rotate it to no DID): the ``from_prior`` JWT
        without ``sub``, signed by ``did``. Put it on a message without ``from`` and pack that
        anoncrypt to the peer (authcrypt needs a ``from``)."""
        return await LOOPS.call(lambda: self._native.end_relationship_blocking(did, issuer_kid))

    def end_relationship_blocking(self, did: str, issuer_kid: Optional[str] = None) -> PackedFromPrior:
        """:meth:`end_relationship` on the calling thread."""
        return self._native.end_relationship_blocking(did, issuer_kid)

    # -- routing -----------------------------------------------------------------------------

    @staticmethod
    def _route_options(
        enc_alg_anon: Optional[ContentEncryption],
        service_id: Optional[str],
        expires_time: Optional[int],
        delay_milli: Optional[int],
        forward_headers: Optional["dict[str, Any]"],
    ) -> _ffi.RouteOptions:
        return _ffi.RouteOptions(
            enc_alg_anon=enc_alg_anon,
            service_id=service_id,
            expires_time=expires_time,
            delay_milli=delay_milli,
            forward_headers=None if forward_headers is None else json.dumps(forward_headers),
        )

    async def resolve_route(self, to: str, *, service_id: Optional[str] = None) -> Route:
        """The route to ``to`` read from DID documents: transport URI and mediators."""
        options = self._route_options(None, service_id, None, None, None)
        return await LOOPS.call(lambda: self._native.resolve_route_blocking(to, options))

    def resolve_route_blocking(self, to: str, *, service_id: Optional[str] = None) -> Route:
        """:meth:`resolve_route` on the calling thread."""
        options = self._route_options(None, service_id, None, None, None)
        return self._native.resolve_route_blocking(to, options)

    async def route(
        self,
        packed: str,
        to: str,
        *,
        enc_alg_anon: Optional[ContentEncryption] = None,
        service_id: Optional[str] = None,
        expires_time: Optional[int] = None,
        delay_milli: Optional[int] = None,
        forward_headers: Optional["dict[str, Any]"] = None,
    ) -> Routed:
        """Wrap an encrypted message for ``to`` in one forward per mediator of its service,
        and say where to send the result."""
        arguments = self._route_arguments(
            packed, to, enc_alg_anon, service_id, expires_time, delay_milli, forward_headers
        )
        if not self._on_loop:
            return await LOOPS.call(lambda: cast(Routed, self._fast.route(*arguments)))
        started = self._fast.route_start(asyncio.get_running_loop(), *arguments)
        return cast(Routed, await _finish(started))

    def route_blocking(
        self,
        packed: str,
        to: str,
        *,
        enc_alg_anon: Optional[ContentEncryption] = None,
        service_id: Optional[str] = None,
        expires_time: Optional[int] = None,
        delay_milli: Optional[int] = None,
        forward_headers: Optional["dict[str, Any]"] = None,
    ) -> Routed:
        """:meth:`route` on the calling thread."""
        arguments = self._route_arguments(
            packed, to, enc_alg_anon, service_id, expires_time, delay_milli, forward_headers
        )
        return cast(Routed, self._fast.route(*arguments))

    @staticmethod
    def _route_arguments(
        packed: str,
        to: str,
        enc_alg_anon: Optional[ContentEncryption],
        service_id: Optional[str],
        expires_time: Optional[int],
        delay_milli: Optional[int],
        forward_headers: Optional["dict[str, Any]"],
    ) -> "tuple[Any, ...]":
        # The forward headers, an option seldom given, still cross as JSON text.
        return (
            packed,
            to,
            _enc_name(enc_alg_anon),
            service_id,
            _optional_u64(expires_time),
            _optional_i64(delay_milli),
            None if forward_headers is None else json.dumps(forward_headers),
        )

    async def wrap_in_forward(
        self,
        packed: str,
        next: str,
        hops: Sequence[str],
        *,
        enc_alg_anon: Optional[ContentEncryption] = None,
    ) -> str:
        """Wrap ``packed`` in forwards along ``hops`` (first receiver first), the last one
        naming ``next``."""
        options = self._route_options(enc_alg_anon, None, None, None, None)
        hop_list = list(hops)
        return await LOOPS.call(
            lambda: self._native.wrap_in_forward_blocking(packed, next, hop_list, options)
        )

    def wrap_in_forward_blocking(
        self,
        packed: str,
        next: str,
        hops: Sequence[str],
        *,
        enc_alg_anon: Optional[ContentEncryption] = None,
    ) -> str:
        """:meth:`wrap_in_forward` on the calling thread."""
        options = self._route_options(enc_alg_anon, None, None, None, None)
        return self._native.wrap_in_forward_blocking(packed, next, list(hops), options)

    async def unwrap_forward(self, packed: str) -> UnwrappedForward:
        """Mediator side: open a forward addressed to us."""
        result = await LOOPS.call(lambda: self._native.unwrap_forward_blocking(packed))
        return UnwrappedForward(result.forward, result.metadata)

    def unwrap_forward_blocking(self, packed: str) -> UnwrappedForward:
        """:meth:`unwrap_forward` on the calling thread."""
        result = self._native.unwrap_forward_blocking(packed)
        return UnwrappedForward(result.forward, result.metadata)

    # -- caches ------------------------------------------------------------------------------

    def invalidate_did(self, did: str) -> None:
        """Drop the cached document of ``did`` (after learning it changed)."""
        self._native.invalidate_did(did)

    def forget_secret(self, kid: str) -> None:
        """Drop a cached private key (after removing or replacing it in the store)."""
        self._native.forget_secret(kid)

    def clear_caches(self) -> None:
        """Drop every cached document, key and shared secret."""
        self._native.clear_caches()


def received_ending(message: MessageLike, metadata: UnpackMetadata) -> Optional[str]:
    """The DID whose relationship a received message ended (a verified ``from_prior`` without
    ``sub`` on a message without ``from``), or ``None``. Forget the peer known by that DID."""
    return _ffi.received_ending(to_text(message, "the message"), metadata)


@dataclass(frozen=True)
class Identity:
    """A generated identity: its DID, DID document and secrets (keep these in a keystore)."""

    did: str
    document: "dict[str, Any]"
    secrets: "list[dict[str, Any]]"

    @classmethod
    def _from_native(cls, native: _ffi.Identity) -> "Identity":
        return cls(native.did, to_dict(native.document), [to_dict(s) for s in native.secrets])

    def _to_native(self) -> _ffi.Identity:
        return _ffi.Identity(
            did=self.did,
            document=json.dumps(self.document),
            secrets=[json.dumps(s) for s in self.secrets],
        )


class Wallet:
    """DID documents and secrets kept together (the wallet file of the CLI and the test
    vectors: ``{"did_docs": [...], "secrets": [...]}``), in live in-memory stores."""

    def __init__(self, wallet: Union[None, str, "dict[str, Any]"] = None) -> None:
        self._native = _ffi.Wallet(None if wallet is None else to_text(wallet, "the wallet"))

    @classmethod
    def from_file(cls, path: Union[str, "PathLike[str]"]) -> "Wallet":
        """Read a wallet file."""
        with open(path, encoding="utf-8") as file:
            return cls(file.read())

    def add_identity(self, identity: Identity) -> None:
        """Add an identity's document and secrets."""
        self._native.add_identity(identity._to_native())

    def add_document(self, document: Union[str, "dict[str, Any]"]) -> None:
        """Add or replace a DID document."""
        self._native.add_document(to_text(document, "the document"))

    def add_secret(self, secret: Union[str, "dict[str, Any]"]) -> None:
        """Add or replace a secret."""
        self._native.add_secret(to_text(secret, "the secret"))

    def to_json(self) -> str:
        """The wallet file (it holds private keys: store it like them)."""
        return self._native.to_json()

    @property
    def resolver(self) -> _ffi.InMemoryDidResolver:
        """The wallet's documents, as a resolver."""
        return self._native.resolver()

    @property
    def secrets(self) -> _ffi.InMemorySecretsStore:
        """The wallet's secrets, as a store."""
        return self._native.secrets_store()

    def did_comm(
        self,
        config: Optional[Config] = None,
        host: Optional[Union[DidResolverLike, _ffi.InMemoryDidResolver]] = None,
    ) -> DidComm:
        """An engine over this wallet: its documents pinned in front of the built-in DID
        methods (then ``host``), its secrets as the store; no Python call per lookup."""
        native_host = None if host is None else native_resolver(host)
        on_loop = host is None or isinstance(host, _ffi.InMemoryDidResolver)
        return DidComm._wrap(self._native.did_comm(config, native_host), on_loop)


def generate_identity(
    method: IdentityMethod = IdentityMethod.PEER2,
    service: Optional[_ffi.DidCommService] = None,
) -> Identity:
    """A new identity with fresh keys (``service``, did:peer only: where peers send messages,
    a transport URI or a mediator's DID)."""
    return Identity._from_native(_ffi.generate_identity(method, service))


def generate_did_key(key_type: _ffi.KeyType) -> Identity:
    """A ``did:key`` identity for a fresh key of ``key_type``."""
    return Identity._from_native(_ffi.generate_did_key(key_type))
