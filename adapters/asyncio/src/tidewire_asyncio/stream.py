"""The generic binding: any :class:`tidewire.Connection` over an asyncio transport.

The decisions (when to read, when to parse, what to feed the core, when its
timer is due) are :class:`tidewire.flow.FlowControl`'s, shared by every
adapter; this module is the asyncio glue: the transport, futures, the send
lock, cancellation, and one timer handle on the loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData, ReceiveState
from tidewire.flow import DEFAULT_READ_HIGH_WATER, FlowControl

from ._closing import AsyncClosing
from ._transport import Alarm, StreamProtocol, Writer
from .errors import ConnectionLostError, StreamClosedError

__all__ = ["DEFAULT_READ_HIGH_WATER", "EventStream"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)


class EventStream(AsyncClosing, Generic[ReceivedT, SentT]):
    """A tidewire core running over an asyncio transport.

    Made by :func:`~tidewire_asyncio.connect` or handed to a
    :func:`~tidewire_asyncio.serve` handler; or build one and attach a
    transport with ``loop.create_connection(lambda: stream.protocol, ...)``.
    Receiving is lazy, backpressure holds both ways, a cancelled
    :meth:`receive` or :meth:`send` changed nothing, and the core's timer is
    driven on the loop's clock: see the adapter's guide for the whole contract.

    Args:
        connection: The core; the stream feeds it and drains its output.
        read_high_water: Stop reading when more received bytes wait unparsed.
        read_low_water: Read again at this many; a quarter of the high mark
            by default.
        write_high_water: The transport's write high-water mark, above which
            :meth:`send` waits; ``None`` keeps asyncio's (64 KiB).
        write_low_water: The mark below which waiting senders go on.

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
        if min(write_high_water or 0, write_low_water or 0) < 0:
            raise ValueError("write water marks must not be negative")
        self._flow = FlowControl(
            connection, read_high_water=read_high_water, read_low_water=read_low_water
        )
        self._connection = connection
        self._write_limits = (write_high_water, write_low_water)
        self._protocol = StreamProtocol(self)
        self._out = Writer()
        self._out.pending = self._take_pending
        self._alarm = Alarm(self._flow, self._on_timer)
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the transport's
        self._lost = False
        self._lost_exc: BaseException | None = None
        self._closed = False  # closed on this side
        self._read_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._receiving = False
        self._lost_waiter: asyncio.Future[None] | None = None
        self._listener: Callable[[], None] | None = None
        self._on_attach: Callable[[EventStream[Any, Any]], None] | None = None  # for Server

    # -- state ----------------------------------------------------------------

    @property
    def connection(self) -> Connection[ReceivedT, SentT]:
        """The core. Call its methods between events, then :meth:`write_pending`."""
        return self._connection

    @property
    def protocol(self) -> asyncio.BaseProtocol:
        """The :class:`asyncio.Protocol` to give the loop; a stream takes one transport."""
        return self._protocol

    @property
    def transport(self) -> asyncio.Transport | None:
        """The transport, or ``None`` before one is attached."""
        return self._transport

    @property
    def closed(self) -> bool:
        """Whether the stream is unusable (closed on this side, or the transport is gone)."""
        return self._closed or self._lost

    @property
    def read_backlog(self) -> int:
        """Bytes received and not yet handed to the core."""
        return self._flow.backlog

    @property
    def reading_paused(self) -> bool:
        """True while the stream has stopped reading the transport (backpressure)."""
        return self._read_paused

    @property
    def write_backlog(self) -> int:
        """Bytes written and not yet sent (the transport's buffer and those held to coalesce)."""
        return self._out.backlog()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra information ``name``, or ``default``."""
        transport = self._transport
        return default if transport is None else transport.get_extra_info(name, default)

    # -- transport callbacks --------------------------------------------------

    def _attach(self, transport: asyncio.Transport) -> None:
        if self._transport is not None:
            transport.abort()
            raise RuntimeError("an EventStream accepts only one transport")
        self._transport = self._out.transport = transport
        self._loop = asyncio.get_running_loop()
        if self._write_limits != (None, None):
            transport.set_write_buffer_limits(*self._write_limits)
        self._out.write(self._connection.data_to_send())  # a core may speak first
        self._alarm.check()
        if self._on_attach is not None:
            self._on_attach(self)

    def _on_data(self, data: bytes) -> None:
        if self._closed:
            return  # TLS may deliver data while it flushes our close: nobody will read it
        flow = self._flow
        flow.data_received(data)
        if not flow.reading and not self._read_paused:
            self._set_reading(False)
        self._wake_reader()

    def _on_eof(self) -> None:
        self._flow.eof_received()
        self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._listener is not None:
            self._listener()

    def _on_resume_writing(self) -> None:
        self._flow.resume_writing()
        self._out.wake(None)
        if self._listener is not None:
            self._listener()  # receive_nowait() may parse on now that our replies can leave

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost, self._lost_exc = True, exc
        self._alarm.stop()
        self._flow.resume_writing()  # nothing will drain any more
        self._out.wake(self._broken())
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)
        self._wake_reader()

    def _set_reading(self, reading: bool) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._read_paused = not reading
            transport.resume_reading() if reading else transport.pause_reading()

    def _broken(self) -> Exception:
        connection = self._connection
        # The peer's clean end, if the core saw it (it repeats its closing event).
        ended = connection.receive_state is ReceiveState.CLOSED
        event = cast(ConnectionClosed, connection.next_event()) if ended else None
        if self._closed:
            return StreamClosedError("the stream was closed on this side", event)
        exc = self._lost_exc
        if exc is None:
            return ConnectionLostError("the connection was closed before the peer finished", event)
        error = ConnectionLostError(f"the connection was lost: {exc or type(exc).__name__}", event)
        error.__cause__ = exc
        return error

    def _check_usable(self) -> asyncio.Transport:
        if self._closed or self._lost:
            raise self._broken()
        if self._transport is None:
            raise RuntimeError("the stream has no transport yet")
        return self._transport

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
                if self._flow.output_blocked and not self._closed:
                    await self._out.drained()  # our replies must leave before we parse on
                    continue
                event = self._pull()
                if event is not NEED_DATA:
                    return event
                loop = self._loop or asyncio.get_running_loop()
                self._read_waiter = loop.create_future()
                try:
                    await self._read_waiter
                finally:
                    self._read_waiter = None
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
        if self._flow.output_blocked and not self._closed:
            return NEED_DATA
        return self._pull()

    def _pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        if self._closed:
            raise self._broken()
        flow = self._flow
        try:
            event = flow.next_event()
        except BaseException:
            self._out.more_input = False
            self.write_pending()
            raise
        data = flow.replies()
        if data:
            self._out.write(data)
        if flow.timed:
            self._alarm.check()
        if self._read_paused and flow.reading:
            self._set_reading(True)
        if event is not NEED_DATA:
            self._out.more_input = True
            return event
        self._out.end_burst()
        if self._lost:
            raise self._broken()
        return NEED_DATA

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener()`` whenever :meth:`receive_nowait` may have something new.

        That is when data or end of file arrives, a timer of the core fires,
        writing resumes, or the connection ends. It runs in the loop's
        callback, so a protocol layer can parse as bytes arrive (asyncio's
        protocol idiom) instead of running a task that waits in
        :meth:`receive`: one hop of the loop less per event. ``None`` removes it.
        """
        self._listener = listener

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
        """Serialise ``event`` and write it whole, first waiting while the transport is full.

        Concurrent senders go one at a time, in order; a cancelled call sent nothing.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        if not self._flow.writing_paused and not self._out.turns:
            self._send_now(event, self._out.write)  # no await: nobody can interleave
            return
        async with self._out.turn():
            await self._writable()
            self._send_now(event, self._out.write)

    def send_nowait(self, event: SentT) -> None:
        """Serialise ``event`` now and write it in order, without waiting.

        What is sent this way in one loop turn leaves in one write (pipelining
        for free); bound it with :meth:`drain`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._send_now(event, self._out.hold)

    def _send_now(self, event: SentT, write: Callable[[bytes], None]) -> None:
        self._check_usable()
        connection = self._connection
        connection.send(event)
        write(connection.data_to_send())
        if self._flow.timed:
            self._alarm.check()

    async def _writable(self) -> None:
        while self._flow.writing_paused:
            self._check_usable()
            await self._out.drained()

    def write_pending(self) -> None:
        """Write what the core queued by itself (after calling one of its methods)."""
        # While a held write waits for the end of the loop turn, the core's
        # bytes leave with it (Writer.pending): a call per line costs a test.
        if not self._closed and not self._out.scheduled:
            self._out.write(self._flow.replies())
            self._alarm.check()

    def _take_pending(self) -> bytes:
        data = self._flow.replies()
        self._alarm.check()
        return data

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark.

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._out.turn():
            self._check_usable()
            self._out.flush()
            await self._writable()

    async def send_eof(self) -> None:
        """Close our sending side (a TCP half-close), after earlier sends.

        Raises:
            NotImplementedError: the transport cannot half-close (TLS).
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._out.turn():
            transport = self._check_usable()
            if not transport.can_write_eof():
                raise NotImplementedError(
                    f"{type(transport).__name__} cannot close only its sending side"
                )
            self.write_pending()
            self._out.flush()
            transport.write_eof()

    def _on_timer(self) -> None:
        self.write_pending()
        self._wake_reader()  # the core may have events now

    # -- closing --------------------------------------------------------------

    async def aclose(self) -> None:
        """Write what is left, close the transport and wait until it is closed.

        Others waiting on the stream get :class:`~tidewire_asyncio.StreamClosedError`;
        a cancelled wait aborts the connection. Calling it again is harmless.
        """
        self.close_nowait()
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
        """Begin :meth:`aclose` from sync code: write what is left, close the transport."""
        if self._closed:
            return
        self.write_pending()
        self._out.flush()
        self._shut()
        transport = self._out.usable()
        if transport is not None:
            transport.close()

    def abort(self) -> None:
        """Close the connection at once, dropping unsent bytes (a TCP reset where possible)."""
        self._shut()
        self._out.abort()

    def _shut(self) -> None:
        self._closed = True
        self._alarm.stop()
        self._flow.discard_input()
        self._out.wake(self._broken())
        self._wake_reader()

    def __repr__(self) -> str:
        if self._closed or self._lost:
            state = "closed" if self._closed else "lost"
        elif self._transport is None:
            state = "unattached"
        else:
            state = f"peer={self.get_extra_info('peername')!r}"
        return f"<{type(self).__name__} {type(self._connection).__name__} {state}>"
