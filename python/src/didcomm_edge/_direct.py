"""Direct ctypes calls to the bindings' JSON forms of pack and unpack (``*_json_blocking``).

The generated module wraps every native call in Python helpers (a call-status object per
call, a context manager and a stream to read the result, each byte argument converted by a
helper class): about 8 µs a call on a 2.5 GHz core, where a pack or unpack costs 20-60 µs in
Rust. The JSON forms take only bytes and return one string, so this module calls them with
argument and return types declared once, and hands errors to the generated module's own
status check, which raises the same typed ``DidCommError`` subclasses.

It reads the generated module's private declarations, which belong to the UniFFI release the
library was built with. At import it checks that they are what it assumes (the function
signatures and structure layouts); if not, every call goes through the generated methods
instead (same results, slower), and ``DIRECT`` is false (a test fails on that).
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Optional

from ._errors import DidCommError
from ._native import didcomm_edge as _ffi

JsonCall = Callable[..., str]
"""``call(native_did_comm, *utf8_arguments)`` -> the JSON result."""

_MAX_LEN = 2**31 - 1  # uniffi's ForeignBytes length is an i32


class _Bytes(ctypes.Structure):
    """uniffi's ``ForeignBytes`` (i32 length, pointer), with a ``c_char_p`` field that ctypes
    fills from ``bytes`` in C; the object keeps the ``bytes`` alive for the call."""

    _fields_ = [("len", ctypes.c_int32), ("data", ctypes.c_char_p)]


def _generated(method: str) -> JsonCall:
    def call(native: Any, *arguments: bytes) -> str:
        result: str = getattr(native, method)(*arguments)
        return result

    return call


def _direct(method: str, arity: int) -> Optional[JsonCall]:
    """The direct call of ``DidComm.<method>`` taking ``arity`` byte strings, or ``None`` when
    the generated declarations are not the expected ones."""
    try:
        lib = _ffi._UniffiLib
        status_type = _ffi._UniffiRustCallStatus
        buffer_type = _ffi._UniffiRustBuffer
        foreign_bytes = _ffi._UniffiForeignBytes
        check_status: Callable[[Any, Any], None] = _ffi._uniffi_check_call_status
        error_converter = _ffi._UniffiFfiConverterTypeDidCommError
        symbol = f"uniffi_didcomm_edge_ffi_fn_method_didcomm_{method}"
        declared = getattr(lib, symbol)
        clone = lib.uniffi_didcomm_edge_ffi_fn_clone_didcomm
        free = lib.ffi_didcomm_edge_ffi_rustbuffer_free
    except AttributeError:
        return None
    status_pointer = ctypes.POINTER(status_type)
    expected = (
        [(name, kind) for name, kind, *_ in foreign_bytes._fields_]
        == [("len", ctypes.c_int32), ("data", ctypes.POINTER(ctypes.c_char))]
        and tuple(declared.argtypes) == (ctypes.c_uint64, *[foreign_bytes] * arity, status_pointer)
        and declared.restype is buffer_type
        and tuple(clone.argtypes) == (ctypes.c_uint64, status_pointer)
        and clone.restype is ctypes.c_uint64
        and tuple(free.argtypes) == (buffer_type, status_pointer)
        and hasattr(_ffi.DidComm, "_uniffi_clone_handle")
    )
    if not expected:
        return None
    # A function object of our own (indexing makes a new one), so the generated one keeps its
    # declaration. CDLL functions release the GIL during the call, as the generated ones do.
    function = lib[symbol]
    function.argtypes = (ctypes.c_uint64, *[_Bytes] * arity, status_pointer)
    function.restype = buffer_type
    byref, string_at = ctypes.byref, ctypes.string_at

    def call(native: Any, *arguments: bytes) -> str:
        for argument in arguments:
            if len(argument) > _MAX_LEN:
                raise DidCommError.TooLarge("an argument is larger than 2 GiB")
        status = status_type()
        status_ref = byref(status)
        # The method consumes a handle: give it its own reference, as the generated code does.
        handle = clone(native._handle, status_ref)
        if status.code:
            check_status(None, status)
        result = function(handle, *[_Bytes(len(a), a) for a in arguments], status_ref)
        if status.code:
            check_status(error_converter, status)
        try:
            # Decoded here: json.loads decodes bytes more slowly (it sniffs the encoding first).
            return string_at(result.data, result.len).decode()
        finally:
            free(result, status_ref)

    return call


_UNPACK = _direct("unpack_json_blocking", 2)
_PACK_ENCRYPTED = _direct("pack_encrypted_json_blocking", 3)
_PACK_SIGNED = _direct("pack_signed_json_blocking", 2)

DIRECT = None not in (_UNPACK, _PACK_ENCRYPTED, _PACK_SIGNED)
"""Whether the direct calls are in use (the generated declarations are the expected ones)."""

unpack_json: JsonCall = _UNPACK or _generated("unpack_json_blocking")
pack_encrypted_json: JsonCall = _PACK_ENCRYPTED or _generated("pack_encrypted_json_blocking")
pack_signed_json: JsonCall = _PACK_SIGNED or _generated("pack_signed_json_blocking")
