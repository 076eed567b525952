"""Frame-level pieces of RFC 6455 section 5: opcodes, masking, close codes, encoding.

These are the building blocks the connection uses; they are public because
they are useful on their own (a test peer, a proxy that re-frames).

Masking runs in C when the optional ``tidewire-speedups`` distribution is
installed (``pip install tidewire-websocket[speedups]``) and the environment
variable ``TIDEWIRE_NO_SPEEDUPS`` is unset, empty or ``0`` when this module is
first imported; :data:`SPEEDUPS_ACTIVE` says which. :func:`pure_unmask` is the
pure-Python reference: both paths give identical results.
"""

from __future__ import annotations

import enum
import importlib
import os
import struct
from collections.abc import Mapping
from types import ModuleType
from typing import Protocol

__all__ = [
    "SPEEDUPS_ACTIVE",
    "CloseCode",
    "Opcode",
    "apply_mask",
    "encode_close_payload",
    "encode_frame",
    "is_valid_close_code",
    "load_speedups",
    "pure_unmask",
    "unmask",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 section 5.2). Every other value is reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """Close status codes with a meaning (RFC 6455 section 7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    """Never sent in a frame; it stands for a close frame without a code."""
    ABNORMAL_CLOSURE = 1006
    """Never sent in a frame; it stands for a connection lost without a close frame."""
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
    """Never sent in a frame; it stands for a failed TLS handshake."""


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame.

    Valid: 1000 to 1003, 1007 to 1014 (the defined codes that are not
    reserved for local use) and 3000 to 4999 (registered and private codes).
    Everything else, including 1004, 1005, 1006, 1015, 1016 to 2999 and
    5000 and above, is a protocol error.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def apply_mask(
    data: bytes | bytearray | memoryview, key: bytes | bytearray | memoryview, offset: int = 0
) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (RFC 6455 section 5.3).

    Masking is its own inverse. ``offset`` is the position of ``data[0]``
    within the frame's payload, for a payload unmasked piece by piece.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    return unmask(data, key, 0, len(data) if data.__class__ in _PLAIN else None, offset)


# One translation table per key byte: the XOR of every byte value with it.
_IDENTITY = int.from_bytes(bytes(range(256)), "big")
_XOR_TABLES = [
    (_IDENTITY ^ int.from_bytes(bytes([k]) * 256, "big")).to_bytes(256, "big") for k in range(256)
]
# Below this size one big-integer XOR is fastest; above it, four strided
# bytes.translate passes (about 2.5x faster on 64 KiB, both at C speed).
_TRANSLATE_FROM = 384
# The key as a little-endian int, times _REPEAT[n], is the key repeated over
# n bytes and a little more (no carries: the ones are 32 bits apart);
# & _LOW[n] keeps n bytes. Cheaper than building the repeated key as bytes.
_REPEAT = [sum(1 << (32 * i) for i in range((n >> 2) + 1)) for n in range(_TRANSLATE_FROM)]
_LOW = [(1 << (8 * n)) - 1 for n in range(_TRANSLATE_FROM)]
# What the fast path takes as is; anything else is checked and converted first.
_PLAIN: frozenset[type] = frozenset((bytes, bytearray))


def pure_unmask(
    data: bytes | bytearray | memoryview,
    key: bytes | bytearray | memoryview,
    start: int = 0,
    end: int | None = None,
    offset: int = 0,
) -> bytes:
    """The pure-Python reference of :func:`unmask`, used without the accelerator.

    It takes what the C path takes (any C-contiguous buffer, seen as its
    bytes; indices resolved as in a slice) and refuses what it refuses, with
    the same exception types.
    """
    if offset & 3 or key.__class__ not in _PLAIN or data.__class__ not in _PLAIN or len(key) != 4:
        data, key = _as_plain(data, key, offset)
    if end is not None and end - start < _TRANSLATE_FROM:
        chunk = data[start:end]  # a slice resolves the indices as the C path does
        size = len(chunk)
        mask = int.from_bytes(key, "little") * _REPEAT[size] & _LOW[size]
        return (int.from_bytes(chunk, "little") ^ mask).to_bytes(size, "little")
    if end is None or not 0 <= start <= end <= len(data):
        start, end, _ = slice(start, end).indices(len(data))
        if end - start < _TRANSLATE_FROM:
            return pure_unmask(data, key, start, max(start, end))
    # Each lane of every fourth byte is XORed with the same key byte; the
    # strided slices read the buffer in place, without copying the range first.
    tables = _XOR_TABLES
    plain: bytes | bytearray = data  # type: ignore[assignment]  # made so by _as_plain
    out = bytearray(end - start)
    out[0::4] = plain[start:end:4].translate(tables[key[0]])
    out[1::4] = plain[start + 1 : end : 4].translate(tables[key[1]])
    out[2::4] = plain[start + 2 : end : 4].translate(tables[key[2]])
    out[3::4] = plain[start + 3 : end : 4].translate(tables[key[3]])
    return bytes(out)


def _as_plain(data: object, key: object, offset: int) -> tuple[bytes | bytearray, bytes]:
    """``data`` and ``key`` as bytes, the key rotated by ``offset``; refuse what C refuses."""
    if not isinstance(key, bytes | bytearray):
        key = _contiguous_bytes(key, "key")
    if len(key) != 4:
        raise ValueError(f"key must be 4 bytes long, not {len(key)}")
    if not isinstance(data, bytes | bytearray):
        data = _contiguous_bytes(data, "data")
    shift = offset & 3
    return data, bytes(key[shift:] + key[:shift])


def _contiguous_bytes(buffer: object, what: str) -> bytes:
    """The bytes of any C-contiguous buffer; TypeError for anything else."""
    view = memoryview(buffer)  # type: ignore[arg-type]  # TypeError if not a buffer
    if not view.c_contiguous:
        raise TypeError(f"{what} must be a C-contiguous buffer")
    return view.tobytes()


def load_speedups(environ: Mapping[str, str] = os.environ) -> ModuleType | None:
    """The ``tidewire_speedups`` module, or ``None`` when the pure path is wanted.

    ``None`` when ``environ`` sets ``TIDEWIRE_NO_SPEEDUPS`` to a value other
    than empty or ``0``, or when the module cannot be imported. This module
    calls it once, at import, with the process environment.
    """
    if environ.get("TIDEWIRE_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("tidewire_speedups")
    except ImportError:
        return None


_speedups = load_speedups()
SPEEDUPS_ACTIVE: bool = _speedups is not None
"""Whether masking runs in C (``tidewire-speedups``) rather than in pure Python."""


class _Unmask(Protocol):
    def __call__(
        self,
        data: bytes | bytearray | memoryview,
        key: bytes | bytearray | memoryview,
        start: int = 0,
        end: int | None = None,
        offset: int = 0,
    ) -> bytes: ...


unmask: _Unmask = pure_unmask if _speedups is None else _speedups.xor_mask
"""unmask(data, key, start=0, end=None, offset=0) -> bytes

