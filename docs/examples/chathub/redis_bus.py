"""The Redis bus, the same on every framework: every adapter's Redis client has these names.

Each hub publishes on a channel of its own, ``CHANNEL.<random id>``, and
listens to ``CHANNEL.*`` (every hub) and ``CHANNEL`` (anything else that
wants to talk to the room). A hub's own messages come back to it like the
others', which tells it how many its members still have to get: it lets at
most :data:`~chathub.web.MAX_PENDING` be on their way, so a burst is slowed
down here as it is in memory.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from tidewire import StreamClosedError

from .room import Room
from .web import CHANNEL, MAX_PENDING


class Flag(Protocol):
    """What waiting for room needs of a framework's event: ``asyncio.Event``, ``anyio.Event`` ..."""

    def set(self) -> None:
        """Wake every waiter."""

    def wait(self) -> Any:
        """Wait until :meth:`set` is called: a coroutine, or a Deferred on Twisted."""


class RedisBus:
    """Shares the room through Redis pub/sub, over two connections of any adapter.

    Args:
        room: This hub's room.
        new_flag: Makes a fresh event of the framework (``asyncio.Event`` ...).
    """

    def __init__(self, room: Room, new_flag: Callable[[], Flag]) -> None:
        self.room = room
        self.new_flag = new_flag
        self.channel = f"{CHANNEL}.{secrets.token_hex(8)}"
        self.on_the_way = 0  # messages we published that our own members do not have yet
        self.room_for_more = new_flag()
        self.listening = True
        self.publisher: Any = None
        self.subscriber: Any = None

    async def start(self, publisher: Any, subscriber: Any) -> None:
        """Subscribe; ``subscriber`` only waits for messages, ``publisher`` sends."""
        self.publisher, self.subscriber = publisher, subscriber
        await subscriber.subscribe(CHANNEL)
        await subscriber.psubscribe(f"{CHANNEL}.*")

    async def listen(self) -> None:
        """Deliver every message of the room to this hub's members, until Redis goes."""
        ours = self.channel.encode()
        try:
            async for message in self.subscriber.messages():
                await self.room.deliver(message.data.decode("utf-8", "replace"))
                if message.channel == ours:
                    self.on_the_way -= 1
                    self.room_for_more.set()
        except StreamClosedError:
            pass  # lost (ConnectionLostError), or closed by the hub
        finally:
            self.listening = False
            self.room_for_more.set()  # publishers stop waiting: the hub is stopping

    async def publish(self, text: str) -> None:
        """Send ``text`` to every hub, this one included; wait while too many are on the way."""
        while self.listening and self.on_the_way >= MAX_PENDING:
            self.room_for_more = self.new_flag()
            await self.room_for_more.wait()
        self.on_the_way += 1
        with contextlib.suppress(StreamClosedError):  # Redis is gone: listen() saw it too
            await self.publisher.execute("PUBLISH", self.channel, text)

    async def aclose(self) -> None:
        """Close both connections (a hub whose adapter closes them by context skips this)."""
        await self.subscriber.aclose()
        await self.publisher.aclose()
