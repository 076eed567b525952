"""The WebSocket state machine shared by both roles: messages, control frames, closing, time.

:class:`~tidewire_websocket.ClientConnection` and
:class:`~tidewire_websocket.ServerConnection` add the opening handshake of
their role; :class:`~tidewire_websocket.reader.FrameReader` parses frames;
everything else after the handshake lives here: answering pings and close
frames, keepalive, the closing handshake's deadlines, and how the connection
ended (:attr:`WebSocketConnection.close_code`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import h11

from tidewire import (
    DEFAULT_MAX_BUFFER_SIZE,
    BytesLike,
    LocalProtocolError,
    NeedData,
    ReceiveState,
    RemoteProtocolError,
)

from .deadlines import Deadlines
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
from .frames import CloseCode, Opcode, encode_close_payload
from .frames import is_valid_close_code as _is_valid_close_code
from .handshake import DEFAULT_MAX_HEADER_LINE_LENGTH, DEFAULT_MAX_HEADERS, HeadReader
from .outgoing import Framer, close_payload, ping_payload
from .state import SENDING as _SENDING
from .state import State

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE_LENGTH",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUED_PONGS",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "State",
    "WebSocketConnection",
]

DEFAULT_MAX_FRAME_SIZE = 1024 * 1024
"""The default limit, in bytes, on one frame's payload as received."""

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""The default limit, in bytes, on a received message (after decompression)."""

DEFAULT_MAX_QUEUED_PONGS = 16
"""The default number of automatic pongs queued between two ``data_to_send()`` calls."""

DEFAULT_PING_INTERVAL = 20.0
"""The default seconds between keepalive pings (as in websockets)."""

DEFAULT_PING_TIMEOUT = 20.0
"""The default seconds a keepalive ping waits for its pong before the connection fails."""

DEFAULT_OPEN_TIMEOUT = 10.0
"""The default seconds allowed for the opening handshake."""

DEFAULT_CLOSE_TIMEOUT = 10.0
"""The default seconds the closing handshake, and a client's wait for TCP to close, may take."""

_CLOSE = Opcode.CLOSE.value
_PING = Opcode.PING.value
_PONG = Opcode.PONG.value
_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
_BAD_DATA = CloseCode.INVALID_FRAME_PAYLOAD_DATA.value
_NO_STATUS = CloseCode.NO_STATUS_RECEIVED.value
_ABNORMAL = CloseCode.ABNORMAL_CLOSURE.value
_INTERNAL_ERROR = CloseCode.INTERNAL_ERROR.value


