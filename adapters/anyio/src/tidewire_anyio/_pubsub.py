"""The waiting around a Redis connection's message backlog (the backlog is the core's)."""

from __future__ import annotations

from typing import Generic, TypeVar

from tidewire_resp.sharing import MessageBacklog

from ._closing import Signal

ItemT = TypeVar("ItemT")


class MessageQueue(Generic[ItemT]):
    """A :class:`~tidewire_resp.sharing.MessageBacklog` its consumer and producer wait on.

    The backlog decides when the producer (the reader task) stops and goes
    on; this adds the two waits.
    """

    __slots__ = ("_backlog", "_put", "_room")

    def __init__(self, limit: int) -> None:
        self._backlog: MessageBacklog[ItemT] = MessageBacklog(limit)
        self._put = Signal()  # for the consumer waiting for an item
        self._room = Signal()  # for the producer waiting for room

    def __len__(self) -> int:
        return len(self._backlog)

    @property
    def full(self) -> bool:
        """Whether the producer should stop until :meth:`wait_for_room` returns."""
        return self._backlog.full

    def put(self, item: ItemT) -> None:
        """Append ``item`` and wake the consumer waiting for one."""
        self._backlog.put(item)
        self._put.fire()

    def take(self) -> ItemT:
        """Remove and return the oldest item; the queue must not be empty."""
        item = self._backlog.take()
        if self._backlog.has_room:
            self._room.fire()
        return item

    async def wait_for_item(self) -> None:
        """Wait until an item is put or :meth:`wake` is called; cancelling is harmless."""
        await self._put.wait()

    async def wait_for_room(self) -> None:
        """Wait until the backlog has room again or :meth:`wake` is called."""
        await self._room.wait()

    def wake_producer(self) -> None:
        """Let a producer waiting for room go on, to check again why it waits."""
        self._room.fire()

    def wake(self) -> None:
        """Wake both sides: the connection is over, or something else changed."""
        self._put.fire()
        self._room.fire()
