"""The generic binding: any :class:`tidewire.Connection` over any :class:`trio.abc.Stream`.

The decisions (what to feed the core, when its timer is due) are
:class:`tidewire.flow.FlowControl`'s, shared by every adapter; this module is
the trio glue. Nothing reads unless a task awaits: :meth:`EventStream.receive`
reads the trio stream itself, so a slow consumer holds the peer back through
TCP with no buffering of ours, and there is no task to own.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import trio

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData, ReceiveState
from tidewire.flow import DEFAULT_READ_HIGH_WATER, FlowControl

from ._closing import AsyncClosing
from ._transport import BusyError, close_now, extra_info
from .errors import ConnectionLostError, StreamClosedError

__all__ = ["DEFAULT_READ_HIGH_WATER", "EventStream"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

_RECEIVE_SIZE = 64 * 1024  # trio's own default for one receive_some()
_HELD_REPLIES = 64 * 1024  # the default write_high_water


class EventStream(AsyncClosing, Generic[ReceivedT, SentT]):
    """A tidewire core running over a trio stream.

    Made by :func:`~tidewire_trio.connect` or handed to a
    :func:`~tidewire_trio.serve` handler. The stream reads only inside
    :meth:`receive`, which also writes the core's automatic replies and drives
    its timer with ``trio.move_on_at()``; :meth:`send` writes before it
    returns. See the adapter's guide for the whole contract.

    Args:
        connection: The core; the stream feeds it and drains its output.
        read_high_water: Bytes a read may leave unparsed before the next is
            refused (pull mode keeps it at one read); as asyncio's.
        read_low_water: As asyncio's; a quarter of the high mark by default.
        write_high_water: Bytes of automatic replies :meth:`receive` may
            hold back to write together; 64 KiB by default.
        write_low_water: Accepted for asyncio's signature; unused.

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
        self._held_limit = _HELD_REPLIES if write_high_water is None else write_high_water
        self._transport: trio.abc.Stream | None = None
        self._send_lock = trio.StrictFIFOLock()
        self._queue: list[bytes] = []  # serialised, not yet written, in order
        self._queued = 0
        self._in_flight = 0
        self._queued_wakeup = trio.Event()
        self._burst_written = False  # a reply of this burst of input already left
        self._receiving = False
        self._stashed: ReceivedT | ConnectionClosed | None = None  # parsed, not yet returned
        self._closed = False  # closed on this side
        self._shut = False  # the trio stream was closed
        self._lost = False
        self._lost_exc: BaseException | None = None
        self._lost_reason = "the connection was closed before the peer finished"

    # -- state ----------------------------------------------------------------

    @property
    def connection(self) -> Connection[ReceivedT, SentT]:
        """The core. Call its methods between events, then :meth:`write_pending`."""
        return self._connection

    @property
    def transport(self) -> trio.abc.Stream | None:
        """The trio stream, or ``None`` before one is attached."""
        return self._transport

    @property
    def closed(self) -> bool:
        """Whether the stream is unusable (closed on this side, or the connection is gone)."""
        return self._closed or self._lost

    @property
    def read_backlog(self) -> int:
        """Bytes received and not yet handed to the core (at most one read)."""
        return self._flow.backlog

    @property
    def reading_paused(self) -> bool:
        """Always ``False``: a trio stream reads only when asked, never ahead."""
        return not self._flow.reading

    @property
    def write_backlog(self) -> int:
        """The bytes serialised and not yet written (queued, or in the write under way)."""
        return self._queued + self._in_flight

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return asyncio's extra information ``name`` where trio has it, or ``default``.

        ``"peername"``, ``"sockname"`` and ``"socket"`` come from the
        :class:`trio.SocketStream` underneath; ``"ssl_object"`` is the
        :class:`trio.SSLStream` (it answers ``getpeercert()``, ``cipher()``,
        ``version()`` ...), ``"sslcontext"``, ``"peercert"`` and ``"cipher"``
        come from it; ``"stream"`` is the trio stream itself.
        """
        transport = self._transport
        return default if transport is None else extra_info(transport, name, default)

    async def _attach(self, transport: trio.abc.Stream) -> None:
        if self._transport is not None:
            raise RuntimeError("an EventStream accepts only one trio stream")
        self._transport = transport
        self._enqueue(self._connection.data_to_send())  # a core may speak first
        if self._queue:
            await self._flush()

    def _lose(self, exc: BaseException | None, reason: str | None = None) -> None:
        if not self._lost:
            self._lost, self._lost_exc = True, exc
            self._lost_reason = reason or self._lost_reason
            self._flow.stop_timer()

    def _broken(self) -> Exception:
        connection = self._connection
        # The peer's clean end, if the core saw it (it repeats its closing event).
        ended = connection.receive_state is ReceiveState.CLOSED
        event = cast(ConnectionClosed, connection.next_event()) if ended else None
        if self._closed:
            return StreamClosedError("the stream was closed on this side", event)
        exc = self._lost_exc
        if exc is None:
            return ConnectionLostError(self._lost_reason, event)
        error = ConnectionLostError(f"the connection was lost: {exc or type(exc).__name__}", event)
        error.__cause__ = exc
        return error

    def _check_usable(self) -> trio.abc.Stream:
        if self._closed or self._lost:
            raise self._broken()
        if self._transport is None:
            raise RuntimeError("the stream has no transport (trio stream) yet")
        return self._transport

    # -- receiving ------------------------------------------------------------

    async def receive(self) -> ReceivedT | ConnectionClosed:
        """Return the next event; after the peer's clean end, the core's closing event, again.

        Reads the trio stream while the core needs bytes, and runs the core's
        timer meanwhile. One task at a time may receive; a cancelled call
        consumed nothing.

        Raises:
            RemoteProtocolError: the peer broke the protocol or a limit (what
                the core owed the peer was written first); raised again later.
            ConnectionLostError: the connection broke, after every complete
                event received before it.
            StreamClosedError: the stream was closed on this side.
            RuntimeError: another task is receiving (a ``trio.BusyResourceError``
                that is also a ``RuntimeError``, as on asyncio).
        """
        if self._receiving:
            raise BusyError("another task is already receiving on this stream")
        self._receiving = True
        try:
            while True:
                event = self._pull() if self._stashed is None else self._stashed
                if event is NEED_DATA:
                    await self._flush()  # our replies leave before we wait for the peer
                    self._burst_written = False
                    await self._fill()
                    continue
                if self._queued and (not self._burst_written or self._queued > self._held_limit):
                    self._stashed = event  # a cancelled write must not lose the event
                    await self._flush()
                    self._burst_written = True
                self._stashed = None
                return event
        except Exception:
            if self._queue and not self._closed and not self._lost:
                await self._flush()  # what the core owed the peer, before its error
            raise
        finally:
            self._receiving = False

    def receive_nowait(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event in what was already read, or :data:`~tidewire.NEED_DATA`.

        Never reads and never waits: replies it makes leave with the next
        awaiting call.

        Raises:
            RemoteProtocolError: as :meth:`receive`.
            ConnectionLostError: as :meth:`receive`.
            StreamClosedError: as :meth:`receive`.
            RuntimeError: another task is waiting in :meth:`receive` (as there).
        """
        if self._receiving:
            raise BusyError("another task is already receiving on this stream")
        if self._stashed is not None:
            event, self._stashed = self._stashed, None
            return event
        return self._pull()

    def _pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        if self._closed:
            raise self._broken()
        flow = self._flow
        try:
            event = flow.next_event()
        finally:
            self._enqueue(flow.replies())
        if event is NEED_DATA and self._lost:
            raise self._broken()
        return event

    async def _fill(self) -> None:
        """Read once into the flow, or fire the core's timer if it comes first."""
        flow = self._flow
        transport = self._check_usable()
        if flow.timed:
            flow.timer_changed()  # the core's deadline after everything since the last read
        if flow.timer is None:
            data = await self._read(transport)  # no deadline: no cancel scope to pay for
        else:
            with trio.move_on_at(flow.timer) as timer:
                data = await self._read(transport)
            if timer.cancelled_caught:
                flow.fire_timer(trio.current_time())
                return
        if data is None:
            return
        if data:
            flow.data_received(cast(bytes, data))  # a bytearray is as good to the core
        else:
            flow.eof_received()

    async def _read(self, transport: trio.abc.Stream) -> bytes | bytearray | None:
        """One ``receive_some()``; ``None`` once the connection broke."""
        try:
            return await transport.receive_some(_RECEIVE_SIZE)
        except trio.BrokenResourceError as exc:
            self._lose(exc.__cause__ or exc)
            return None
        except trio.ClosedResourceError:
            if not self._closed:  # closed behind our back
                self._lose(None, "the trio stream was closed under the EventStream")
            raise self._broken() from None

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
        """Serialise ``event`` and write it, after everything sent or queued before.

        Concurrent senders go one at a time, first come, first served. A call
        cancelled while waiting for its turn sent nothing; one cancelled while
        trio writes leaves the stream broken (trio's rule for
        ``send_all``): later calls raise :class:`~tidewire.ConnectionLostError`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        await self._take_turn()
        try:
            self._serialise(event)
            await self._write_queue()
        finally:
            self._send_lock.release()

    def send_nowait(self, event: SentT) -> None:
        """Serialise ``event`` now and queue its bytes, in order, without waiting.

        The queue leaves in one write with the next awaiting call
        (:meth:`send`, :meth:`drain`, :meth:`receive` before it waits,
        :meth:`aclose`), or at once while a task runs :meth:`run_writer`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._serialise(event)

    def _serialise(self, event: SentT) -> None:
        self._check_usable()
        connection = self._connection
        connection.send(event)
        self._enqueue(connection.data_to_send())

    def _enqueue(self, data: bytes) -> None:
        if data:
            self._queue.append(data)
            self._queued += len(data)
            self._queued_wakeup.set()

    def write_pending(self) -> None:
        """Queue what the core queued by itself (after calling one of its methods).

        It leaves as :meth:`send_nowait`'s bytes do.
        """
        if not self._closed:
            self._enqueue(self._flow.replies())

    async def drain(self) -> None:
        """Write everything queued (:meth:`send_nowait`, :meth:`write_pending`, replies).

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        await self._take_turn()
        try:
            self._check_usable()
            self.write_pending()
            await self._write_queue()
        finally:
            self._send_lock.release()

    async def run_writer(self) -> None:
        """Write queued bytes as soon as they are queued, until the stream is closed.

        For protocol layers that queue from many tasks with
        :meth:`send_nowait` while another task waits in :meth:`receive`: run
        it in a task of a nursery they own. What the tasks ready in the same
        scheduling batch queue leaves in one write.
        """
        while not self.closed:
            if not self._queue:
                self._queued_wakeup = trio.Event()
                await self._queued_wakeup.wait()
            await trio.lowlevel.cancel_shielded_checkpoint()  # let the batch queue its part
            try:
                await self.drain()
            except StreamClosedError:
                return

    async def _take_turn(self) -> None:
        lock = self._send_lock
        if lock.locked():
            await lock.acquire()  # first come, first served
        else:
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing was serialised
            lock.acquire_nowait()  # free means nobody waits (trio hands a lock over)

    async def _flush(self) -> None:
        if not self._queue:
            return
        await self._take_turn()
        try:
            if not self._closed and not self._lost:
                await self._write_queue()
        finally:
            self._send_lock.release()

    async def _write_queue(self) -> None:
        """Write the queue (the send lock is held); a write cancelled half-way breaks the stream."""
        transport = self._check_usable() if not self._closed else self._transport
        assert transport is not None
        while self._queue:
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled before writing: intact
            data = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
            self._queue.clear()
            self._queued, self._in_flight = 0, len(data)
            try:
                await transport.send_all(data)
            except trio.BrokenResourceError as exc:
                self._lose(exc.__cause__ or exc)
                raise self._broken() from None
            except trio.ClosedResourceError:
                raise self._broken() from None
            except BaseException:
                self._lose(None, "a write was interrupted half-way, so the stream is unusable")
                raise
            finally:
                self._in_flight = 0

    async def send_eof(self) -> None:
        """Close our sending side (a TCP half-close), after earlier sends.

        Raises:
            NotImplementedError: the trio stream cannot half-close (TLS).
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        async with self._send_lock:
            transport = self._check_usable()
            if not isinstance(transport, trio.abc.HalfCloseableStream):
                raise NotImplementedError(
                    f"{type(transport).__name__} cannot close only its sending side"
                )
            self.write_pending()
            await self._write_queue()
            try:
                await transport.send_eof()
            except trio.BrokenResourceError as exc:
                self._lose(exc.__cause__ or exc)
                raise self._broken() from None

    # -- closing --------------------------------------------------------------

    async def aclose(self) -> None:
        """Write what is queued, close the trio stream and return.

        Others waiting on the stream get :class:`~tidewire_trio.StreamClosedError`;
        a cancelled call closes at once, dropping what was unsent (trio's
        ``aclose_forcefully``). Calling it again is harmless.
        """
        self.close_nowait()
        transport = self._transport
        if transport is None or self._shut:
            await trio.lowlevel.checkpoint()
            return
        self._shut = True
        try:
            async with self._send_lock:  # a send under way finishes first, as on asyncio
                if self._queue and not self._lost:
                    await self._write_queue()
            await transport.aclose()
        except trio.Cancelled:
            await trio.aclose_forcefully(transport)
            raise
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
            await trio.aclose_forcefully(transport)
        except (StreamClosedError, ConnectionLostError):
            await trio.aclose_forcefully(transport)

    def close_nowait(self) -> None:
        """Refuse every further use now; the queued bytes and the close leave in :meth:`aclose`."""
        if self._closed:
            return
        self.write_pending()
        self._closed = True
        self._stashed = None
        self._flow.stop_timer()
        self._flow.discard_input()

    def abort(self) -> None:
        """Close the connection at once, dropping unsent bytes (a TCP reset where possible).

        Sockets and trio's memory streams close at once; another trio stream
        is closed by the next :meth:`aclose`.
        """
        self.close_nowait()
        self._queue.clear()
        self._queued = 0
        transport = self._transport
        if transport is not None and not self._shut:
            close_now(transport, reset=True)

    def __repr__(self) -> str:
        if self._closed or self._lost:
            state = "closed" if self._closed else "lost"
        elif self._transport is None:
            state = "unattached"
        else:
            state = f"peer={self.get_extra_info('peername')!r}"
        return f"<{type(self).__name__} {type(self._connection).__name__} {state}>"
