"""Reading frames and messages after the handshake (RFC 6455 section 5, RFC 7692).

:class:`FrameReader` turns the receive buffer into data events: the header of
each frame, its payload (unmasked, inflated, validated as UTF-8), and the
reassembly of fragmented messages. Control frames are parsed here and handed
to ``FrameReader._control()``, which the connection implements (pongs,
closing): what they mean is the connection's business.
"""

from __future__ import annotations

import abc
from typing import NoReturn

from tidewire import NEED_DATA, Connection, NeedData, RemoteProtocolError

from .deflate import Deflate
from .events import (
    BytesChunk,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextChunk,
    TextMessage,
    WebSocketEvent,
)
from .frames import CloseCode, Opcode, unmask
from .utf8 import InvalidUTF8, UTF8Checker

__all__ = ["FrameReader"]

_TEXT = Opcode.TEXT.value
_BINARY = Opcode.BINARY.value
_PONG = Opcode.PONG.value
_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
_BAD_DATA = CloseCode.INVALID_FRAME_PAYLOAD_DATA.value
_TOO_BIG = CloseCode.MESSAGE_TOO_BIG.value
# Compressed payload is inflated in blocks of this many bytes, counted from the
# start of each frame's payload, never in the pieces the network delivered: the
# zlib calls, and so which error (corrupt data, too big, invalid UTF-8) comes
# first, are then the same however the input was split.
_INFLATE_BLOCK = 65536  # as fast as inflating whole 64 KiB reads

DataEvent = TextMessage | BytesMessage | TextChunk | BytesChunk


