"""The engine, the resolver chain and the wallet, with Python types at the edges: messages,
DID documents and secrets are ``dict`` (JSON text is accepted too), options are keyword
arguments, failures are :class:`DidCommError` subclasses."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from os import PathLike
from typing import Any, Optional, Sequence, Union

from . import _direct
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


# -- the low-overhead calls ------------------------------------------------------------------
#
# pack and unpack go through the bindings' JSON forms (`*_json_blocking`, bindings/src/
# engine_json.rs), called directly by `_direct`: UTF-8 bytes in, passed by reference, and one
# JSON text out that the C `json.loads` parses, instead of records that the generated module
# lowers and lifts field by field in Python (about 40 µs a call, as much as the cryptography).
# The results are the same record types; python/tests/test_json_forms.py pins the two paths to
# each other.

_ENC_ALG_NAMES = {
    ContentEncryption.A256_CBC_HS512: "A256CBC-HS512",
    ContentEncryption.A256_GCM: "A256GCM",
    ContentEncryption.XC20P: "XC20P",
}
_DEFAULT_OPTIONS = b""  # the record's defaults, read without parsing


def _text_arg(value: Any) -> str:
    # What the generated module checks for a string argument, with its error.
    if not isinstance(value, str):
        raise TypeError("argument must be str, not {}".format(type(value).__name__))
    return value


def _optional_text_arg(value: Any) -> Optional[str]:
    return None if value is None else _text_arg(value)


def _u64_arg(value: Any) -> int:
    # What the generated module checks for a u64 argument, with its errors.
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None
    if not 0 <= number < 2**64:
        raise ValueError("u64 requires 0 <= value < 18446744073709551616")
    return number


def _unpack_options_json(
    expect_decrypt_by_all_keys: bool,
    unwrap_re_wrapping_forward: bool,
    require_body: bool,
    check_recipient_in_to: bool,
    reject_expired: bool,
    now: Optional[int],
    check_from_prior_times: bool,
) -> bytes:
    if (
        not expect_decrypt_by_all_keys
        and unwrap_re_wrapping_forward
        and not require_body
        and check_recipient_in_to
        and not reject_expired
        and now is None
        and check_from_prior_times
    ):
        return _DEFAULT_OPTIONS
    return json.dumps(
        {
            "expect_decrypt_by_all_keys": bool(expect_decrypt_by_all_keys),
            "unwrap_re_wrapping_forward": bool(unwrap_re_wrapping_forward),
            "require_body": bool(require_body),
            "check_recipient_in_to": bool(check_recipient_in_to),
            "reject_expired": bool(reject_expired),
            "now": None if now is None else _u64_arg(now),
            "check_from_prior_times": bool(check_from_prior_times),
        }
    ).encode()


def _pack_options_json(
    from_: Optional[str],
    sign_by: Optional[str],
    protect_sender: bool,
    enc_alg_anon: Optional[ContentEncryption],
    to_kids: Optional[Sequence[str]],
) -> bytes:
    if from_ is None and sign_by is None and not protect_sender and enc_alg_anon is None and not to_kids:
        return _DEFAULT_OPTIONS
    if from_ is not None and sign_by is None and not protect_sender and enc_alg_anon is None and not to_kids:
        # authcrypt with no other option, the common case: no encoder call.
        return b'{"from":' + json.dumps(_text_arg(from_)).encode() + b"}"
    if enc_alg_anon is None:
        enc_name = None
    else:
        enc_name = _ENC_ALG_NAMES.get(enc_alg_anon)
        if enc_name is None:
            raise ValueError(enc_alg_anon)
    return json.dumps(
        {
            "from": _optional_text_arg(from_),
            "sign_by": _optional_text_arg(sign_by),
            "protect_sender": bool(protect_sender),
            "enc_alg_anon": enc_name,
            "to_kids": [_text_arg(kid) for kid in to_kids or ()],
        }
    ).encode()


def _unpack_metadata(fields: "dict[str, Any]") -> UnpackMetadata:
    claims = fields["from_prior"]
    if claims is not None:
        fields["from_prior"] = FromPrior(**claims)
    return UnpackMetadata(**fields)


def _unpacked(text: str) -> "Unpacked":
    result = json.loads(text)
    return Unpacked(result["message"], _unpack_metadata(result["metadata"]))


def _packed_encrypted(text: str) -> PackedEncrypted:
    result = json.loads(text)
    return PackedEncrypted(
        packed=result["packed"], metadata=_ffi.PackEncryptedMetadata(**result["metadata"])
    )


def _packed_signed(text: str) -> PackedSigned:
    result = json.loads(text)
    return PackedSigned(packed=result["packed"], metadata=_ffi.PackSignedMetadata(**result["metadata"]))


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


def _chain(resolver: Any) -> _ffi.ResolverChain:
    if isinstance(resolver, ResolverChain):
        return resolver._native
    if isinstance(resolver, _ffi.ResolverChain):
        return resolver
    # A plain resolver serves the methods the library does not implement itself.
    return ResolverChain(host=resolver)._native


class DidComm:
    """The DIDComm v2 envelope engine over a DID resolver and a secrets store.

    ``resolver``: a :class:`ResolverChain`, or any resolver (then asked for the DID methods the
    library does not implement). ``secrets``: an :class:`InMemorySecretsStore` or any object with
    ``get_secret(kid)`` and ``find_secrets(kids)``. The engine caches resolved documents, parsed
    keys and ECDH-1PU secrets: create one and keep it.

    Operations that may call the resolver or the store are coroutines that run on the event
    loop's default executor (the native call releases the GIL, so the loop stays free and
    several operations run in parallel); each has a ``*_blocking`` twin that runs on the
    calling thread (faster, for scripts and worker threads).
    """

    def __init__(
        self,
        resolver: Union[ResolverChain, DidResolverLike, _ffi.InMemoryDidResolver],
        secrets: Union[SecretsStoreLike, _ffi.InMemorySecretsStore],
        config: Optional[Config] = None,
    ) -> None:
        self._native = _ffi.DidComm(_chain(resolver), native_secrets(secrets), config)

    @classmethod
    def _wrap(cls, native: _ffi.DidComm) -> "DidComm":
        engine = cls.__new__(cls)
        engine._native = native
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
        return await LOOPS.call(lambda: self.pack_signed_blocking(message, sign_by))

    def pack_signed_blocking(self, message: MessageLike, sign_by: str) -> PackedSigned:
        """:meth:`pack_signed` on the calling thread."""
        text = to_text(message, "the message").encode()
        return _packed_signed(_direct.pack_signed_json(self._native, text, _text_arg(sign_by).encode()))

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
        text = to_text(message, "the message").encode()
        target = _text_arg(to).encode()
        options = _pack_options_json(from_, sign_by, protect_sender, enc_alg_anon, to_kids)
        return await LOOPS.call(
            lambda: _packed_encrypted(_direct.pack_encrypted_json(self._native, text, target, options))
        )

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
        text = to_text(message, "the message").encode()
        options = _pack_options_json(from_, sign_by, protect_sender, enc_alg_anon, to_kids)
        return _packed_encrypted(
            _direct.pack_encrypted_json(self._native, text, _text_arg(to).encode(), options)
        )

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
        options = _unpack_options_json(
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )
        text = to_text(packed, "the packed message").encode()
        return await LOOPS.call(lambda: _unpacked(_direct.unpack_json(self._native, text, options)))

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
        options = _unpack_options_json(
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )
        text = to_text(packed, "the packed message").encode()
        return _unpacked(_direct.unpack_json(self._native, text, options))

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
        options = self._route_options(
            enc_alg_anon, service_id, expires_time, delay_milli, forward_headers
        )
        return await LOOPS.call(lambda: self._native.route_blocking(packed, to, options))

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
        options = self._route_options(
            enc_alg_anon, service_id, expires_time, delay_milli, forward_headers
        )
        return self._native.route_blocking(packed, to, options)

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
        return DidComm._wrap(self._native.did_comm(config, native_host))


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
