"""The generic binding: any :class:`tidewire.Connection` over an asyncio transport.

An :class:`EventStream` owns one core and one transport. Bytes the transport
delivers wait in the stream, unparsed, until :meth:`EventStream.receive` needs
them; the core turns them into events one at a time. Events passed to
:meth:`EventStream.send` are serialised by the core and written to the
transport. The stream keeps no protocol state of its own: everything about the
protocol lives in the core, reachable as :attr:`EventStream.connection`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData

from ._closing import AsyncClosing
from .errors import ConnectionLostError, StreamClosedError

__all__ = ["DEFAULT_READ_HIGH_WATER", "EventStream"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

_LINGER_ZERO = struct.pack("ii", 1, 0)
_CORK_LIMIT = 64 * 1024  # coalesced writes leave at once beyond this

DEFAULT_READ_HIGH_WATER = 256 * 1024
"""The default ``read_high_water`` of an :class:`EventStream`, in bytes."""


class _StreamProtocol(asyncio.Protocol):
    """The asyncio callbacks of one :class:`EventStream`; they only record and wake."""

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        self._stream = stream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._stream._attach(transport)

    def data_received(self, data: bytes) -> None:
        self._stream._on_data(data)

    def eof_received(self) -> bool:
        self._stream._on_eof()
        # Keep the transport open: the peer finished sending, but we may
        # still send (a half-closed TCP connection). aclose() closes it.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stream._on_lost(exc)

    def pause_writing(self) -> None:
        self._stream._write_paused = True

    def resume_writing(self) -> None:
        stream = self._stream
        stream._write_paused = False
        stream._wake_drainers(None)
        if stream._listener is not None:
            stream._listener()


class EventStream(AsyncClosing, Generic[ReceivedT, SentT]):
    """A tidewire core running over an asyncio transport.

    Usually made by :func:`~tidewire_asyncio.connect` or handed to a
    :func:`~tidewire_asyncio.serve` handler. To run over a transport you
    create yourself, build the stream and give its :attr:`protocol` to the
    loop: ``await loop.create_connection(lambda: stream.protocol, ...)``.

    **Receiving** is lazy, like the core: bytes from the transport wait here
    unparsed until :meth:`receive` asks the core for the next event. So
    between two events the caller may change how the core reads the rest of
    the stream (a line protocol switching to raw bytes) and nothing was
    parsed ahead of time. Backpressure: when more than ``read_high_water``
    bytes wait unparsed, the stream stops reading the transport (the peer
    then feels TCP flow control); it resumes once they are down to
    ``read_low_water``. Memory held per stream is therefore bounded by about
    ``read_high_water`` plus one read, plus the core's own buffer cap.

    **Sending** waits for the transport to drain first: :meth:`send` returns
    at once while the transport's write buffer is below its high-water mark,
    and otherwise waits until it is back under its low-water mark before
    writing. Concurrent senders are served one at a time, in order, and an
    event's bytes are always written whole. Events sent while handling
    input that arrived together (a pipelined batch) are coalesced: their
    bytes leave in one write when the input is drained, at the latest at
    the next turn of the event loop, or as soon as 64 KiB have gathered.

    **Cancellation** never puts the core out of step with the wire. A
    cancelled :meth:`receive` has consumed no event (the next call returns
    it); a cancelled :meth:`send` has sent nothing.

    **Replies the core makes on its own** (a WebSocket pong, close echo or
    error close frame) are written after every core call. They are made only
    while :meth:`receive` runs, and if they pile up because the peer does not
    read, :meth:`receive` waits for the transport to drain before parsing
    further, so a peer cannot grow our write buffer without bound.

    **Closing**: :meth:`aclose` (or leaving ``async with``) writes what is
    left and closes the transport. The peer closing its side is the core's
    :class:`~tidewire.ConnectionClosed` event; a broken connection is
    :class:`~tidewire_asyncio.ConnectionLostError`.

    Args:
        connection: The core; the stream drives it and nothing else should
            feed it bytes.
        read_high_water: Stop reading the transport when more than this many
            received bytes wait unparsed.
        read_low_water: Resume reading when at most this many wait; defaults
            to a quarter of ``read_high_water``.
        write_high_water: The transport's write-buffer high-water mark, above
            which :meth:`send` waits; ``None`` keeps asyncio's (64 KiB).
        write_low_water: The mark below which waiting senders go on;
            ``None`` keeps asyncio's default for the high mark in use.

    Raises:
        ValueError: a negative mark, or ``read_low_water > read_high_water``.
    """

    def __init__(
        self,
        connection: Connection[ReceivedT, SentT],
        *,
        read_high_water: int = DEFAULT_READ_HIGH_WATER,
        read_low_water: int | None = None,
        write_high_water: int | None = None,
        write_low_water: int | None = None,
    ) -> None:
        if read_low_water is None:
            read_low_water = read_high_water // 4
        if not 0 <= read_low_water <= read_high_water:
            raise ValueError(
                f"need 0 <= read_low_water <= read_high_water,"
                f" got {read_low_water} and {read_high_water}"
            )
        if (write_high_water is not None and write_high_water < 0) or (
            write_low_water is not None and write_low_water < 0
        ):
            raise ValueError("write water marks must not be negative")
        self._connection = connection
        self._read_high = read_high_water
        self._read_low = read_low_water
        self._write_limits = (write_high_water, write_low_water)
        self._protocol = _StreamProtocol(self)
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._backlog = 0  # bytes in _chunks
        self._eof = False  # the peer's end of file, not yet given to the core
        self._lost = False
        self._lost_exc: BaseException | None = None
        self._closed = False  # aclose() or abort() was called
        self._read_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._receiving = False
        self._write_paused = False
        self._drainers: list[asyncio.Future[None]] = []
        self._send_lock = asyncio.Lock()
        # Tasks holding or waiting for _send_lock. A send takes the fast
        # path only when there are none, or it would overtake a waiter that
        # the lock has just been handed to (asyncio.Lock is FIFO, locked()
        # is False until that waiter runs).
        self._send_turns = 0
        self._replies_pending = False  # core replies were written into a full buffer
        self._lost_waiter: asyncio.Future[None] | None = None
        # Write coalescing: while the events being handled came from input
        # that may hold more, writes after the first wait here and leave
        # together when the input is drained (or at the next loop
        # iteration), one system call for a pipelined batch instead of one
        # per event.
        self._more_input = False
        self._burst_written = False  # a write went out since _more_input was set
        self._starved = False  # the core's last answer was NEED_DATA
        self._cork: list[bytes] = []
        self._cork_size = 0
        self._cork_handle: asyncio.Handle | None = None
        self._on_attach: Callable[[EventStream[Any, Any]], None] | None = None  # for Server
        self._timer_deadline: float | None = None  # the core's deadline we scheduled
        self._timer_handle: asyncio.TimerHandle | None = None
        # A protocol layer that parses from transport callbacks (WebSocket)
        # sets this; it is called after data, end of file, loss and drain.
        self._listener: Callable[[], None] | None = None

    # -- properties ---------------------------------------------------------

    @property
    def connection(self) -> Connection[ReceivedT, SentT]:
        """The core this stream drives.

        Read its state freely, and call its own methods (a mode switch, for
        instance) between events. Do not feed it bytes or drain its
        :meth:`~tidewire.Connection.data_to_send`: the stream does both.
        Output a core method makes outside :meth:`send` goes out with the
        next :meth:`send`, :meth:`receive` or :meth:`flush`.
        """
        return self._connection

    @property
    def protocol(self) -> asyncio.Protocol:
        """The :class:`asyncio.Protocol` to hand to the loop to attach a transport.

        For transports :func:`~tidewire_asyncio.connect` does not make (Unix
        sockets, pipes, an existing socket): ``await
        loop.create_unix_connection(lambda: stream.protocol, path)``. A
        stream accepts one transport in its life.
        """
        return self._protocol

    @property
    def transport(self) -> asyncio.Transport | None:
        """The transport, or ``None`` before one is attached."""
        return self._transport

    @property
    def closed(self) -> bool:
        """True once the stream cannot be used: closed on this side, or its transport is gone."""
        return self._closed or self._lost

    @property
    def write_backlog(self) -> int:
        """Bytes written and not yet sent: the transport's buffer plus those held to coalesce."""
        transport = self._transport
        held = self._cork_size
        return held if transport is None else held + transport.get_write_buffer_size()

    @property
    def read_backlog(self) -> int:
        """Bytes received from the transport and not yet handed to the core."""
        return self._backlog

    @property
    def reading_paused(self) -> bool:
        """True while the stream has stopped reading the transport (backpressure)."""
        return self._read_paused

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra information ``name`` (``"peername"``, ``"ssl_object"`` ...).

        Returns ``default`` when the transport does not know ``name`` or no
        transport is attached yet.
        """
        if self._transport is None:
            return default
        return self._transport.get_extra_info(name, default)

    # -- transport callbacks (through _StreamProtocol) ------------------------

    def _attach(self, transport: asyncio.Transport) -> None:
        if self._transport is not None:
            transport.abort()
            raise RuntimeError("an EventStream accepts only one transport")
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        high, low = self._write_limits
        if high is not None or low is not None:
            transport.set_write_buffer_limits(high, low)
        # A core may have bytes to send before anything is received.
        data = self._connection.data_to_send()
        if data:
            self._write(data)
        self._update_timer()
        if self._on_attach is not None:
            self._on_attach(self)

    def _on_data(self, data: bytes) -> None:
        if self._closed:
            return  # nobody will read it; do not let it accumulate
        self._chunks.append(data)
        self._backlog += len(data)
        if self._backlog > self._read_high and not self._read_paused:
            self._pause_reading()
        self._wake_reader()
        if self._listener is not None:
            self._listener()

    def _on_eof(self) -> None:
        self._eof = True
        self._wake_reader()
        if self._listener is not None:
            self._listener()

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._lost_exc = exc
        self._cancel_timer()
        self._write_paused = False
        self._wake_reader()
        self._wake_drainers(self._broken())
        waiter = self._lost_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._listener is not None:
            self._listener()

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_drainers(self, exc: BaseException | None) -> None:
        drainers, self._drainers = self._drainers, []
        for waiter in drainers:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
            self._read_paused = True

    def _resume_reading(self) -> None:
        self._read_paused = False
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    # -- errors ---------------------------------------------------------------

    def _broken(self) -> Exception:
        """The exception for using a stream whose transport is gone or closed."""
        if self._closed:
            return StreamClosedError("the stream was closed on this side")
        exc = self._lost_exc
        if exc is None:
            error = ConnectionLostError("the connection was closed before the peer finished")
        else:
            error = ConnectionLostError(f"the connection was lost: {exc or type(exc).__name__}")
            error.__cause__ = exc
        return error

    def _check_usable(self) -> asyncio.Transport:
        transport = self._transport
        if self._closed or self._lost:
            raise self._broken()
        if transport is None:
            raise RuntimeError("the stream has no transport yet")
        return transport

    # -- receiving --------------------------------------------------------------

    async def receive(self) -> ReceivedT | ConnectionClosed:
        """Return the next event from the peer.

        Waits until the core has a complete event. When the peer has closed
        its side cleanly and every event before that was returned, returns
        the core's :class:`~tidewire.ConnectionClosed` event (or the core's
        subclass of it), and returns it again on every later call.

        One task at a time may receive. Cancelling a waiting call is safe: it
        consumed nothing, and the next call returns the event it would have.

        Raises:
            RemoteProtocolError: the peer broke the protocol or a limit. What
                the core owes the peer on failure has been written; the core
                is in its terminal error state and later calls raise again.
            ConnectionLostError: the connection broke; every complete event
                received before the break was returned first.
            StreamClosedError: the stream was closed on this side.
            RuntimeError: another task is already receiving.
        """
        if self._receiving:
            raise RuntimeError("another task is already receiving on this stream")
        self._receiving = True
        try:
            while True:
                if self._replies_pending and not self._closed:
                    await self._wait_replies_drained()
                event = self._pull()
                if event is not NEED_DATA:
                    return event
                self._read_waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._read_waiter
                finally:
                    self._read_waiter = None
        finally:
            self._receiving = False

    def receive_nowait(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event that can be had without waiting, or :data:`~tidewire.NEED_DATA`.

        Never waits: the bytes already received are fed to the core until it
        has an event. Returns ``NEED_DATA`` also while the core's own replies
        wait for the transport to drain (:meth:`receive` waits for that).

        Raises:
            RemoteProtocolError: as :meth:`receive`.
            ConnectionLostError: as :meth:`receive`.
            StreamClosedError: as :meth:`receive`.
            RuntimeError: another task is waiting in :meth:`receive`.
        """
        if self._receiving:
            raise RuntimeError("another task is already receiving on this stream")
        if self._replies_pending and not self._closed:
            if self._write_paused:
                return NEED_DATA
            self._replies_pending = False
        return self._pull()

    def _pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event that can be had without waiting, or NEED_DATA.

        The synchronous heart of :meth:`receive`, also used by protocol
        layers that parse from transport callbacks (see ``_listener``).
        """
        connection = self._connection
        while True:
            if self._closed:
                raise self._broken()
            if self._starved and self._chunks:
                # The core asked for more last time: feed before asking
                # again rather than after, one parse attempt fewer per event.
                self._feed()
            try:
                event = connection.next_event()
            except BaseException:
                self._more_input = self._burst_written = False
                self._flush_replies()
                self._update_timer()
                raise
            self._flush_replies()
            if connection.get_timer() != self._timer_deadline:
                self._update_timer()
            if event is not NEED_DATA:
                self._more_input = True
                self._starved = False
                return event
            self._starved = True
            if self._chunks:
                self._feed()
            elif self._eof:
                self._eof = False
                connection.receive_eof()
            else:
                self._more_input = self._burst_written = False
                if self._cork:
                    self._uncork()
                if self._lost:
                    raise self._broken()
                return NEED_DATA

    def _feed(self) -> None:
        self._starved = False
        data = self._chunks.popleft()
        self._backlog -= len(data)
        self._connection.receive_data(data)
        if self._read_paused and self._backlog <= self._read_low:
            self._resume_reading()

    def _flush_replies(self) -> None:
        data = self._connection.data_to_send()
        if data:
            self._write(data)
            if self._write_paused:
                self._replies_pending = True

    def _write(self, data: bytes) -> None:
        """Every write goes through here, to keep the order of corked bytes."""
        if self._cork or (self._more_input and self._burst_written):
            self._cork.append(data)
            self._cork_size += len(data)
            if self._cork_size >= _CORK_LIMIT:
                self._uncork()
            elif self._cork_handle is None and self._loop is not None:
                self._cork_handle = self._loop.call_soon(self._uncork)
            return
        # The first write of a burst goes out at once: a lone request's reply
        # is not held back, and costs no scheduled flush.
        self._burst_written = self._more_input
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _uncork(self) -> None:
        if self._cork_handle is not None:
            self._cork_handle.cancel()
            self._cork_handle = None
        cork = self._cork
        if not cork:
            return
        data = cork[0] if len(cork) == 1 else b"".join(cork)
        cork.clear()
        self._cork_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _hold(self, data: bytes) -> None:
        """Write ``data`` with the next turn of the loop, in order with every other write."""
        if not data:
            return
        self._cork.append(data)
        self._cork_size += len(data)
        if self._cork_size >= _CORK_LIMIT:
            self._uncork()
        elif self._cork_handle is None and self._loop is not None:
            self._cork_handle = self._loop.call_soon(self._uncork)

    # -- time ---------------------------------------------------------------------

    def _update_timer(self) -> None:
        """Schedule one wake-up at the core's deadline, if it changed."""
        deadline = self._connection.get_timer()
        if deadline == self._timer_deadline:
            return
        self._cancel_timer()
        if deadline is not None and self._loop is not None and not self._closed:
            self._timer_deadline = deadline
            self._timer_handle = self._loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer_handle is not None:
            self._timer_handle.cancel()
        self._timer_handle = self._timer_deadline = None

    def _on_timer(self) -> None:
        deadline = self._timer_deadline
        assert deadline is not None and self._loop is not None
        self._timer_handle = self._timer_deadline = None
        # The loop runs a handle up to one clock resolution early: tell the
        # core its deadline has come, or it would ask for the same one again.
        self._connection.handle_timer(max(self._loop.time(), deadline))
        self.write_pending()
        self._wake_reader()
        if self._listener is not None:
            self._listener()

    async def _wait_replies_drained(self) -> None:
        # Parse nothing more until the replies already written can leave;
        # a peer that sends pings and never reads cannot grow our buffer.
        # Nothing has been consumed yet, so a cancellation here is harmless.
        while self._write_paused:
            await self._drain_wait()
        self._replies_pending = False

    async def _drain_wait(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drainers.append(waiter)
        await waiter

    def __aiter__(self) -> EventStream[ReceivedT, SentT]:
        """Iterate over received events until the peer closes cleanly."""
        return self

    async def __anext__(self) -> ReceivedT:
        """Return the next event; stop at the core's :class:`~tidewire.ConnectionClosed`.

        The closing event itself is not yielded; :meth:`receive` still
        returns it after the loop. Errors are those of :meth:`receive`.
        """
        event = await self.receive()
        if isinstance(event, ConnectionClosed):
            raise StopAsyncIteration
        return event

    # -- sending ------------------------------------------------------------------

    async def send(self, event: SentT) -> None:
        """Serialise ``event`` with the core and write it.

        Waits first while the transport's write buffer is above its
        high-water mark (and behind earlier senders), then hands the event's
        bytes to the transport whole. If cancelled, nothing was sent and the
        core is unchanged.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed
                and the stream is still usable.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        if not self._write_paused and not self._send_turns:
            # The fast path: no await, so no other task can interleave.
            self._send_now(event)
            return
        async with self._turn():
            await self._wait_writable()
            self._send_now(event)

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Hold the send lock, in arrival order with every other sender."""
        self._send_turns += 1
        try:
            async with self._send_lock:
                yield
        finally:
            self._send_turns -= 1

    def _send_now(self, event: SentT) -> None:
        self._check_usable()
        connection = self._connection
        connection.send(event)
        self._write(connection.data_to_send())
        self._update_timer()

    async def _wait_writable(self) -> None:
        while self._write_paused:
            self._check_usable()
            await self._drain_wait()

    def send_nowait(self, event: SentT) -> None:
        """Serialise ``event`` now and write its bytes in order, without waiting.

        The bytes of every event sent this way in one turn of the event loop
        leave in one transport write (automatic pipelining). It does not wait
        for the transport to drain: bound what you send with :meth:`drain`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._check_usable()
        connection = self._connection
        connection.send(event)
        self._hold(connection.data_to_send())
        self._update_timer()

    def write_pending(self) -> None:
        """Write whatever the core queued by itself (after a direct call of a core method).

        Does nothing once the stream is closed. Replies written into a full
        transport make :meth:`receive` wait for it to drain before parsing on.
        """
        if not self._closed:
            self._flush_replies()
            self._update_timer()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark.

        Bytes held back to coalesce writes leave first.

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._turn():
            self._check_usable()
            self._uncork()
            await self._wait_writable()

    async def flush(self) -> None:
        """:meth:`write_pending`, then :meth:`drain`.

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._check_usable()
        self.write_pending()
        await self.drain()

    async def send_eof(self) -> None:
        """Close our sending side (a TCP half-close); the peer may still send to us.

        Waits for earlier sends first. Transports that cannot half-close, TLS
        among them, raise :class:`NotImplementedError`; close the stream
        instead.

        Raises:
            NotImplementedError: the transport cannot half-close.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._turn():
            transport = self._check_usable()
            if not transport.can_write_eof():
                raise NotImplementedError(
                    f"{type(transport).__name__} cannot close only its sending side"
                )
            data = self._connection.data_to_send()
            if data:
                self._write(data)
            self._uncork()
            transport.write_eof()

    # -- closing ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Write what is left, close the transport and wait until it is closed.

        Any task still receiving or sending on the stream gets
        :class:`~tidewire_asyncio.StreamClosedError`. The wait lasts as long
        as the peer takes to accept the last bytes; bound it with
        ``asyncio.timeout()`` if the peer may never read: when the wait is
        cancelled the connection is aborted. Calling it again is harmless.
        Protocol-level closing (a WebSocket close handshake) is the
        protocol's business: send its closing event before this.
        """
        self._begin_close()
        transport = self._transport
        if transport is None or self._lost:
            return
        if self._lost_waiter is None:
            self._lost_waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.shield(self._lost_waiter)
        except asyncio.CancelledError:
            transport.abort()
            raise

    def close_nowait(self) -> None:
        """Begin the graceful close from sync code: write what is left, close the transport.

        :meth:`aclose` does this and waits for the transport to be closed.
        """
        self._begin_close()

    def _begin_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            data = self._connection.data_to_send()
            if data:
                self._write(data)
            self._uncork()
            transport.close()
        self._chunks.clear()
        self._backlog = 0
        self._wake_reader()
        self._wake_drainers(self._broken())

    def abort(self) -> None:
        """Close the connection at once, dropping unsent bytes (a TCP reset where possible)."""
        self._closed = True
        self._cancel_timer()
        self._chunks.clear()
        self._backlog = 0
        self._cork.clear()
        self._cork_size = 0
        if self._transport is not None:
            sock = self._transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                # Linger 0: the close sends a reset at once, even with unsent
                # bytes queued for a peer that does not read.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            self._transport.abort()
        self._wake_reader()
        self._wake_drainers(self._broken())

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._lost:
            state = "lost"
        elif self._transport is None:
            state = "unattached"
        else:
            state = f"peer={self.get_extra_info('peername')!r}"
        return f"<{type(self).__name__} {type(self._connection).__name__} {state}>"
