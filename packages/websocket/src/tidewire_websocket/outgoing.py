"""What an application sends: checks of each event's fields, then its frames.

Events are plain value objects that accept any field values, so everything a
caller can get wrong is caught here, before the connection changes, and
reported as :class:`~tidewire.LocalProtocolError` with what was wrong: never
a ``TypeError``, ``UnicodeEncodeError`` or ``ValueError`` from deeper down.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from tidewire import LocalProtocolError, as_bytes, describe

from .events import BytesChunk, BytesMessage, CloseConnection, Ping, Pong, TextChunk, TextMessage
from .frames import CloseCode, Opcode, encode_close_payload, encode_frame, is_valid_close_code

if TYPE_CHECKING:
    from .deflate import Deflate

__all__ = [
    "Framer",
    "check_flag",
    "close_payload",
    "data_payload",
    "ping_payload",
    "sequence",
]

_NO_STATUS = CloseCode.NO_STATUS_RECEIVED.value
_CONTINUATION = Opcode.CONTINUATION.value
_MASK_POOL = 4096  # random bytes drawn at once for client masking keys


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


class Framer:
    """Turns what one side sends into frames: fragmented messages, compression, masking.

    The connection sets ``deflate`` to its compression state once
    permessage-deflate was agreed; until then messages go uncompressed.

    Args:
        client: Whether frames are masked, each with a fresh random key.
    """

    __slots__ = ("_client", "_compressed", "_kind", "_mask_index", "_masks", "deflate")

    def __init__(self, *, client: bool) -> None:
        self._client = client
        self.deflate: Deflate | None = None
        self._kind = 0  # opcode of the fragmented message being sent
        self._compressed = False  # whether that message is compressed
        self._masks = b""
        self._mask_index = _MASK_POOL  # keys come from a pool of os.urandom bytes

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
        """One frame, masked if this is a client's."""
        if not self._client:
            return encode_frame(opcode, payload, fin=fin, rsv1=rsv1)
        index = self._mask_index
        if index == _MASK_POOL:
            self._masks = os.urandom(_MASK_POOL)
            index = 0
        self._mask_index = index + 4
        mask = self._masks[index : index + 4]
        return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask)

    def message(self, event: TextMessage | BytesMessage | TextChunk | BytesChunk) -> bytes:
        """The frame of a data event, compressed if agreed and asked for.

        Raises:
            LocalProtocolError: the event's fields are invalid, or it cannot
                follow what was sent before (a message while a fragmented one
                is unfinished); raised before anything changes.
        """
        opcode, payload = data_payload(event)
        deflate = self.deflate
        if isinstance(event, TextChunk | BytesChunk):
            last = event.last
            if self._kind:
                if self._kind != opcode:
                    raise LocalProtocolError(
                        f"cannot send {type(event).__name__}: another kind of message is unfinished"
                    )
                compressed = self._compressed
                rsv1 = False
                first = _CONTINUATION
            else:
                compressed = rsv1 = deflate is not None and event.compress
                first = opcode
            self._kind = 0 if last else opcode
            self._compressed = compressed
        else:
            if self._kind:
                raise LocalProtocolError(
                    f"cannot send {type(event).__name__}: a fragmented message is unfinished"
                    " (send its last chunk first)"
                )
            last = True
            compressed = rsv1 = deflate is not None and event.compress
            first = opcode
        if compressed:
            assert deflate is not None
            payload = deflate.compress(payload, last=last)
        return self.frame(first, payload, fin=last, rsv1=rsv1)
