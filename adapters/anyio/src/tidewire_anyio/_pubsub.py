"""The bounded queue between a Redis connection's reader task and ``get_message()``."""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from ._closing import Signal

ItemT = TypeVar("ItemT")

DEFAULT_MAX_QUEUED_MESSAGES = 1000


def check_max_queued_messages(limit: object) -> int:
    """Return ``limit`` if it is a valid ``max_queued_messages``; raise ValueError if not."""
    if type(limit) is not int or limit < 1:
        raise ValueError(f"max_queued_messages must be an int of at least 1, not {limit!r}")
    return limit


class MessageQueue(Generic[ItemT]):
    """A FIFO that one producer (the reader task) stops filling at ``limit`` items.

    The queue never refuses an item: the producer asks :attr:`full` and, when
    it is, awaits :meth:`wait_for_room` before taking anything more off the
    wire. Room is announced once the queue is down to half of ``limit``, so
    a consumer that catches up does not wake the producer for every item.
    """

    __slots__ = ("_items", "_limit", "_put", "_resume_at", "_room")

    def __init__(self, limit: int) -> None:
        self._limit = check_max_queued_messages(limit)
        self._resume_at = limit // 2
        self._items: deque[ItemT] = deque()
        self._put = Signal()  # for the consumer waiting for an item
        self._room = Signal()  # for the producer waiting for room

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether the producer should stop until :meth:`wait_for_room` returns."""
        return len(self._items) >= self._limit

    def put(self, item: ItemT) -> None:
        """Append ``item`` and wake the consumer waiting for one."""
        self._items.append(item)
        self._put.fire()

    def take(self) -> ItemT:
        """Remove and return the oldest item; the queue must not be empty."""
        item = self._items.popleft()
        if len(self._items) <= self._resume_at:
            self._room.fire()
        return item

    async def wait_for_item(self) -> None:
        """Wait until an item is put or :meth:`wake` is called; cancelling is harmless."""
        await self._put.wait()

    async def wait_for_room(self) -> None:
        """Wait until the queue is down to half its limit or :meth:`wake` is called."""
        await self._room.wait()

    def wake_producer(self) -> None:
        """Let a producer waiting for room go on, to check again why it waits."""
        self._room.fire()

    def wake(self) -> None:
        """Wake both sides: the connection is over, or something else changed."""
        self._put.fire()
        self._room.fire()
