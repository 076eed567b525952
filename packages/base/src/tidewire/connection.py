"""The Connection contract every tidewire core implements."""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator
from typing import Generic, TypeVar, cast

from .buffer import BytesLike, ReceiveBuffer
from .errors import LocalProtocolError, RemoteProtocolError
from .events import NEED_DATA, ConnectionClosed, Event, NeedData

__all__ = ["DEFAULT_MAX_BUFFER_SIZE", "Connection", "ReceiveState"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

DEFAULT_MAX_BUFFER_SIZE = 1024 * 1024
"""The default cap, in bytes, on an incomplete event waiting in the receive buffer."""


class ReceiveState(enum.Enum):
    """Where the receiving side of a :class:`Connection` stands.

    ``OPEN`` → ``EOF`` → ``CLOSED``, or from either of the first two to
    ``ERROR``. ``CLOSED`` and ``ERROR`` are terminal.
    """

    OPEN = "OPEN"
    """Bytes may still arrive."""
    EOF = "EOF"
    """:meth:`Connection.receive_eof` was called; buffered events may remain."""
    CLOSED = "CLOSED"
    """The :class:`~tidewire.ConnectionClosed` event has been returned."""
    ERROR = "ERROR"
    """A :class:`~tidewire.RemoteProtocolError` was raised; see :attr:`Connection.error`."""


class Connection(abc.ABC, Generic[ReceivedT, SentT]):
    """A protocol state machine that turns bytes into events and events into bytes.

    It does no I/O: the caller moves bytes. Received bytes go in through
    :meth:`receive_data` and :meth:`receive_eof`; events come out, one per
    call, from :meth:`next_event`. Events to send go in through :meth:`send`;
    their bytes come out of :meth:`data_to_send`.

    The error contract: :meth:`next_event` raises only
    :class:`~tidewire.RemoteProtocolError`, and after it the receiving side
    is terminal. :meth:`send` and the other methods raise only
    :class:`~tidewire.LocalProtocolError`, and only before changing anything.
    **Any other exception escaping a connection is a bug in the core.**

    Writing a core: subclass, call ``super().__init__()``, and implement
    :meth:`_next_event` (parse one event from ``self._buffer`` or return
    :data:`~tidewire.NEED_DATA`) and :meth:`_send` (validate, then append bytes
    with :meth:`_write`). Override :meth:`_end_of_stream` to say what end of
    file means in your protocol, and :meth:`_on_remote_error` to queue what
    the protocol owes the peer when its bytes are bad. The base does the rest:
    end-of-file handling, the buffered-bytes cap, the error state.

    Time is an input. A core that needs time (a keepalive, a close timeout)
    takes a keyword argument ``clock: Callable[[], float]``, the caller's
    clock (``loop.time``, ``trio.current_time``, ``reactor.seconds``, a
    test's :class:`~tidewire.testing.FakeClock`), reads it only to start a
    deadline, and overrides :meth:`get_timer` and :meth:`handle_timer`. It
    never reads another clock, sleeps or schedules: the caller asks
    :meth:`get_timer` after every interaction and calls :meth:`handle_timer`
    when that moment comes. Cores without timers keep the defaults, which
    cost nothing.

    Args:
        max_buffer_size: The most bytes an incomplete event may occupy in the
            receive buffer before :meth:`next_event` raises
            :class:`~tidewire.RemoteProtocolError`; ``None`` for no cap. The
            check does not depend on how the input was split.
    """

    def __init__(self, *, max_buffer_size: int | None = DEFAULT_MAX_BUFFER_SIZE) -> None:
        self._buffer = ReceiveBuffer()
        self._outgoing: list[BytesLike] = []
        self._max_buffer_size = max_buffer_size
        self._receive_state = ReceiveState.OPEN
        self._error: RemoteProtocolError | None = None
        self._closed_event: ConnectionClosed | None = None
        self._finished = False  # closed or failed: next_event() only repeats itself

    # -- receiving ----------------------------------------------------------

    @property
    def receive_state(self) -> ReceiveState:
        """Where the receiving side stands; see :class:`ReceiveState`."""
        return self._receive_state

    @property
    def error(self) -> RemoteProtocolError | None:
        """The error that ended the receiving side, or ``None``."""
        return self._error

    def receive_data(self, data: BytesLike) -> None:
        """Append received bytes (``bytes``, ``bytearray`` or ``memoryview``).

        Cheap: it never parses, so it never raises a
        :class:`~tidewire.RemoteProtocolError`. An empty value is not end of
        file; call :meth:`receive_eof` for that. Bytes received after the
        connection failed are discarded, so a caller that keeps feeding a
        failed connection does not grow its memory.

        Raises:
            LocalProtocolError: after :meth:`receive_eof`; or ``data`` is not
                bytes-like (a ``str``, an ``int``, a released memoryview).
        """
        if self._receive_state is ReceiveState.OPEN:
            try:
                self._buffer.append(data)
            except (TypeError, ValueError) as exc:  # a str, an int, a released memoryview
                raise LocalProtocolError(
                    f"receive_data() takes bytes, bytearray or memoryview: {exc}"
                ) from None
        elif self._receive_state is not ReceiveState.ERROR:
            raise LocalProtocolError("receive_data() called after receive_eof()")

    def receive_eof(self) -> None:
        """Record that the peer closed its sending side. Calling it twice is harmless."""
        if self._receive_state is ReceiveState.OPEN:
            self._receive_state = ReceiveState.EOF

    def next_event(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Parse and return the next event, or :data:`~tidewire.NEED_DATA`.

        Parsing is lazy: nothing is parsed until asked for, so between two
        calls the caller may change how the rest of the stream is read (where
        the core offers that), and an I/O layer may stop reading while events
        wait. After :meth:`receive_eof`, it returns the remaining events, then
        a :class:`~tidewire.ConnectionClosed` (again on every later call); it
        never returns :data:`~tidewire.NEED_DATA` after end of file.

        Raises:
            RemoteProtocolError: the peer's bytes broke the protocol or a
                limit. The receiving side is then in ``ERROR`` for good:
                later calls raise again. If this method raises anything else,
                that is a bug in the core.
        """
        if self._finished:
            if self._closed_event is not None:
                return self._closed_event
            first = cast(RemoteProtocolError, self._error)
            raise RemoteProtocolError(
                f"the connection already failed: {first.message}",
                code=first.code,
                offset=first.offset,
            )
        # The hot path: one flag test, one call, one identity test.
        try:
            event = self._next_event()
            if event is NEED_DATA:
                return self._out_of_data()
        except RemoteProtocolError as exc:
            self._error = exc
            self._finished = True
            self._receive_state = ReceiveState.ERROR
            self._on_remote_error(exc)
            raise
        return event

    def _out_of_data(self) -> ConnectionClosed | NeedData:
        if self._receive_state is ReceiveState.EOF:
            self._closed_event = self._end_of_stream()
            self._finished = True
            self._receive_state = ReceiveState.CLOSED
            return self._closed_event
        if self._max_buffer_size is not None and len(self._buffer) > self._max_buffer_size:
            raise RemoteProtocolError(
                f"{len(self._buffer)} bytes buffered without a complete event;"
                f" the limit is {self._max_buffer_size}",
                offset=self._buffer.offset,
            )
        return NEED_DATA

    def events(self) -> Iterator[ReceivedT | ConnectionClosed]:
        """Yield events until :data:`~tidewire.NEED_DATA`, or through the closing event.

        Raises:
            RemoteProtocolError: as :meth:`next_event`.
        """
        while True:
            event = self.next_event()
            if event is NEED_DATA:
                return
            yield event
            if self._finished:
                return

    # -- sending ------------------------------------------------------------

    def send(self, event: SentT) -> None:
        """Serialise ``event`` into the outgoing bytes.

        Raises:
            LocalProtocolError: the event is not valid here; nothing changed.
        """
        self._send(event)

    def data_to_send(self) -> bytes:
        """Return and forget every byte waiting to be written to the peer."""
        outgoing = self._outgoing
        if not outgoing:
            return b""
        data = outgoing[0] if len(outgoing) == 1 else b"".join(outgoing)
        outgoing.clear()
        return data if type(data) is bytes else bytes(data)

    # -- time -------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """Return when :meth:`handle_timer` should next be called, on the caller's clock.

        ``None`` when no deadline is pending (the default, and always in a
        terminal state). Ask again after every call into the connection: a
        deadline may be set, moved or cleared by any of them.
        """
        return None

    def handle_timer(self, now: float) -> None:
        """Act on every deadline at or before ``now`` (the caller's clock reads ``now``).

        It may queue bytes for :meth:`data_to_send` and make
        :meth:`next_event` return new events. Calling it early, or twice with
        the same ``now``, does nothing more. The default does nothing.
        """

    # -- for subclasses -----------------------------------------------------

    @abc.abstractmethod
    def _next_event(self) -> ReceivedT | NeedData:
        """Parse one event from ``self._buffer``, or return ``NEED_DATA``.

        Raise :class:`~tidewire.RemoteProtocolError` for bad bytes; the base
        records the error state. Never called again once it has raised, and
        never after the closing event.
        """

    @abc.abstractmethod
    def _send(self, event: SentT) -> None:
        """Validate ``event``, raising LocalProtocolError before any change, then :meth:`_write`."""

    def _write(self, data: BytesLike) -> None:
        """Queue bytes for :meth:`data_to_send`.

        The object is kept, not copied, until drained: pass ``bytes``, or a
        buffer nobody will change before it is sent.
        """
        self._outgoing.append(data)

    def _end_of_stream(self) -> ConnectionClosed:
        """Return the event that ends the stream after end of file.

        Called once, when end of file was received and :meth:`_next_event`
        needs more data. The default returns :class:`~tidewire.ConnectionClosed`
        if the buffer is empty and raises :class:`~tidewire.RemoteProtocolError`
        if the stream ended inside an incomplete event. A core whose closing
        event carries more (leftover bytes, a close code) overrides this and
        returns an instance of a ``ConnectionClosed`` subclass.
        """
        if self._buffer:
            raise RemoteProtocolError(
                f"the peer closed the connection inside an incomplete event"
                f" ({len(self._buffer)} bytes left)",
                offset=self._buffer.offset,
            )
        return ConnectionClosed()

    def _on_remote_error(self, error: RemoteProtocolError) -> None:
        """Queue what the protocol owes the peer after bad input. Default: nothing."""
