"""The write side of an EventStream: queued bytes, and one writer at a time handing them on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from tidewire.flow import FlowControl

from ._closing import Signal
from ._transport import STREAM_ERRORS


class Turns:
    """``async with turns:`` one sender at a time, in arrival order, counting who holds or waits.

    A class rather than a generator-based context manager: every send and
    drain enters it.
    """

    def __init__(self) -> None:
        self.count = 0  # senders holding or awaiting their turn
        self._lock = anyio.Lock(fast_acquire=True)

    async def __aenter__(self) -> None:
        self.count += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self.count -= 1
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()
        self.count -= 1


class Writer:
    """Bytes queued in order, written by one task at a time, with the water marks' bookkeeping.

    anyio cannot say how much of a send in progress has left, so its whole
    size counts in :attr:`backlog` until it returns.
    """

    def __init__(
        self,
        flow: FlowControl[Any, Any],
        high: int,
        low: int,
        lost: Callable[[BaseException | None, str], None],
        drained: Callable[[], None],
    ) -> None:
        self.transport: anyio.abc.ByteStream | None = None
        self.stopped = False  # lost or aborted: nothing more is written
        self.replies_blocked = False  # the core's replies wait unwritten: parse nothing more
        self.output = Signal()  # bytes wait to be written, or the stream closed
        self.drained = Signal()  # the backlog went down to the low mark
        self._flow = flow
        self._high, self._low = high, low
        self._lost = lost
        self._on_drained = drained
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._in_flight = 0  # bytes of the byte stream's send() in progress
        self._lock = anyio.Lock(fast_acquire=True)
        self._scope: anyio.CancelScope | None = None

    @property
    def backlog(self) -> int:
        """Bytes queued and not yet taken by the byte stream."""
        return self._pending_size + self._in_flight

    @property
    def queued(self) -> bool:
        """Whether bytes wait for the next write."""
        return self._pending_size > 0

    def queue(self, data: bytes, replies: bool = False) -> None:
        """Queue ``data`` after everything queued before; ``replies`` if the core made them."""
        if data:
            self._pending.append(data)
            self._pending_size += len(data)
            if self.backlog > self._high:
                self._flow.pause_writing()
            # Parse on only once the core's replies are down to the low mark,
            # or a peer that never reads grows the queue.
            self.replies_blocked = self.replies_blocked or (replies and self._flow.writing_paused)
            self.output.fire()

    def drop(self) -> None:
        """Forget every queued byte."""
        self._pending.clear()
        self._pending_size = 0

    def release(self) -> None:
        """Nothing will drain any more (or everything did): wake the waiting senders."""
        self._flow.resume_writing()
        self.replies_blocked = False
        self.drained.fire()
        self.output.fire()
        self._on_drained()

    def abort(self) -> None:
        """Write nothing more; interrupt a write in progress."""
        self.stopped = True
        self.drop()
        if self._scope is not None:
            self._scope.cancel()

    async def write_out(self) -> None:
        """Hand every queued byte to the byte stream, one writer at a time.

        A write cancelled midway leaves the stream broken (trio's rule for
        ``send_all``): nobody knows how much of it left.
        """
        async with self._lock:
            while self._pending_size and not self.stopped:
                pending = self._pending
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                self.drop()
                self._in_flight = len(data)
                try:
                    with anyio.CancelScope() as self._scope:  # abort() cancels it
                        await self.transport.send(data)  # type: ignore[union-attr]
                except STREAM_ERRORS as exc:
                    self._lost(exc, "")
                except BaseException:
                    self._lost(None, "a write was cancelled midway: the stream is unusable")
                    raise
                finally:
                    self._in_flight = 0
                    self._scope = None
                if self.backlog <= self._low:
                    self.release()

    async def run(self, closed: Callable[[], bool]) -> None:
        """The writer task of an entered stream: write until stopped, or closed and done."""
        while not self.stopped:
            if self._pending_size:
                await self.write_out()
            elif closed():
                return
            else:
                await self.output.wait()
