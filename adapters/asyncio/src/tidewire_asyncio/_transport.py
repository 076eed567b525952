"""The asyncio end of an EventStream: transport callbacks in, ordered writes out."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from tidewire.flow import FlowControl

if TYPE_CHECKING:
    from .stream import EventStream

_LINGER_ZERO = struct.pack("ii", 1, 0)
_CORK_LIMIT = 64 * 1024  # held writes leave at once beyond this
_READ_SIZE = 256 * 1024  # what asyncio's transports read at once


class _ReadBuffer(threading.local):
    """Where the transports of one thread read into, one read at a time (see StreamProtocol)."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_SIZE))


_shared = _ReadBuffer()


class StreamProtocol(asyncio.BufferedProtocol):
    """The transport's callbacks for one stream; they only record and wake.

    A plain Protocol's transport reads into a new 256 KiB ``bytes`` and
    shrinks it: with glibc that is an mmap, an mremap and a munmap for every
    read, most of what a small message costs. Reads go into one buffer per
    thread instead (a read ends before the next begins), and only the bytes
    read are copied out; on Windows, whose proactor loop reads after
    ``get_buffer`` returns, each stream keeps a buffer of its own.
    """

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        self._stream = stream
        self._view = memoryview(bytearray(_READ_SIZE)) if sys.platform == "win32" else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._stream._attach(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view or _shared.view

    def buffer_updated(self, nbytes: int) -> None:
        self._stream._on_data(bytes((self._view or _shared.view)[:nbytes]))

    def eof_received(self) -> bool:
        self._stream._on_eof()
        return True  # keep the transport: we may still send (a TCP half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stream._on_lost(exc)

    def pause_writing(self) -> None:
        self._stream._flow.pause_writing()

    def resume_writing(self) -> None:
        self._stream._on_resume_writing()


class Writer:
    """Writes to one transport in order, a burst of replies in one system call; senders' turns.

    While the events being handled came from input that may hold more (a
    pipelined batch), the first write leaves at once (a lone request's
    reply is not held back) and later ones are held until the input is
    drained, the next loop turn, or 64 KiB: one system call per batch.
    Senders that must wait for the transport to drain take turns, first
    come, first served, also when one of them is cancelled.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.more_input = False  # the event being handled came with more input
        self._burst_written = False
        self._held: list[bytes] = []
        self.held_size = 0
        self._handle: asyncio.Handle | None = None
        # Returns what the core queued and write_pending() left to this
        # turn's held write: taken first when the held bytes leave.
        self.pending: Callable[[], bytes] | None = None
        self._drainers: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()
        # Tasks holding or awaiting the lock: a send takes the fast path only
        # when there are none, or it would overtake a waiter the lock was just
        # handed to (locked() is False until that waiter runs).
        self.turns = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the senders' lock, in arrival order."""
        self.turns += 1
        try:
            async with self._lock:
                yield
        finally:
            self.turns -= 1

    async def drained(self) -> None:
        """Wait for the next :meth:`wake`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drainers.append(waiter)
        await waiter

    def wake(self, exc: BaseException | None) -> None:
        """Wake every :meth:`drained`, raising ``exc`` in them if given."""
        drainers, self._drainers = self._drainers, []
        for waiter in drainers:
            if not waiter.done():
                waiter.set_result(None) if exc is None else waiter.set_exception(exc)

    def usable(self) -> asyncio.Transport | None:
        transport = self.transport
        return None if transport is None or transport.is_closing() else transport

    def write(self, data: bytes) -> None:
        """Write ``data`` after everything written before, now or with its burst."""
        if not data:
            return
        if self._held or (self.more_input and self._burst_written):
            self.hold(data)
            return
        self._burst_written = self.more_input
        transport = self.usable()
        if transport is not None:
            transport.write(data)

    def hold(self, data: bytes) -> None:
        """Write ``data`` with the next turn of the loop, in order with every other write."""
        self._held.append(data)
        self.held_size += len(data)
        if self.held_size >= _CORK_LIMIT:
            self.flush()
        elif self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def end_burst(self) -> None:
        """The input is drained: what was held leaves now."""
        self.more_input = self._burst_written = False
        self.flush()

    @property
    def scheduled(self) -> bool:
        """True while held bytes wait for the end of the loop turn."""
        return self._handle is not None

    def flush(self) -> None:
        """Write everything held, and what the core left pending, now."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.pending is not None:
            data = self.pending()
            if data:
                self._held.append(data)
        held = self._held
        if held:
            data = held[0] if len(held) == 1 else b"".join(held)
            held.clear()
            self.held_size = 0
            transport = self.usable()
            if transport is not None:
                transport.write(data)

    def backlog(self) -> int:
        transport = self.transport
        held = self.held_size
        return held if transport is None else held + transport.get_write_buffer_size()

    def abort(self) -> None:
        """Drop what is held and reset the connection (linger 0 even with unsent bytes)."""
        self._held.clear()
        self.held_size = 0
        transport = self.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
            transport.abort()


class Alarm:
    """One wake-up on the loop's clock at the deadline of a :class:`~tidewire.flow.FlowControl`."""

    def __init__(self, flow: FlowControl[Any, Any], fired: Callable[[], None]) -> None:
        self._flow = flow
        self._fired = fired
        self._handle: asyncio.TimerHandle | None = None

    def check(self) -> None:
        """Ask the core for its deadline; move the wake-up if it changed."""
        if self._flow.timer_changed():
            self._reschedule()

    def _reschedule(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        deadline = self._flow.timer
        if deadline is not None:
            self._handle = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._flow.fire_timer(asyncio.get_running_loop().time())
        self._fired()

    def stop(self) -> None:
        """No wake-up any more."""
        self._flow.stop_timer()
        self._reschedule()
