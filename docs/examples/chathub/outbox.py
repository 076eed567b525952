"""One client's outbox, on asyncio: a bounded queue and the task that writes it.

The room waits for room in an outbox rather than dropping what does not
fit, so a burst reaches every reader and its sender is slowed down to their
pace. Only a client that takes nothing at all for a while is dropped: it
would otherwise hold the whole room up, or make the hub hold its messages
for ever.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tidewire_asyncio import ConnectionLostError, StreamClosedError
from tidewire_asyncio.websocket import WebSocketClosedError

from .web import GOODBYE_TIMEOUT, MAX_PENDING

CLOSED = (ConnectionLostError, StreamClosedError, WebSocketClosedError)
"""What sending to a client that is gone raises."""


class Outbox:
    """What waits to be sent to one client, and the task that sends it.

    :meth:`deliver` waits while :data:`MAX_PENDING` texts wait, so the room
    goes at the pace of its readers. A client that takes nothing for
    ``stall_timeout`` seconds while its outbox is full reads nothing at all:
    it is dropped, and ``goodbye()`` closes its connection properly.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        goodbye: Callable[[], Coroutine[Any, Any, None]],
        stall_timeout: float,
    ) -> None:
        self.send = send
        self.goodbye = goodbye
        self.stall_timeout = stall_timeout
        self.pending: collections.deque[str] = collections.deque()
        self.has_mail = asyncio.Event()
        self.has_room = asyncio.Event()
        self.open = True
        self.taken_at = asyncio.get_running_loop().time()  # when the writer last took a text
        self.writer = asyncio.create_task(self.run())
        self.farewell: asyncio.Task[None] | None = None

    async def deliver(self, text: str) -> None:
        """Queue ``text``; while the outbox is full, wait for room (or drop the client)."""
        while self.open and len(self.pending) >= MAX_PENDING:
            self.has_room.clear()
            try:
                async with asyncio.timeout_at(self.taken_at + self.stall_timeout):
                    await self.has_room.wait()
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
        self.farewell = asyncio.create_task(self.goodbye())

    async def run(self) -> None:
        """Send queued text as it comes, until :meth:`aclose` and the queue is empty."""
        with contextlib.suppress(*CLOSED):  # the client is gone: nothing more to send
            while self.open or self.pending:
                await self.has_mail.wait()
                self.has_mail.clear()
                while self.pending:
                    text = self.pending.popleft()
                    self.taken_at = asyncio.get_running_loop().time()
                    self.has_room.set()
                    await self.send(text)

    async def aclose(self) -> None:
        """Stop: send what is queued (if the client takes it in time) or finish the goodbye."""
        self.open = False
        self.has_mail.set()
        last = self.farewell or self.writer
        await asyncio.wait([last], timeout=GOODBYE_TIMEOUT)
        last.cancel()
