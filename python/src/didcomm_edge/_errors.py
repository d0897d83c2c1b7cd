"""The error type and its kinds.

The UniFFI-generated module attaches one subclass per kind to ``DidCommError`` at run time,
which type checkers cannot follow; the declaration under ``TYPE_CHECKING`` tells them."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, ClassVar, Optional

from ._native import didcomm_edge as _ffi


class ErrorKind(str, enum.Enum):
    """The error kinds, as the CLI and the npm package name them."""

    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    DID_NOT_RESOLVED = "did_not_resolved"
    DID_URL_NOT_FOUND = "did_url_not_found"
    SECRET_NOT_FOUND = "secret_not_found"
    NO_COMPATIBLE_KEYS = "no_compatible_keys"
    DECRYPTION_FAILED = "decryption_failed"
    INVALID_SIGNATURE = "invalid_signature"
    SENDER_MISMATCH = "sender_mismatch"
    RECIPIENT_MISMATCH = "recipient_mismatch"
    TOO_LARGE = "too_large"
    EXPIRED = "expired"
    ILLEGAL_ARGUMENT = "illegal_argument"
    RESOLVER_FAILURE = "resolver_failure"
    INVALID_STATE = "invalid_state"
    # The edge agent's network and protocol kinds.
    UNREACHABLE = "unreachable"
    TIMED_OUT = "timed_out"
    REFUSED = "refused"
    PROTOCOL = "protocol"
    NOT_CONNECTED = "not_connected"
    STORAGE = "storage"
    CLOSED = "closed"


if TYPE_CHECKING:

    class DidCommError(Exception):
        """Every failure of the library: a subclass per kind, with ``kind`` and ``reason``."""

        reason: str
        # Set on ``Refused`` only: the mediator's HTTP status and problem code, when it sent them.
        problem_code: Optional[str]
        http_status: Optional[int]

        @property
        def kind(self) -> ErrorKind: ...

        Malformed: ClassVar[type[DidCommError]]
        Unsupported: ClassVar[type[DidCommError]]
        DidNotResolved: ClassVar[type[DidCommError]]
        DidUrlNotFound: ClassVar[type[DidCommError]]
        SecretNotFound: ClassVar[type[DidCommError]]
        NoCompatibleKeys: ClassVar[type[DidCommError]]
        DecryptionFailed: ClassVar[type[DidCommError]]
        InvalidSignature: ClassVar[type[DidCommError]]
        SenderMismatch: ClassVar[type[DidCommError]]
        RecipientMismatch: ClassVar[type[DidCommError]]
        TooLarge: ClassVar[type[DidCommError]]
        Expired: ClassVar[type[DidCommError]]
        IllegalArgument: ClassVar[type[DidCommError]]
        ResolverFailure: ClassVar[type[DidCommError]]
        InvalidState: ClassVar[type[DidCommError]]
        Unreachable: ClassVar[type[DidCommError]]
        TimedOut: ClassVar[type[DidCommError]]
        Refused: ClassVar[type[DidCommError]]
        Protocol: ClassVar[type[DidCommError]]
        NotConnected: ClassVar[type[DidCommError]]
        Storage: ClassVar[type[DidCommError]]
        Closed: ClassVar[type[DidCommError]]

else:
    DidCommError = _ffi.DidCommError

    def _kind_of(error: DidCommError) -> ErrorKind:
        # The variant classes are named after the kinds: DecryptionFailed -> decryption_failed.
        name = type(error).__name__
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        return ErrorKind(snake)

    # Every variant gets `.kind`, as `DidCommError.kind` does in the npm package.
    DidCommError.kind = property(_kind_of)