XOR ``data[start:end]`` with ``key`` repeated, ``data[start]`` with
``key[offset % 4]``; the result is new bytes.

Reads ``data`` in place, without copying the slice first (the receive
buffer, for a frame's payload), and never changes it. ``start`` and ``end``
are resolved as in a slice. Runs ``tidewire_speedups.xor_mask`` when
:data:`SPEEDUPS_ACTIVE`, else :func:`pure_unmask`: the same bytes either way.

Raises:
    ValueError: ``key`` is not 4 bytes long.
"""


_HEADER_2 = struct.Struct("!BB").pack
_HEADER_4 = struct.Struct("!BBH").pack
_HEADER_10 = struct.Struct("!BBQ").pack


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bytes | None = None
) -> bytes:
    """Return one frame: header, masking key if any, payload (masked if ``mask``).

    The length uses the shortest encoding, as section 5.2 requires. The
    caller checks what the frame may carry (control frames at most 125
    bytes, not fragmented).

    Args:
        opcode: The frame opcode, an :class:`Opcode` value.
        payload: The unmasked payload.
        fin: Whether this is the last frame of its message.
        rsv1: Whether to set RSV1 (permessage-deflate's "compressed" bit).
        mask: The 4-byte masking key: client frames need one, server
            frames must not have one.
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    bit = 0x80 if mask is not None else 0
    if size < 126:
        header = _HEADER_2(first, bit | size)
    elif size < 65536:
        header = _HEADER_4(first, bit | 126, size)
    else:
        header = _HEADER_10(first, bit | 127, size)
    if mask is not None:
        return header + mask + apply_mask(payload, mask)
    return header + payload


def encode_close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: empty for code 1005, else code and UTF-8 reason."""
    if code == CloseCode.NO_STATUS_RECEIVED:
        return b""
    return code.to_bytes(2, "big") + reason.encode()