class FrameReader(Connection[WebSocketEvent, WebSocketEvent]):
    """The receiving half of a WebSocket connection once frames flow.

    Frames are parsed by index in the receive buffer's own bytes (no copy).
    ``_pos`` runs ahead of the buffer's cursor over what was taken;
    ``_sync()`` moves the cursor there, dropping those bytes in one go.
    """

    _deflate: Deflate | None
    _discard: bool  # set once input no longer matters

    def _init_reader(
        self, *, client: bool, max_frame: int | None, max_message: int | None, streaming: bool
    ) -> None:
        self._max_frame = max_frame
        self._max_message = max_message
        # A single-frame message of at most this many bytes takes the fast path.
        limits = [limit for limit in (max_frame, max_message) if limit is not None]
        self._fast_limit = min(limits) if limits else 1 << 63
        self._streaming = streaming
        self._pos = 0
        self._mask_expected = 0 if client else 0x80
        # The frame whose payload is being read; _left < 0 between frames.
        self._left = -1
        self._wait = 0  # while a whole message is awaited: the index where it ends
        self._fin = 0
        self._key: bytes | None = None
        self._done = 0  # payload bytes of the current frame already taken
        self._payload_at = 0  # the stream offset of the current frame's payload
        # The message being received: its opcode (0: none) and pieces.
        self._kind = 0
        self._compressed = False
        self._size = 0
        self._buffered = bytearray()
        self._held = bytearray()  # compressed bytes of an incomplete inflate block
        self._held_at = 0  # the stream offset of the first held byte
        self._utf8 = UTF8Checker()

    @abc.abstractmethod
    def _control(self, opcode: int, payload: bytes, at: int) -> Ping | Pong | CloseConnection:
        """Act on a received control frame; return its event."""

    def _sync(self) -> None:
        """Move the buffer's cursor to ``_pos``, dropping the bytes parsed so far."""
        buffer = self._buffer
        buffer.skip(self._pos - buffer.position)
        self._pos = buffer.position

    def _fail(self, code: int, message: str, at: int) -> NoReturn:
        """Raise for bad bytes at index ``at`` of the buffer's bytes.

        Frame parsing deals in indices and only turns one into a stream
        offset here: the conversion costs more than a small frame's header.
        """
        raise RemoteProtocolError(message, code=code, offset=self._offset_of(at))

    def _offset_of(self, index: int) -> int:
        """The stream offset of index ``index`` of the buffer's bytes."""
        buffer = self._buffer
        return buffer.offset + index - buffer.position

    def _frame_event(self) -> WebSocketEvent | NeedData:
        if (self._discard or self._wait) and self._still_waiting():
            return NEED_DATA
        rx = self._buffer.raw
        while True:
            pos = self._pos
            if self._left >= 0:
                event = self._payload(rx, pos)
                if event is None:
                    continue
                return event
            # A frame header: 2 bytes, an extended length, a masking key.
            avail = len(rx) - pos
            if avail < 2:
                self._sync()
                return NEED_DATA
            b0 = rx[pos]
            b1 = rx[pos + 1]
            size = b1 & 0x7F
            head = 2 if size < 126 else 4 if size == 126 else 10
            masked = b1 & 0x80
            if masked:
                head += 4
            if avail < head:
                self._sync()
                return NEED_DATA
            if size == 126:
                size = rx[pos + 2] << 8 | rx[pos + 3]  # no slice: the common medium size
                if size < 126:
                    self._fail(_PROTOCOL_ERROR, f"non-minimal length encoding ({size})", pos)
            elif size == 127:
                size = self._long_length(rx, pos)
            if masked != self._mask_expected:
                self._fail_masking(masked, pos)
            if b0 & 8:
                return self._control_frame(rx, pos, b0, size, head)
            end = pos + head + size
            if (
                (b0 == 0x81 or b0 == 0x82)  # final, no reserved bit, text or binary
                and not self._kind
                and size <= self._fast_limit
                and not self._streaming
            ):
                if end <= len(rx):
                    # The common case: a whole single-frame message is here.
                    data: bytes
                    if not size:
                        data = b""
                    elif masked:
                        data = unmask(rx, rx[end - size - 4 : end - size], end - size, end)
                    else:
                        data = bytes(rx[pos + head : end])
                    self._pos = end
                    if b0 == 0x81:
                        try:
                            return TextMessage(data.decode())
                        except UnicodeDecodeError as exc:
                            self._fail(
                                _BAD_DATA,
                                f"invalid UTF-8 in a text message: {exc.reason}",
                                pos + head + exc.start,
                            )
                    return BytesMessage(data)
                if b0 == 0x82:
                    # A binary message within the limits: wait for all of it and
                    # unmask it once into the message's bytes (in pieces it is
                    # copied three times more). Text comes in pieces, to fail at
                    # the first bad UTF-8 byte.
                    self._sync()
                    self._wait = self._pos + head + size  # where it ends, once here
                    return NEED_DATA
            elif (
                (b0 == 0xC1 or b0 == 0xC2)  # final, compressed, text or binary
                and self._deflate is not None
                and not self._kind
                and size <= _INFLATE_BLOCK
                and end <= len(rx)
                and not self._streaming
            ):
                return self._whole_compressed(rx, pos, b0, head, end)
            self._start_frame(rx, pos, b0, size, head)

    def _still_waiting(self) -> bool:
        if self._discard:
            # After the peer's close frame nothing it sends matters (section 5.5.1).
            self._buffer.skip(len(self._buffer))
            self._pos = self._buffer.position
            return True
        # Waiting for the rest of a whole binary message: check nothing else
        # until it is here (it may come in many reads).
        if len(self._buffer.raw) < self._wait:
            return True
        self._wait = 0
        return False

    def _fail_masking(self, masked: int, pos: int) -> NoReturn:
        which = (
            "the client sent an unmasked frame" if masked == 0 else "the server sent a masked frame"
        )
        self._fail(_PROTOCOL_ERROR, which, pos)

    def _long_length(self, rx: bytearray, pos: int) -> int:
        size = int.from_bytes(rx[pos + 2 : pos + 10], "big")
        if size < 65536 or size >> 63:
            self._fail(_PROTOCOL_ERROR, f"non-minimal length encoding ({size})", pos)
        return size

    def _whole_compressed(
        self, rx: bytearray, pos: int, b0: int, head: int, end: int
    ) -> TextMessage | BytesMessage:
        """A whole single-frame compressed message: one inflate block, taken at once.

        The same checks, errors and offsets as the general path, which would
        take this payload as one block too, in a few calls fewer.
        """
        start = pos + head
        if self._mask_expected:
            payload = unmask(rx, rx[start - 4 : start], start, end)
        else:
            payload = bytes(rx[start:end])
        self._pos = end
        deflate = self._deflate
        assert deflate is not None
        deflate.start_message()
        limit = self._max_message
        try:
            data = deflate.decompress(payload, limit, last=True)
        except ValueError as exc:
            self._fail(_PROTOCOL_ERROR, f"invalid compressed data: {exc}", start)
        if limit is not None and len(data) > limit:
            self._fail(_TOO_BIG, f"message of over {limit} bytes once decompressed", start)
        if b0 == 0xC2:
            return BytesMessage(data)
        try:
            return TextMessage(data.decode())
        except UnicodeDecodeError as exc:
            self._fail(_BAD_DATA, f"invalid UTF-8 in a text message: {exc.reason}", start)

    def _control_frame(
        self, rx: bytearray, pos: int, b0: int, size: int, head: int
    ) -> WebSocketEvent | NeedData:
        """Check a control frame's header; parse it when whole."""
        opcode = b0 & 0x0F
        if opcode > _PONG:
            self._fail(_PROTOCOL_ERROR, f"reserved opcode {opcode:#x}", pos)
        if not b0 & 0x80:
            self._fail(_PROTOCOL_ERROR, "fragmented control frame", pos)
        if b0 & 0x70:
            self._fail(_PROTOCOL_ERROR, "reserved bits set on a control frame", pos)
        if size > 125:
            self._fail(_PROTOCOL_ERROR, f"control frame of {size} bytes (max 125)", pos)
        end = pos + head + size
        if len(rx) < end:
            self._sync()
            return NEED_DATA
        if self._mask_expected:
            payload = unmask(rx, rx[pos + head - 4 : pos + head], pos + head, end)
        else:
            payload = bytes(rx[pos + head : end])
        self._pos = end
        return self._control(opcode, payload, pos)

    def _start_frame(self, rx: bytearray, pos: int, b0: int, size: int, head: int) -> None:
        """Check a data frame's header off the fast path; start reading its payload."""
        opcode = b0 & 0x0F
        if opcode > _BINARY:
            self._fail(_PROTOCOL_ERROR, f"reserved opcode {opcode:#x}", pos)
        rsv = b0 & 0x70
        if opcode:
            if self._kind:
                self._fail(
                    _PROTOCOL_ERROR, "new data frame while a fragmented message is unfinished", pos
                )
            if rsv and (rsv != 0x40 or self._deflate is None):
                self._fail(_PROTOCOL_ERROR, f"reserved bits {rsv >> 4:#05b} set", pos)
            compressed = rsv != 0
            so_far = 0
        else:
            if not self._kind:
                self._fail(_PROTOCOL_ERROR, "continuation frame without a message", pos)
            if rsv:
                self._fail(_PROTOCOL_ERROR, "reserved bits set on a continuation frame", pos)
            compressed = self._compressed
            so_far = self._size
        if self._max_frame is not None and size > self._max_frame:
            self._fail(_TOO_BIG, f"frame of {size} bytes (limit {self._max_frame})", pos)
        limit = self._max_message
        if limit is not None and not compressed and so_far + size > limit:
            self._fail(_TOO_BIG, f"message of at least {so_far + size} bytes (limit {limit})", pos)
        if opcode:
            self._kind = opcode
            self._compressed = compressed
            self._size = 0
            if opcode == _TEXT:
                self._utf8.reset()
            if compressed:
                assert self._deflate is not None
                self._deflate.start_message()
        if not compressed:
            self._size += size
        self._left = size
        self._fin = b0 & 0x80
        self._key = bytes(rx[pos + head - 4 : pos + head]) if self._mask_expected else None
        self._done = 0
        self._payload_at = self._offset_of(pos + head)
        self._pos = pos + head

    def _payload(self, rx: bytearray, pos: int) -> DataEvent | NeedData | None:
        """Take what is here of the current data frame's payload.

        Compressed payload is taken a whole inflate block at a time. Returns
        an event if one is due, ``None`` to go on parsing, or ``NEED_DATA``.
        """
        left = self._left
        take = min(len(rx) - pos, left)
        if self._compressed:
            block = _INFLATE_BLOCK - len(self._held)
            if take < min(left, block):
                self._hold(rx, pos, take)
                self._sync()
                return NEED_DATA
            take = min(take, block)
        elif not take and left:
            self._sync()
            return NEED_DATA
        piece = self._take_payload(rx, pos, take)
        at = self._payload_at + self._done - take
        if self._held:
            self._held += piece
            piece = bytes(self._held)
            self._held = bytearray()
            at = self._held_at
        left -= take
        if left:
            self._left = left
            last = False
        else:
            self._left = -1
            last = self._fin != 0
        return self._piece(piece, last, at)

    def _take_payload(self, rx: bytearray, pos: int, take: int) -> bytes:
        """Unmask ``take`` bytes of the current frame's payload at index ``pos``; take them."""
        end = pos + take
        key = self._key
        piece: bytes
        if key is not None:
            shift = self._done & 3
            piece = unmask(rx, key[shift:] + key[:shift], pos, end)
        else:
            piece = bytes(rx[pos:end])
        self._done += take
        self._pos = end
        return piece

    def _hold(self, rx: bytearray, pos: int, take: int) -> None:
        """Keep the ``take`` compressed bytes at ``pos`` until their inflate block is complete."""
        if not take:
            return
        if not self._held:
            self._held_at = self._payload_at + self._done
        self._held += self._take_payload(rx, pos, take)
        self._left -= take

    def _piece(self, data: bytes, last: bool, at: int) -> DataEvent | None:
        """Take in a piece of the current message's payload; return an event if one is due.

        ``at`` is the stream offset of the piece's first byte (of compressed
        data, when the message is compressed).
        """
        if self._compressed:
            data = self._inflate(data, last, at)
        if last:
            self._kind, kind = 0, self._kind
        else:
            kind = self._kind
        if kind == _TEXT:
            text = self._decode(data, last, at)
            if self._streaming:
                return TextChunk(text, last) if text or last else None
        elif self._streaming:
            return BytesChunk(data, last) if data or last else None
        # Reassembly keeps the raw bytes in one buffer: memory stays at the
        # message's size however many (even empty) fragments it came in.
        # Text was validated piece by piece above and is decoded once at
        # the end, which cannot fail.
        buffer = self._buffered
        if not last:
            buffer += data
            return None
        if buffer:
            buffer += data
            data = bytes(buffer)
            self._buffered = bytearray()
        elif kind == _TEXT:
            return TextMessage(text)
        return TextMessage(data.decode()) if kind == _TEXT else BytesMessage(data)

    def _inflate(self, data: bytes, last: bool, at: int) -> bytes:
        """Inflate one block of a compressed message; fail at ``at`` if it is bad or too big."""
        limit = self._max_message
        deflate = self._deflate
        assert deflate is not None
        try:
            data = deflate.decompress(
                data, None if limit is None else limit - self._size, last=last
            )
        except ValueError as exc:
            raise RemoteProtocolError(
                f"invalid compressed data: {exc}", code=_PROTOCOL_ERROR, offset=at
            ) from None
        self._size += len(data)
        if limit is not None and self._size > limit:
            raise RemoteProtocolError(
                f"message of over {limit} bytes once decompressed", code=_TOO_BIG, offset=at
            )
        return data

    def _decode(self, data: bytes, last: bool, at: int) -> str:
        """Validate a piece of a text message as UTF-8, failing fast; return its text.

        An error points at the first byte of the invalid sequence, or at the
        start of this frame's payload if that sequence began in an earlier
        frame; in compressed messages, which have no such byte on the wire,
        at the start of the inflate block.
        """
        try:
            return self._utf8.decode(data, last)
        except InvalidUTF8 as exc:
            offset = at if self._compressed else max(at + exc.start, self._payload_at)
            raise RemoteProtocolError(str(exc), code=_BAD_DATA, offset=offset) from None
