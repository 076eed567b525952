"""One client's outbox with structured concurrency (trio, or anyio on either backend).

The same rules as :mod:`chathub.outbox` on asyncio: the room waits for room
in a client's outbox, so a burst reaches every reader at their pace, and a
client that takes nothing at all for ``stall_timeout`` seconds is dropped
with a goodbye. Here the writer and the goodbye are tasks of the client's
session's task group, so neither can outlive the session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.abc

from tidewire import StreamClosedError

from .web import GOODBYE_TIMEOUT, MAX_PENDING


class Outbox:
    """What waits to be sent to one client; :meth:`run` (a task of ``group``) sends it.

    ``send`` raises a :class:`~tidewire.StreamClosedError` (the WebSocket's
    error is one) once the client is gone.
    """

    def __init__(
        self,
        group: anyio.abc.TaskGroup,
        send: Callable[[str], Awaitable[None]],
        goodbye: Callable[[], Awaitable[None]],
        stall_timeout: float,
    ) -> None:
        self.group = group
        self.send = send
        self.goodbye = goodbye
        self.stall_timeout = stall_timeout
        self.sender, self.receiver = anyio.create_memory_object_stream[str](MAX_PENDING)
        self.open = True
        self.taken_at = anyio.current_time()  # when the writer last took a text
        self.writer = anyio.CancelScope()
        self.done = anyio.Event()  # the writer, or the goodbye, has finished

    async def deliver(self, text: str) -> None:
        """Queue ``text``; while the outbox is full, wait for room (or drop the client)."""
        if not self.open:
            return
        try:
            self.sender.send_nowait(text)
            return
        except anyio.WouldBlock:
            pass
        with anyio.CancelScope(deadline=self.taken_at + self.stall_timeout) as wait:
            try:
                await self.sender.send(text)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return  # dropped, or the session ended, meanwhile
        if wait.cancelled_caught:
            self.drop()

    def drop(self) -> None:
        """Forget what waits, stop writing and say goodbye: the client reads nothing."""
        if not self.open:
            return  # another sender's wait ran out at the same time, or the session ended
        self.open = False
        self.sender.close()
        self.writer.cancel()  # a cancelled send has sent nothing: the goodbye comes next
        self.group.start_soon(self._farewell)

    async def run(self) -> None:
        """Send queued text as it comes, until :meth:`aclose` and the queue is empty."""
        with self.writer:
            try:
                async for text in self.receiver:
                    self.taken_at = anyio.current_time()
                    await self.send(text)
            except StreamClosedError:
                pass  # the client is gone: nothing more to send
        if self.open:  # not dropped: the session ended
            self.done.set()

    async def _farewell(self) -> None:
        with anyio.move_on_after(GOODBYE_TIMEOUT):  # the session cannot end before this does
            try:
                await self.goodbye()
            finally:
                self.done.set()

    async def aclose(self) -> None:
        """Stop: send what is queued (if the client takes it in time) or finish the goodbye."""
        if self.open:
            self.open = False
            self.sender.close()  # the writer ends once the queue is empty
        with anyio.move_on_after(GOODBYE_TIMEOUT):
            await self.done.wait()
        self.writer.cancel()
        self.receiver.close()
