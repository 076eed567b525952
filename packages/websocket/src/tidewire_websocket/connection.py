"""The WebSocket state machine shared by both roles: framing, messages, closing.

:class:`~tidewire_websocket.ClientConnection` and
:class:`~tidewire_websocket.ServerConnection` add the opening handshake of
their role; everything after it lives here.
"""

from __future__ import annotations

import abc
import enum
from typing import NoReturn

import h11

from tidewire import (
    DEFAULT_MAX_BUFFER_SIZE,
    NEED_DATA,
    Connection,
    LocalProtocolError,
    NeedData,
    ReceiveState,
    RemoteProtocolError,
)

from .deflate import Deflate
from .events import (
    BytesChunk,
    BytesMessage,
    CloseConnection,
    PerMessageDeflate,
    Ping,
    Pong,
    TextChunk,
    TextMessage,
    WebSocketClosed,
    WebSocketEvent,
)
from .frames import CloseCode, Opcode, encode_close_payload, unmask
from .frames import is_valid_close_code as _is_valid_close_code
from .handshake import DEFAULT_MAX_HEADER_LINE_LENGTH, DEFAULT_MAX_HEADERS, HeadReader
from .outgoing import Framer, close_payload, ping_payload
from .utf8 import InvalidUTF8, UTF8Checker

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE_LENGTH",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUED_PONGS",
    "State",
    "WebSocketConnection",
]

DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
"""The default limit, in bytes, on one frame's payload as received."""

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""The default limit, in bytes, on a received message (after decompression)."""

DEFAULT_MAX_QUEUED_PONGS = 16
"""The default number of automatic pongs queued between two ``data_to_send()`` calls."""

_TEXT = Opcode.TEXT.value
_BINARY = Opcode.BINARY.value
_CONTINUATION = Opcode.CONTINUATION.value
_CLOSE = Opcode.CLOSE.value
_PING = Opcode.PING.value
_PONG = Opcode.PONG.value
_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
_BAD_DATA = CloseCode.INVALID_FRAME_PAYLOAD_DATA.value
_TOO_BIG = CloseCode.MESSAGE_TOO_BIG.value
_NO_STATUS = CloseCode.NO_STATUS_RECEIVED.value
# Compressed payload is inflated in blocks of this many bytes, counted from the
# start of each frame's payload, never in the pieces the network delivered: the
# zlib calls, and so which error (corrupt data, too big, invalid UTF-8) comes
# first, are then the same however the input was split.
_INFLATE_BLOCK = 65536  # as fast as inflating whole 64 KiB reads


class State(enum.Enum):
    """Where a WebSocket connection stands (RFC 6455 sections 4 and 7).

    ``CONNECTING`` → ``OPEN`` → ``LOCAL_CLOSING`` or ``REMOTE_CLOSING`` →
    ``CLOSED``. A rejected handshake, a protocol error and end of file all
    lead straight to ``CLOSED``.
    """

    CONNECTING = "CONNECTING"
    """The opening handshake is under way."""
    OPEN = "OPEN"
    """Messages flow both ways."""
    LOCAL_CLOSING = "LOCAL_CLOSING"
    """We sent a close frame and wait for the peer's; we may send nothing more."""
    REMOTE_CLOSING = "REMOTE_CLOSING"
    """The peer sent a close frame; we owe one (only with ``auto_close=False``)."""
    CLOSED = "CLOSED"
    """Both close frames were exchanged, or the connection failed or ended."""


_SENDING = (State.OPEN, State.REMOTE_CLOSING)


