"""One client's outbox on Twisted: a bounded queue, and the coroutine that writes it.

The same rules as :mod:`chathub.outbox` on asyncio: the room waits for room
in a client's outbox, so a burst reaches every reader at their pace, and a
client that takes nothing at all for ``stall_timeout`` seconds is dropped
with a goodbye. Here every wait is a Deferred on the reactor's clock: the
writer runs as ``Deferred.fromCoroutine(...)``, and dropping a client
cancels it (a cancelled send has sent nothing, so the goodbye comes next).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.python.failure import Failure

from tidewire import StreamClosedError

from .web import GOODBYE_TIMEOUT, MAX_PENDING

T = TypeVar("T")


class Event:
    """A flag coroutines wait for, as ``asyncio.Event``; each :meth:`wait` is its own Deferred.

    Cancelling one waiter's Deferred leaves the others waiting.
    """

    def __init__(self) -> None:
        self.is_set = False
        self._waiters: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """A Deferred that fires once the flag is set (at once if it is)."""
        waiter: Deferred[None] = Deferred(self._waiters.remove)
        if self.is_set:
            waiter.callback(None)
        else:
            self._waiters.append(waiter)
        return waiter

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self.is_set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def clear(self) -> None:
        """Unset the flag: later waits wait again."""
        self.is_set = False


async def within(clock: Any, seconds: float, waiting: Deferred[T]) -> T:
    """Await ``waiting`` for at most ``seconds`` of ``clock``; ``TimeoutError`` after that.

    ``waiting`` is cancelled when the time is up (Twisted's ``defer.TimeoutError``
    becomes the built-in one, which the hubs catch elsewhere too).
    """
    try:
        return await waiting.addTimeout(max(0.0, seconds), clock)
    except DeferredTimeout as exc:
        raise TimeoutError(f"gave up after {seconds:.1f} s") from exc


class Outbox:
    """What waits to be sent to one client, and the coroutine that sends it.

    :meth:`deliver` waits while :data:`MAX_PENDING` texts wait, so the room
    goes at the pace of its readers. A client that takes nothing for
    ``stall_timeout`` seconds while its outbox is full reads nothing at all:
    it is dropped, and ``goodbye()`` closes its connection properly.
    ``send`` raises a :class:`~tidewire.StreamClosedError` (the WebSocket's
    error is one) once the client is gone.
    """

    def __init__(
        self,
        clock: Any,
        send: Callable[[str], Awaitable[None]],
        goodbye: Callable[[], Coroutine[Any, Any, None]],
        stall_timeout: float,
    ) -> None:
        self.clock = clock  # the reactor (an IReactorTime)
        self.send = send
        self.goodbye = goodbye
        self.stall_timeout = stall_timeout
        self.pending: collections.deque[str] = collections.deque()
        self.has_mail = Event()
        self.has_room = Event()
        self.open = True
        self.taken_at = clock.seconds()  # when the writer last took a text
        self.writer = Deferred.fromCoroutine(self.run()).addErrback(_cancelled)
        self.farewell: Deferred[None] | None = None

    async def deliver(self, text: str) -> None:
        """Queue ``text``; while the outbox is full, wait for room (or drop the client)."""
        while self.open and len(self.pending) >= MAX_PENDING:
            self.has_room.clear()
            left = self.taken_at + self.stall_timeout - self.clock.seconds()
            try:
                await within(self.clock, left, self.has_room.wait())
            except TimeoutError:
                self.drop()
        if self.open:
            self.pending.append(text)
            self.has_mail.set()

    def drop(self) -> None:
        """Forget what waits, stop writing and say goodbye: the client reads nothing."""
        if not self.open:
            return  # another sender's wait ran out at the same time, or the session ended
        self.open = False
        self.pending.clear()
        self.writer.cancel()  # a cancelled send has sent nothing: the goodbye comes next
        self.has_room.set()  # other senders waiting for room stop waiting
        self.farewell = Deferred.fromCoroutine(self.goodbye()).addErrback(_cancelled)

    async def run(self) -> None:
        """Send queued text as it comes, until :meth:`aclose` and the queue is empty."""
        try:
            while self.open or self.pending:
                await self.has_mail.wait()
                self.has_mail.clear()
                while self.pending:
                    text = self.pending.popleft()
                    self.taken_at = self.clock.seconds()
                    self.has_room.set()
                    await self.send(text)
        except StreamClosedError:
            pass  # the client is gone: nothing more to send

    async def aclose(self) -> None:
        """Stop: send what is queued (if the client takes it in time) or finish the goodbye."""
        self.open = False
        self.has_mail.set()
        last = self.farewell or self.writer
        with contextlib.suppress(TimeoutError):  # within() cancels it when the time is up
            await within(self.clock, GOODBYE_TIMEOUT, last)


def _cancelled(failure: Failure) -> None:
    """A writer or goodbye cut short by :meth:`Outbox.drop` or the timeout: nothing to report."""
    failure.trap(CancelledError)  # type: ignore[no-untyped-call]