class WebSocketConnection(Deadlines):
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
      data, 1009 too big); the state is ``CLOSED`` and the close frame with
      that code is owed: :meth:`data_to_send` returns it, after anything
      sent before it is called. Until then data, pings and pongs may still
      be sent (:attr:`can_send`), so that an I/O layer can deliver the
      messages received before the bad bytes and send the answers to them
      first, however the input was split.

    **Time** is an input: with a ``clock`` (the caller's, such as
    ``loop.time``), the connection keeps deadlines and says when it next
    needs :meth:`~tidewire.Connection.handle_timer` through
    :meth:`~tidewire.Connection.get_timer`. Without one it has no timers.
    Its deadlines are: the end of the opening handshake within
    ``open_timeout`` (else the connection is abandoned); a keepalive ping
    every ``ping_interval`` seconds while ``OPEN``, whose pong must come
    within ``ping_timeout`` (else a close frame with 1011 is sent and the
    connection is abandoned); the peer's close frame within
    ``close_timeout`` of ours; on a client, the server's closing of TCP
    within ``close_timeout`` of the closing handshake. Pings the application
    sends are timed on the same clock: the :class:`Pong` that answers them
    lists them, with their round-trip times, in ``answered``.

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
        clock: The caller's clock, read only to start a deadline and to time
            a ping; ``None`` for no timers.
        ping_interval: Seconds between keepalive pings, or ``None``.
        ping_timeout: Seconds a keepalive ping waits for its pong, or ``None``.
        close_timeout: Seconds allowed for the closing handshake, or ``None``.
        open_timeout: Seconds allowed for the opening handshake, from the
            connection's creation, or ``None``.
        hold_failures: After a protocol error, keep the close frame owed out
            of :meth:`data_to_send` until :meth:`release_failure` is called
            (or ``close_timeout`` has passed, with a clock). For an I/O layer
            that parses ahead of its application: it delivers the messages
            received before the bad bytes, sends the answers to them, then
            releases the failure, so what the peer sees does not depend on
            how the input was split.

    Raises:
        ValueError: a timer's duration is not positive.
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
        clock: Callable[[], float] | None = None,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        close_timeout: float | None = DEFAULT_CLOSE_TIMEOUT,
        open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
        hold_failures: bool = False,
    ) -> None:
        super().__init__(max_buffer_size=max_buffer_size)
        self._head = HeadReader(
            max_line_length=max_header_line_length,
            max_headers=max_headers,
            max_size=max_buffer_size,
            codes=self._head_codes,
        )
        self._init_reader(
            client=self._client,
            max_frame=max_frame_size,
            max_message=max_message_size,
            streaming=streaming,
        )
        self._auto_pong = auto_pong
        self._auto_close = auto_close
        self._max_pongs = max_queued_pongs
        self._state = State.CONNECTING
        self._subprotocol: str | None = None
        self._agreed: tuple[PerMessageDeflate, ...] = ()
        self._deflate = None
        self._framing = False  # set when the handshake has succeeded
        self._discard = False
        self._failed = False
        self._close_received: tuple[int, str] | None = None
        self._close_code: int | None = None
        self._close_reason = ""
        # Sending.
        self._framer = Framer(client=self._client)
        self._queued_pongs = 0
        self._deferred_pong: bytes | None = None
        self._owed_close: bytes | None = None  # after a protocol error, until drained
        self._hold_failures = hold_failures
        self._holding = False  # the owed close frame waits for release_failure()
        self._abandoned = False
        self._abort = False  # abandoned because a deadline passed
        self._init_deadlines(clock, ping_interval, ping_timeout, close_timeout, open_timeout)
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
    def can_send(self) -> bool:
        """Whether messages, pings and pongs may be sent now.

        True in ``OPEN`` and ``REMOTE_CLOSING``, and after a protocol error
        until :meth:`data_to_send` has returned the close frame it owes.
        """
        return self._state in _SENDING or self._owed_close is not None

    @property
    def close_code(self) -> int | None:
        """How the connection ended, once it has; ``None`` until then.

        The code of the peer's close frame (``1005`` if it had none); after
        a protocol error, that error's close code (``1006`` if it has none,
        as in a failed handshake); ``1006`` when the connection ended
        without a close frame (end of file, a deadline passed, :meth:`fail`).
        """
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code` (the error's message after one)."""
        return self._close_reason

    @property
    def should_close_transport(self) -> bool:
        """Whether the I/O layer should close the TCP connection now.

        After writing what :meth:`data_to_send` returns. True once the peer
        closed its side (end of file), once a handshake was rejected or
        failed, once the connection was abandoned (see
        :attr:`should_abort_transport`) and, on a server, once the
        connection is ``CLOSED`` (RFC 6455 section 7.1.1: the server closes
        TCP first). A client in ``CLOSED`` waits for the server to close,
        at most ``close_timeout`` seconds when it has a clock.
        """
        if self._abandoned or self.receive_state in (ReceiveState.EOF, ReceiveState.CLOSED):
            return True
        if self._state is not State.CLOSED:
            return False
        return not self._client or not self._framing

    @property
    def should_abort_transport(self) -> bool:
        """Whether a deadline passed, so TCP is to be dropped without waiting to drain.

        True once the opening handshake, a keepalive pong, the peer's close
        frame or the server's closing of TCP did not come in time: the peer
        may not be reading. Write :meth:`data_to_send` once more (a close
        frame may be in it), then abort the transport.
        """
        return self._abort

    # -- receiving ----------------------------------------------------------

    def receive_data(self, data: BytesLike) -> None:
        """As :meth:`tidewire.Connection.receive_data`; ignored once the connection is abandoned."""
        if not self._abandoned:
            super().receive_data(data)

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
        # max_buffer_size caps the handshake; frames have their own limits
        # (a whole single-frame message may wait in the buffer: at most the
        # smaller of max_frame_size and max_message_size, plus its header).
        self._max_buffer_size = None
        self._close_deadline = self._timer = None  # the opening deadline
        if agreed is not None:
            self._agreed = (agreed,)
            self._deflate = self._framer.deflate = Deflate(agreed, client=self._client)
        if self._clock is not None and self._ping_interval is not None:
            self._next_ping = self._clock() + self._ping_interval
            self._timer = self._next_ping

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
            return Pong(payload, self._acknowledge(payload)) if self._pings else Pong(payload)
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
        self._close_code, self._close_reason = code, reason
        self._discard = True
        self._buffered = bytearray()  # an unfinished message is dropped
        if self._state is State.OPEN and not self._auto_close:
            self._state = State.REMOTE_CLOSING
            self._stop_keepalive()
        else:
            if self._state is State.OPEN:
                self._write(self._framer.frame(_CLOSE, encode_close_payload(code)))
            self._closed()
        return CloseConnection(code, reason)

    def _end_of_stream(self) -> WebSocketClosed:
        self._state = State.CLOSED
        self._clear_timers()
        if self._close_code is None:
            self._close_code = _ABNORMAL
        if self._close_received is not None:
            return WebSocketClosed(*self._close_received)
        return WebSocketClosed()

    def _on_remote_error(self, error: RemoteProtocolError) -> None:
        code = error.code if isinstance(error.code, int) else _PROTOCOL_ERROR
        if not self._framing:
            self._handshake_failed(error)
            code = _ABNORMAL  # no WebSocket connection to close
        elif self._state in _SENDING:
            self._owed_close = self._framer.frame(_CLOSE, encode_close_payload(code))
            self._holding = self._hold_failures
        self._state = State.CLOSED
        self._failed = True
        # Nothing failed or closed before: parsing stops at a close frame or a failure.
        self._close_code = code if code >= 1000 else _ABNORMAL
        self._close_reason = error.message
        self._clear_timers()
        if self._holding:
            self._start_close_deadline()  # the failure is held, not for ever

    def _handshake_failed(self, error: RemoteProtocolError) -> None:
        """Queue what the role owes the peer when the handshake fails. Default: nothing."""

    # -- sending ------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Return and forget every byte waiting to be written to the peer.

        Also ends the current round of automatic pongs: the pong for the
        latest ping held back by ``max_queued_pongs`` is queued first. After
        a protocol error, the close frame owed comes last (unless held, see
        ``hold_failures``), and from then on nothing more can be sent.
        """
        if self._deferred_pong is not None:
            if self.can_send:
                self._write(self._framer.frame(_PONG, self._deferred_pong))
            self._deferred_pong = None
        self._queued_pongs = 0
        if self._owed_close is not None and not self._holding:
            self._write(self._owed_close)
            self._owed_close = None
            self._closed()
        return super().data_to_send()

    def _send(self, event: WebSocketEvent) -> None:
        kind = type(event)
        if kind is TextMessage or kind is BytesMessage or kind is TextChunk or kind is BytesChunk:
            self._check_sending(event)
            self._write(self._framer.message(event))  # type: ignore[arg-type]
        elif kind is Ping or kind is Pong:
            self._check_sending(event)
            self._send_ping_or_pong(event)  # type: ignore[arg-type]
        elif kind is CloseConnection:
            if self._state not in _SENDING:
                raise LocalProtocolError(f"cannot send CloseConnection in state {self._state.name}")
            self._send_close(event)  # type: ignore[arg-type]
        else:
            self._send_handshake(event)

    @abc.abstractmethod
    def _send_handshake(self, event: WebSocketEvent) -> None:
        """Send a handshake event of this role, or raise LocalProtocolError."""

    def _check_sending(self, event: WebSocketEvent) -> None:
        if not self.can_send:
            raise LocalProtocolError(
                f"cannot send {type(event).__name__} in state {self._state.name}"
            )

    def _send_ping_or_pong(self, event: Ping | Pong) -> None:
        payload = ping_payload(event)
        if isinstance(event, Pong):
            self._write(self._framer.frame(_PONG, payload))
            return
        if self._clock is not None:
            if payload in self._pings:
                raise LocalProtocolError("a ping with this payload is already waiting for its pong")
            self._pings[payload] = self._clock()
        self._write(self._framer.frame(_PING, payload))

    def _send_close(self, event: CloseConnection) -> None:
        self._write(self._framer.frame(_CLOSE, close_payload(event)))
        if self._state is State.OPEN:
            self._state = State.LOCAL_CLOSING
            self._stop_keepalive()
            self._start_close_deadline()
        else:
            self._closed()

    def fail(self, code: int = _INTERNAL_ERROR, reason: str = "") -> None:
        """Fail the connection at once (RFC 6455 section 7.1.7) and abandon it.

        If it is ``OPEN``, a close frame with ``code`` and ``reason`` is
        queued; no answer is awaited. The state becomes ``CLOSED``,
        :attr:`close_code` ``1006``, :attr:`should_close_transport` true, and
        :meth:`~tidewire.Connection.next_event` returns the closing
        :class:`WebSocketClosed`. For an application that cannot go on, such
        as one that could not finish a fragmented message.

        Raises:
            LocalProtocolError: the code or reason cannot be sent; nothing changed.
        """
        payload = close_payload(CloseConnection(code, reason))
        self._abandon(payload, abort=False)

    def release_failure(self) -> None:
        """Let the close frame owed after a protocol error into :meth:`data_to_send`.

        Only useful with ``hold_failures=True``; otherwise, or called again,
        it does nothing.
        """
        if self._holding:
            self._holding = False
            self._close_deadline = self._timer = None

    def _abandon(self, close: bytes | None, *, abort: bool = True) -> None:
        """Give up on the connection: queue ``close`` if still open, end both sides."""
        if self._owed_close is not None:  # a protocol error's, held or not drained yet
            self._write(self._owed_close)
        elif close is not None and self._state is State.OPEN:
            self._write(self._framer.frame(_CLOSE, close))
        self._state = State.CLOSED
        self._abandoned = True
        self._abort = abort
        self._owed_close = None
        self._holding = False
        self._clear_timers()
        if self._close_code is None:  # no close frame received, no protocol error
            self._close_code = _ABNORMAL
        if self.receive_state is ReceiveState.OPEN or self.receive_state is ReceiveState.EOF:
            # Nothing the peer sends matters any more: the next event is the last.
            self._discard = True
            self._closed_event = self._end_of_stream()
            self._finished = True
            self._receive_state = ReceiveState.CLOSED

    def _closed(self) -> None:
        """Both close frames were exchanged (or a failure's was sent): the state is ``CLOSED``."""
        self._state = State.CLOSED
        self._clear_timers()
        if self._client and self.receive_state is ReceiveState.OPEN:
            self._start_close_deadline()  # the server closes TCP first
