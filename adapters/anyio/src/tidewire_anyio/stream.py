"""The generic binding: any :class:`tidewire.Connection` over an anyio byte stream.

The decisions (when to read, when to parse, what to feed the core, when its
timer is due) are :class:`tidewire.flow.FlowControl`'s, shared by every
adapter; this module is the anyio glue: the byte stream, the tasks that read
and write it while the stream is entered, the senders' turns, cancellation,
and the core's timer on anyio's clock.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import anyio
import anyio.abc

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData, ReceiveState
from tidewire import ProtocolError as _ProtocolError
from tidewire.flow import DEFAULT_READ_HIGH_WATER, FlowControl

from . import errors
from ._closing import Signal
from ._transport import STREAM_ERRORS, extra_info, reset_on_close
from ._writer import Turns, Writer

__all__ = ["DEFAULT_READ_HIGH_WATER", "DEFAULT_WRITE_HIGH_WATER", "EventStream"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

DEFAULT_WRITE_HIGH_WATER = 64 * 1024
"""The default ``write_high_water`` of an :class:`EventStream`, in bytes (asyncio's)."""

RECEIVE_SIZE = 64 * 1024  # bytes asked of the byte stream per read


class EventStream(Generic[ReceivedT, SentT]):
    """A tidewire core running over an :class:`anyio.abc.ByteStream`.

    Made by :func:`~tidewire_anyio.connect`, handed to a
    :func:`~tidewire_anyio.serve` handler, or built around any byte stream
    (TCP, TLS, Unix, a stapled pair of memory object streams). Entered with
    ``async with``, it owns tasks that read ahead, write and drive the core's
    timer, so replies leave while the application is busy; unentered, it reads
    and writes only while the application awaits it. See the adapter's guide.

    Args:
        connection: The core; the stream feeds it and drains its output.
        transport: The byte stream, or ``None`` to :meth:`attach` one later.
        read_high_water: Stop reading when more received bytes wait unparsed.
        read_low_water: Read again at this many; a quarter of the high mark
            by default.
        write_high_water: Bytes waiting to be written above which
            :meth:`send` waits; ``None`` for 64 KiB.
        write_low_water: The mark below which waiting senders go on; a
            quarter of the high mark by default.

    Raises:
        ValueError: a negative mark, or a low mark above its high mark.
    """

    def __init__(
        self,
        connection: Connection[ReceivedT, SentT],
        transport: anyio.abc.ByteStream | None = None,
        *,
        read_high_water: int = DEFAULT_READ_HIGH_WATER,
        read_low_water: int | None = None,
        write_high_water: int | None = None,
        write_low_water: int | None = None,
    ) -> None:
        high = DEFAULT_WRITE_HIGH_WATER if write_high_water is None else write_high_water
        low = high // 4 if write_low_water is None else write_low_water
        if min(high, low) < 0:
            raise ValueError("write water marks must not be negative")
        if low > high:
            raise ValueError(f"write_low_water {low} is above write_high_water {high}")
        self._flow = FlowControl(
            connection, read_high_water=read_high_water, read_low_water=read_low_water
        )
        self._connection = connection
        self._transport: anyio.abc.ByteStream | None = None
        self._out = Writer(self._flow, high, low, self._on_lost, self._wake_input)
        self._closed = False  # closed on this side
        self._aborted = False
        self._lost = False
        self._lost_cause: BaseException | None = None
        self._lost_reason = "the connection was lost"
        self._read_done = False  # the byte stream said end of file, or failed
        self._receiving = False
        self._input = Signal()  # an event may be ready: bytes, end, loss, timer, closing
        self._listener: Callable[[], None] | None = None
        self._resumed = Signal()  # the core took enough bytes: read again
        self._timer_moved = Signal()
        self._turn = Turns()  # senders in arrival order
        self._tasks: anyio.abc.TaskGroup | None = None  # while entered
        self._reader_scope: anyio.CancelScope | None = None
        self._reader_done: anyio.Event | None = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._finished: anyio.Event | None = None  # the byte stream is closed (or closing)
        if transport is not None:
            self.attach(transport)

    def attach(self, transport: anyio.abc.ByteStream) -> None:
        """Run the stream over ``transport``; the core's first words (if any) leave first.

        Raises:
            RuntimeError: the stream already has a transport.
        """
        if self._transport is not None:
            raise RuntimeError("an EventStream accepts only one transport")
        self._transport = self._out.transport = transport
        self._queue(self._connection.data_to_send())  # a core may speak first
        self._check_timer()

    # -- state ----------------------------------------------------------------

    @property
    def connection(self) -> Connection[ReceivedT, SentT]:
        """The core. Call its methods between events, then :meth:`write_pending`."""
        return self._connection

    @property
    def transport(self) -> anyio.abc.ByteStream | None:
        """The byte stream, or ``None`` before one is attached."""
        return self._transport

    @property
    def owns_tasks(self) -> bool:
        """Whether the stream is entered, so that its own tasks read, write and keep time."""
        return self._tasks is not None

    @property
    def closed(self) -> bool:
        """Whether the stream is unusable (closed on this side, or the connection is gone)."""
        return self._closed or self._lost

    @property
    def read_backlog(self) -> int:
        """Bytes received and not yet handed to the core."""
        return self._flow.backlog

    @property
    def reading_paused(self) -> bool:
        """True while reading is held back because too many received bytes wait (backpressure)."""
        return not self._flow.reading

    @property
    def write_backlog(self) -> int:
        """Bytes written and not yet taken by the byte stream."""
        return self._out.backlog

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return asyncio's extra information ``name`` (``"peername"``, ``"socket"`` ...)."""
        return extra_info(self._transport, name, default)

    def _broken(self) -> errors.StreamClosedError:
        connection = self._connection
        # The peer's clean end, if the core saw it (it repeats its closing event).
        ended = connection.receive_state is ReceiveState.CLOSED
        event = cast(ConnectionClosed, connection.next_event()) if ended else None
        if self._closed:
            return errors.closed("the stream was closed on this side", event)
        cause = self._lost_cause
        if isinstance(cause, anyio.BrokenResourceError) and cause.__cause__ is not None:
            cause = cause.__cause__  # the operating system's error under anyio's
        reason = self._lost_reason
        if cause is not None:
            reason = f"{reason}: {cause or type(cause).__name__}"
        return errors.lost(reason, event, cause)

    def _check_usable(self) -> anyio.abc.ByteStream:
        if self._closed or self._lost:
            raise self._broken()
        if self._transport is None:
            raise RuntimeError("the stream has no transport yet")
        return self._transport

    def _on_lost(self, cause: BaseException | None, reason: str = "") -> None:
        if self._lost or self._closed:
            return
        self._lost, self._lost_cause = True, cause
        self._lost_reason = reason or self._lost_reason
        self._read_done = True
        self._out.abort()
        self._wake_all()

    def _wake_all(self) -> None:
        self._flow.stop_timer()
        self._out.release()  # nothing will drain any more
        for signal in (self._resumed, self._timer_moved):
            signal.fire()
        self._wake_input()

    # -- receiving ------------------------------------------------------------

    async def receive(self) -> ReceivedT | ConnectionClosed:
        """Return the next event; after the peer's clean end, the core's closing event, again.

        One task at a time may receive; a cancelled call consumed nothing.

        Raises:
            RemoteProtocolError: the peer broke the protocol or a limit (what
                the core owed the peer was written first); raised again later.
            ConnectionLostError: the connection broke, after every complete
                event received before it.
            StreamClosedError: the stream was closed on this side.
            RuntimeError: another task is already receiving.
        """
        if self._receiving:
            raise RuntimeError("another task is already receiving on this stream")
        self._receiving = True
        try:
            while True:
                if self._out.replies_blocked and not self._closed:
                    await self._wait_written()  # our replies must leave before we parse on
                    continue
                try:
                    event = self._pull()
                except _ProtocolError:
                    if self._tasks is None:
                        await self._write_out()  # what the core owes the peer
                    raise
                if event is not NEED_DATA:
                    return event
                await self._wait_input()
        finally:
            self._receiving = False

    def receive_nowait(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event already received, or :data:`~tidewire.NEED_DATA`; never waits.

        Raises:
            RemoteProtocolError: as :meth:`receive`.
            ConnectionLostError: as :meth:`receive`.
            StreamClosedError: as :meth:`receive`.
            RuntimeError: another task is waiting in :meth:`receive`.
        """
        if self._receiving:
            raise RuntimeError("another task is already receiving on this stream")
        if self._out.replies_blocked and not self._closed:
            return NEED_DATA
        return self._pull()

    def _pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        if self._closed:
            raise self._broken()
        flow = self._flow
        try:
            event = flow.next_event()
        finally:
            self._out.queue(flow.replies(), replies=True)
            self._check_timer()
            if flow.reading:
                self._resumed.fire()
        if event is not NEED_DATA:
            return event
        if self._lost:
            raise self._broken()
        return NEED_DATA

    async def _wait_input(self) -> None:
        if self._tasks is not None:
            await self._input.wait()  # the reader and the timer task wake us
            return
        if self._out.queued:
            await self._write_out()  # replies leave before we wait for more
        deadline = self._flow.timer
        if deadline is None:
            await self._read_once()  # no deadline: no cancel scope to pay for
            return
        with anyio.CancelScope(deadline=deadline):
            await self._read_once()
        timer = self._flow.timer
        if timer is not None and anyio.current_time() >= timer:
            self._fire_timer()

    async def _wait_written(self) -> None:
        if self._tasks is None:
            await self._write_out()
        else:
            await self._out.drained.wait()

    async def _read_once(self) -> None:
        transport = self._check_usable()
        try:
            data = await transport.receive(RECEIVE_SIZE)
        except anyio.EndOfStream:
            self._read_done = True
            self._flow.eof_received()
        except STREAM_ERRORS as exc:
            self._on_lost(exc)
        else:
            if not self._closed:  # TLS may deliver while it closes: nobody will read it
                self._flow.data_received(data)
        self._wake_input()

    async def _read_ahead(self) -> None:
        """The reader task of an entered stream: read until the end, pausing at the high mark."""
        # Shielded from the owner's cancellation until __aexit__ has closed the
        # transport: anyio's asyncio Unix sockets fail in a loop callback when
        # a waiting receive is cancelled as data arrives.
        done = self._reader_done = anyio.Event()
        try:
            with anyio.CancelScope(shield=True) as self._reader_scope:
                while not (self._read_done or self._closed):
                    if self._flow.reading:
                        await self._read_once()
                    else:
                        await self._resumed.wait()
        finally:
            done.set()

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` whenever :meth:`receive_nowait` may have something new.

        That is when data or end of file arrives, a timer of the core fires,
        the write backlog drains, or the connection ends; on an entered
        stream, from its own tasks. A protocol layer parses there instead of
        running one more task. ``None`` removes it.
        """
        self._listener = listener

    def _wake_input(self) -> None:
        self._input.fire()
        if self._listener is not None:
            self._listener()

    def __aiter__(self) -> EventStream[ReceivedT, SentT]:
        """Iterate over received events until the peer closes cleanly."""
        return self

    async def __anext__(self) -> ReceivedT:
        """Return the next event; stop (without yielding it) at the closing event."""
        event = await self.receive()
        if isinstance(event, ConnectionClosed):
            raise StopAsyncIteration
        return event

    # -- sending --------------------------------------------------------------

    async def send(self, event: SentT) -> None:
        """Serialise ``event`` and write it whole, first waiting while too much waits unwritten.

        Concurrent senders go one at a time, in order; a cancelled call sent
        nothing. On an unentered stream the call also writes, and a write
        cancelled midway leaves the stream broken (trio's rule for
        ``send_all``): :class:`~tidewire.ConnectionLostError` from then on.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        if self._tasks is not None and not self._flow.writing_paused and not self._turn.count:
            self._send_now(event)  # the writer task takes it: nobody can interleave
            return
        async with self._turn:
            await self._writable()
            self._send_now(event)
            if self._tasks is None:
                await self._write_out()

    def send_nowait(self, event: SentT) -> None:
        """Serialise ``event`` now and queue its bytes in order, without waiting.

        What is queued before the writer runs leaves in one write (pipelining
        for free); on an unentered stream, with the next awaiting call. Bound
        it with :meth:`drain`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._send_now(event)

    def _send_now(self, event: SentT) -> None:
        self._check_usable()
        connection = self._connection
        connection.send(event)
        self._queue(connection.data_to_send())
        self._check_timer()

    async def _writable(self) -> None:
        while self._flow.writing_paused:
            self._check_usable()
            await self._wait_written()

    def write_pending(self) -> None:
        """Queue what the core produced by itself (after calling one of its methods)."""
        if not self._closed:
            self._queue(self._flow.replies())
            self._check_timer()

    async def drain(self) -> None:
        """Wait until the bytes waiting to be written are down to the low-water mark.

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._turn:
            self._check_usable()
            if self._tasks is None:
                await self._write_out()
            await self._writable()
            self._check_usable()

    async def send_eof(self) -> None:
        """Close our sending side (a TCP half-close), after earlier sends.

        Raises:
            NotImplementedError: the transport cannot half-close (TLS).
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._turn:
            self.write_pending()
            await self._write_out()
            transport = self._check_usable()
            try:
                await transport.send_eof()
            except NotImplementedError:
                raise NotImplementedError(
                    f"{type(transport).__name__} cannot close only its sending side"
                ) from None

    def _queue(self, data: bytes) -> None:
        self._out.queue(data)

    async def _write_out(self) -> None:
        await self._out.write_out()

    # -- time -----------------------------------------------------------------

    def _check_timer(self) -> None:
        if self._flow.timer_changed():
            self._timer_moved.fire()

    def _fire_timer(self) -> None:
        flow = self._flow
        flow.fire_timer(anyio.current_time())
        self._queue(flow.replies())
        self._check_timer()
        self._wake_input()  # the core may have events now

    async def _keep_time(self) -> None:
        """The timer task of an entered stream: one wake-up at the core's deadline."""
        while not self.closed:
            deadline = self._flow.timer
            with anyio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                await self._timer_moved.wait()
            if scope.cancelled_caught and self._flow.timer == deadline and not self.closed:
                self._fire_timer()

    # -- owning tasks and closing -----------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the tasks that read, write and keep time for the stream; return it."""
        if self._exit is not None:
            raise RuntimeError("the stream was already entered")
        if self._transport is not None and not self.closed:
            async with contextlib.AsyncExitStack() as stack:
                tasks = await stack.enter_async_context(anyio.create_task_group())
                tasks.start_soon(self._read_ahead)
                tasks.start_soon(self._out.run, lambda: self._closed)
                if self._flow.timed:
                    tasks.start_soon(self._keep_time)
                self._tasks, self._exit = tasks, stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the stream (:meth:`aclose`) and end its tasks."""
        try:
            await self.aclose()
        finally:
            tasks, stack = self._tasks, self._exit
            if tasks is not None and stack is not None:
                if self._reader_scope is not None:
                    self._reader_scope.cancel()
                tasks.cancel_scope.cancel()
                self._tasks = None
                # The tasks never fail; the body's exception goes on as it is,
                # not wrapped in an ExceptionGroup by the task group.
                await stack.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Write what is left, close the byte stream and wait until it is closed.

        Others waiting on the stream get :class:`~tidewire_anyio.StreamClosedError`;
        a cancelled wait aborts the connection. Calling it again is harmless.
        """
        self.close_nowait()
        if self._transport is None:
            return
        try:
            await self._finish_close()
        except BaseException:
            self.abort()
            raise

    def close_nowait(self) -> None:
        """Begin :meth:`aclose` from sync code; an unentered stream ends it at the next await."""
        if self._closed:
            return
        self.write_pending()
        self._shut()

    def abort(self) -> None:
        """Close the connection at once, dropping unsent bytes (a TCP reset where possible)."""
        self._aborted = True
        self._shut()
        self._out.abort()
        reset_on_close(self._transport)

    def _shut(self) -> None:
        was_closed, self._closed = self._closed, True
        self._flow.discard_input()
        self._wake_all()
        if not was_closed and self._tasks is not None and self._transport is not None:
            self._tasks.start_soon(self._finish_close)

    async def _finish_close(self) -> None:
        if self._finished is not None:  # another task is closing: wait for it
            await self._finished.wait()
            return
        self._finished = anyio.Event()
        transport = cast(anyio.abc.ByteStream, self._transport)
        clean = False
        try:
            with contextlib.suppress(*STREAM_ERRORS):
                await self._write_out()
                if not (self._aborted or self._lost):
                    await self._stop_reader(transport)
                    await transport.aclose()
                    clean = True
        finally:
            if not clean:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(transport)
            self._finished.set()

    async def _stop_reader(self, transport: anyio.abc.ByteStream) -> None:
        # Closing a socket wakes its reader. Other streams may need to read to
        # close (TLS's close_notify) or never wake it (memory streams).
        scope, done = self._reader_scope, self._reader_done
        if not isinstance(transport, anyio.abc.SocketStream) and scope and done:
            scope.cancel()
            await done.wait()

    def __repr__(self) -> str:
        if self._closed or self._lost:
            state = "closed" if self._closed else "lost"
        elif self._transport is None:
            state = "unattached"
        else:
            state = f"peer={self.get_extra_info('peername')!r}"
        return f"<{type(self).__name__} {type(self._connection).__name__} {state}>"
