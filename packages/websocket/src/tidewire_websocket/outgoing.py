"""Checks of the events an application sends, turning each field into what goes on the wire.

Events are plain value objects that accept any field values, so everything a
caller can get wrong is caught here, before the connection changes, and
reported as :class:`~tidewire.LocalProtocolError` with what was wrong: never
a ``TypeError``, ``UnicodeEncodeError`` or ``ValueError`` from deeper down.
"""

from __future__ import annotations

from typing import Any

from tidewire import LocalProtocolError

from .events import BytesChunk, BytesMessage, CloseConnection, Ping, Pong, TextChunk, TextMessage
from .frames import CloseCode, Opcode, encode_close_payload, is_valid_close_code

__all__ = [
    "as_bytes",
    "check_flag",
    "close_payload",
    "data_payload",
    "describe",
    "ping_payload",
    "sequence",
]

_NO_STATUS = CloseCode.NO_STATUS_RECEIVED.value


def describe(value: object) -> str:
    """A short description of any value for an error message, which never raises.

    ``repr()`` cannot be trusted with arbitrary values: an int of over 4,300
    digits refuses to be converted, a caller's class may raise in it.
    """
    if isinstance(value, str | bytes | bool | float | type(None)) or (
        type(value) is int and value.bit_length() <= 64
    ):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a value of type {type(value).__name__}"


def as_bytes(value: object, what: str) -> bytes:
    """``value`` (bytes, bytearray or memoryview) as bytes; else LocalProtocolError."""
    if type(value) is bytes:
        return value
    if not isinstance(value, bytes | bytearray | memoryview):
        raise LocalProtocolError(f"{what} must be bytes-like, not {type(value).__name__}")
    try:
        return bytes(value)
    except ValueError as exc:  # a released memoryview
        raise LocalProtocolError(f"{what} cannot be read: {exc}") from None


def check_flag(value: object, what: str) -> bool:
    """``value`` if it is a bool, else LocalProtocolError naming ``what``."""
    if type(value) is not bool:
        raise LocalProtocolError(f"{what} must be a bool, not {type(value).__name__}")
    return value


def sequence(value: object, kind: type | tuple[type, ...], what: str) -> tuple[Any, ...]:
    """``value``, a tuple or list whose items are all ``kind``, as a tuple; else LocalProtocolError.

    A ``str`` or ``bytes`` is refused although it is a sequence: it is the
    classic mistake of passing one item where a tuple of them is expected.
    """
    if not isinstance(value, tuple | list):
        raise LocalProtocolError(f"{what} must be a tuple, not {type(value).__name__}")
    for item in value:
        if not isinstance(item, kind):
            raise LocalProtocolError(f"{what} cannot hold {describe(item)}")
    return tuple(value)


def data_payload(event: TextMessage | BytesMessage | TextChunk | BytesChunk) -> tuple[int, bytes]:
    """The opcode and payload of a data event, its fields checked."""
    check_flag(event.compress, "compress")
    if isinstance(event, TextChunk | BytesChunk):
        check_flag(event.last, "last")
    if isinstance(event, TextMessage | TextChunk):
        data = event.data
        if type(data) is not str:
            raise LocalProtocolError(f"text data must be str, not {type(data).__name__}")
        try:
            return Opcode.TEXT.value, data.encode()
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(f"text cannot be encoded as UTF-8: {exc.reason}") from None
    return Opcode.BINARY.value, as_bytes(event.data, "binary data")


def ping_payload(event: Ping | Pong) -> bytes:
    """The payload of a ping or pong, checked."""
    name = type(event).__name__
    payload = as_bytes(event.payload, f"a {name} payload")
    if len(payload) > 125:
        raise LocalProtocolError(f"a {name} payload is at most 125 bytes")
    return payload


def close_payload(event: CloseConnection) -> bytes:
    """The payload of a close frame, its code and reason checked."""
    code, reason = event.code, event.reason
    if type(code) is not int or not (is_valid_close_code(code) or code == _NO_STATUS):
        raise LocalProtocolError(f"cannot send close code {describe(code)}")
    if type(reason) is not str:
        raise LocalProtocolError(f"the close reason must be a str, not {type(reason).__name__}")
    if code == _NO_STATUS and reason:
        raise LocalProtocolError("a close frame without a code cannot have a reason")
    try:
        payload = encode_close_payload(code, reason)
    except UnicodeEncodeError:
        raise LocalProtocolError("the close reason cannot be encoded as UTF-8") from None
    if len(payload) > 125:
        raise LocalProtocolError("the close reason is longer than 123 bytes of UTF-8")
    return payload