class WebSocketConnection(Connection[WebSocketEvent, WebSocketEvent]):
    """The part of a WebSocket connection common to both roles.

    Not built directly: use :class:`~tidewire_websocket.ClientConnection` or
    :class:`~tidewire_websocket.ServerConnection`. After the opening
    handshake, both behave the same way:

    - :meth:`~tidewire.Connection.next_event` returns :class:`TextMessage` and :class:`BytesMessage`
      (or :class:`TextChunk` and :class:`BytesChunk` when streaming),
      :class:`Ping`, :class:`Pong` and :class:`CloseConnection`; after
      :meth:`~tidewire.Connection.receive_eof`, a final :class:`WebSocketClosed`.
    - :meth:`~tidewire.Connection.send` takes the same events.
    - Received pings are answered at once (``auto_pong``), and a received
      close frame is answered with the same code (``auto_close``).
    - A protocol violation raises :class:`~tidewire.RemoteProtocolError`
      whose ``code`` is the close code (1002 protocol error, 1007 invalid
      data, 1009 too big); the close frame with that code is already in
      :meth:`data_to_send` and the state is ``CLOSED``.

    Args:
        max_frame_size: The largest frame payload accepted, in bytes, or
            ``None`` for no limit. A larger frame fails with 1009 as soon as
            its header arrives.
        max_message_size: The largest message accepted, in bytes after
            decompression, or ``None`` for no limit; exceeding it fails with
            1009 before the excess is held in memory. It applies when
            streaming too.
        streaming: Return each message as :class:`TextChunk` or
            :class:`BytesChunk` pieces as bytes arrive, instead of whole
            messages.
        auto_pong: Answer each ping with a pong.
        auto_close: Answer a received close frame with a close frame with
            the same code. With ``False``, the application sends it (state
            ``REMOTE_CLOSING`` until then).
        max_queued_pongs: At most this many automatic pongs are queued
            between two :meth:`data_to_send` calls; past that only the latest
            ping is answered (RFC 6455 section 5.5.3 allows it), so a ping
            flood cannot grow memory.
        max_buffer_size: The cap on bytes buffered while the opening
            handshake waits (see :class:`tidewire.Connection`), and on the
            size of the HTTP head received.
        max_header_line_length: The longest line of the HTTP head received
            (the request or the response), in bytes with its line ending, or
            ``None``. 8 KiB, as in websockets and most HTTP servers.
        max_headers: The most header lines in the HTTP head received, or
            ``None``. 128, as in websockets.
    """

    _client: bool = False
    _head_codes: tuple[int, int] | None = None  # error codes of a head over a limit

    def __init__(
        self,
        *,
        max_frame_size: int | None = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        streaming: bool = False,
        auto_pong: bool = True,
        auto_close: bool = True,
        max_queued_pongs: int = DEFAULT_MAX_QUEUED_PONGS,
        max_buffer_size: int | None = DEFAULT_MAX_BUFFER_SIZE,
        max_header_line_length: int | None = DEFAULT_MAX_HEADER_LINE_LENGTH,
        max_headers: int | None = DEFAULT_MAX_HEADERS,
    ) -> None:
        super().__init__(max_buffer_size=max_buffer_size)
        self._head = HeadReader(
            max_line_length=max_header_line_length,
            max_headers=max_headers,
            max_size=max_buffer_size,
            codes=self._head_codes,
        )
        self._max_frame = max_frame_size
        self._max_message = max_message_size
        self._streaming = streaming
        self._auto_pong = auto_pong
        self._auto_close = auto_close
        self._max_pongs = max_queued_pongs
        self._state = State.CONNECTING
        self._subprotocol: str | None = None
        self._agreed: tuple[PerMessageDeflate, ...] = ()
        self._deflate: Deflate | None = None
        self._framing = False  # set when the handshake has succeeded
        self._discard = False  # set once input no longer matters
        self._failed = False
        self._close_received: tuple[int, str] | None = None
        # Frames are parsed by index in the receive buffer's own bytes (no
        # copy). _pos runs ahead of the buffer's cursor over what was taken;
        # _sync() moves the cursor there, dropping those bytes in one go.
        self._pos = 0
        self._mask_expected = 0 if self._client else 0x80
        # The frame whose payload is being read; _left < 0 between frames.
        self._left = -1
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
        # Sending.
        self._framer = Framer(client=self._client)
        self._queued_pongs = 0
        self._deferred_pong: bytes | None = None
        # The opening handshake, parsed by h11.
        self._h11 = h11.Connection(h11.CLIENT if self._client else h11.SERVER)

    # -- public state -------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection stands; see :class:`State`."""
        return self._state

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self._subprotocol

    @property
    def extensions(self) -> tuple[PerMessageDeflate, ...]:
        """The extensions agreed in the handshake (empty, or one :class:`PerMessageDeflate`)."""
        return self._agreed

    @property
    def should_close_transport(self) -> bool:
        """Whether the I/O layer should close the TCP connection now.

        After writing what :meth:`data_to_send` returns. True once the peer
        closed its side (end of file), once a handshake was rejected or
        failed, and, on a server, once the connection is ``CLOSED`` (RFC
        6455 section 7.1.1: the server closes TCP first). A client in
        ``CLOSED`` waits for the server to close, with a timeout of its
        choice, then closes anyway.
        """
        if self.receive_state in (ReceiveState.EOF, ReceiveState.CLOSED):
            return True
        if self._state is not State.CLOSED:
            return False
        return not self._client or not self._framing

    # -- receiving ----------------------------------------------------------

    def _next_event(self) -> WebSocketEvent | NeedData:
        if self._framing:
            return self._frame_event()
        return self._handshake_event()

    @abc.abstractmethod
    def _handshake_event(self) -> WebSocketEvent | NeedData:
        """Parse the opening handshake of this role."""

    def _open(self, agreed: PerMessageDeflate | None) -> None:
        """Switch to framing: the first frame starts at the buffer's cursor."""
        self._state = State.OPEN
        self._framing = True
        self._pos = self._buffer.position
        if agreed is not None:
            self._agreed = (agreed,)
            self._deflate = self._framer.deflate = Deflate(agreed, client=self._client)

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
        rx = self._buffer.raw
        if self._discard:
            # After the peer's close frame nothing it sends matters (section 5.5.1).
            self._buffer.skip(len(self._buffer))
            self._pos = self._buffer.position
            return NEED_DATA
        while True:
            pos = self._pos
            avail = len(rx) - pos
            if self._left < 0:
                # A frame header: 2 bytes, an extended length, a masking key.
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
                    size = int.from_bytes(rx[pos + 2 : pos + 10], "big")
                    if size < 65536 or size >> 63:
                        self._fail(_PROTOCOL_ERROR, f"non-minimal length encoding ({size})", pos)
                opcode = b0 & 0x0F
                if masked != self._mask_expected:
                    self._fail(
                        _PROTOCOL_ERROR,
                        "the client sent an unmasked frame"
                        if masked == 0
                        else "the server sent a masked frame",
                        pos,
                    )
                if opcode & 8:
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
                    if masked:
                        payload = unmask(rx, rx[pos + head - 4 : pos + head], pos + head, end)
                    else:
                        payload = bytes(rx[pos + head : end])
                    self._pos = end
                    return self._control(opcode, payload, pos)
                if opcode > _BINARY:
                    self._fail(_PROTOCOL_ERROR, f"reserved opcode {opcode:#x}", pos)
                rsv = b0 & 0x70
                if opcode:
                    if self._kind:
                        self._fail(
                            _PROTOCOL_ERROR,
                            "new data frame while a fragmented message is unfinished",
                            pos,
                        )
                    if rsv and (rsv != 0x40 or self._deflate is None):
                        self._fail(_PROTOCOL_ERROR, f"reserved bits {rsv >> 4:#05b} set", pos)
                    compressed = rsv != 0
                    so_far = 0
                else:
                    if not self._kind:
                        self._fail(_PROTOCOL_ERROR, "continuation frame without a message", pos)
                    if rsv:
                        self._fail(
                            _PROTOCOL_ERROR, "reserved bits set on a continuation frame", pos
                        )
                    compressed = self._compressed
                    so_far = self._size
                if self._max_frame is not None and size > self._max_frame:
                    self._fail(_TOO_BIG, f"frame of {size} bytes (limit {self._max_frame})", pos)
                limit = self._max_message
                if limit is not None and not compressed and so_far + size > limit:
                    self._fail(
                        _TOO_BIG,
                        f"message of at least {so_far + size} bytes (limit {limit})",
                        pos,
                    )
                end = pos + head + size
                if opcode and b0 & 0x80 and not rsv and end <= len(rx) and not self._streaming:
                    # The common case: a whole single-frame message is here.
                    data: bytes
                    if not size:
                        data = b""
                    elif masked:
                        data = unmask(rx, rx[end - size - 4 : end - size], end - size, end)
                    else:
                        data = bytes(rx[pos + head : end])
                    self._pos = end
                    if opcode == _TEXT:
                        try:
                            return TextMessage(data.decode())
                        except UnicodeDecodeError as exc:
                            self._fail(
                                _BAD_DATA,
                                f"invalid UTF-8 in a text message: {exc.reason}",
                                pos + head + exc.start,
                            )
                    return BytesMessage(data)
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
                self._key = bytes(rx[pos + head - 4 : pos + head]) if masked else None
                self._done = 0
                self._payload_at = self._offset_of(pos + head)
                self._pos = pos + head
                continue
            # The payload of a data frame, taken as it arrives (compressed
            # payload: a whole inflate block at a time).
            left = self._left
            take = min(avail, left)
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
            event = self._piece(piece, last, at)
            if event is not None:
                return event

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

    def _piece(
        self, data: bytes, last: bool, at: int
    ) -> TextMessage | BytesMessage | TextChunk | BytesChunk | None:
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
            self._fail_utf8(str(exc), at, exc.start)

    def _fail_utf8(self, message: str, at: int, start: int) -> NoReturn:
        """Fail with 1007 for an invalid sequence at index ``start`` of the piece at ``at``."""
        offset = at if self._compressed else max(at + start, self._payload_at)
        raise RemoteProtocolError(message, code=_BAD_DATA, offset=offset)

    def _control(self, opcode: int, payload: bytes, at: int) -> Ping | Pong | CloseConnection:
        if opcode == _PING:
            if self._auto_pong and self._state in _SENDING:
                if self._queued_pongs < self._max_pongs:
                    self._queued_pongs += 1
                    self._write(self._framer.frame(_PONG, payload))
                else:
                    self._deferred_pong = payload
            return Ping(payload)
        if opcode == _PONG:
            return Pong(payload)
        if not payload:
            code, reason = _NO_STATUS, ""
        elif len(payload) == 1:
            self._fail(_PROTOCOL_ERROR, "close frame with a 1-byte payload", at)
        else:
            code = int.from_bytes(payload[:2], "big")
            if not _is_valid_close_code(code):
                self._fail(_PROTOCOL_ERROR, f"invalid close code {code}", at)
            try:
                reason = payload[2:].decode()
            except UnicodeDecodeError as exc:
                self._fail(_BAD_DATA, f"invalid UTF-8 in the close reason: {exc.reason}", at)
        self._close_received = (code, reason)
        self._discard = True
        self._buffered = bytearray()  # an unfinished message is dropped
        if self._state is State.OPEN:
            if self._auto_close:
                self._write(self._framer.frame(_CLOSE, encode_close_payload(code)))
                self._state = State.CLOSED
            else:
                self._state = State.REMOTE_CLOSING
        else:
            self._state = State.CLOSED
        return CloseConnection(code, reason)

    def _end_of_stream(self) -> WebSocketClosed:
        self._state = State.CLOSED
        if self._close_received is not None:
            return WebSocketClosed(*self._close_received)
        return WebSocketClosed()

    def _on_remote_error(self, error: RemoteProtocolError) -> None:
        if not self._framing:
            self._handshake_failed(error)
        elif self._state in _SENDING:
            code = error.code if isinstance(error.code, int) else _PROTOCOL_ERROR
            self._write(self._framer.frame(_CLOSE, encode_close_payload(code)))
        self._state = State.CLOSED
        self._failed = True

    def _handshake_failed(self, error: RemoteProtocolError) -> None:
        """Queue what the role owes the peer when the handshake fails. Default: nothing."""

    # -- sending ------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Return and forget every byte waiting to be written to the peer.

        Also ends the current round of automatic pongs: the pong for the
        latest ping held back by ``max_queued_pongs`` is queued first.
        """
        if self._deferred_pong is not None:
            if self._state in _SENDING:
                self._write(self._framer.frame(_PONG, self._deferred_pong))
            self._deferred_pong = None
        self._queued_pongs = 0
        return super().data_to_send()

    def _send(self, event: WebSocketEvent) -> None:
        kind = type(event)
        if kind is TextMessage or kind is BytesMessage or kind is TextChunk or kind is BytesChunk:
            self._send_data(event)  # type: ignore[arg-type]
        elif kind is Ping or kind is Pong or kind is CloseConnection:
            self._check_sending(event)
            self._send_control(event)  # type: ignore[arg-type]
        else:
            self._send_handshake(event)

    @abc.abstractmethod
    def _send_handshake(self, event: WebSocketEvent) -> None:
        """Send a handshake event of this role, or raise LocalProtocolError."""

    def _check_sending(self, event: WebSocketEvent) -> None:
        if self._state not in _SENDING:
            raise LocalProtocolError(
                f"cannot send {type(event).__name__} in state {self._state.name}"
            )

    def _send_data(self, event: TextMessage | BytesMessage | TextChunk | BytesChunk) -> None:
        self._check_sending(event)
        self._write(self._framer.message(event))

    def _send_control(self, event: Ping | Pong | CloseConnection) -> None:
        if isinstance(event, CloseConnection):
            self._write(self._framer.frame(_CLOSE, close_payload(event)))
            self._state = State.LOCAL_CLOSING if self._state is State.OPEN else State.CLOSED
        else:
            payload = ping_payload(event)
            self._write(self._framer.frame(_PING if isinstance(event, Ping) else _PONG, payload))
