"""The bounded queue between a Redis connection's reader task and ``get_message()``."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")

DEFAULT_MAX_QUEUED_MESSAGES = 1000


def check_max_queued_messages(limit: object) -> int:
    """Return ``limit`` if it is a valid ``max_queued_messages``; raise ValueError if not."""
    if type(limit) is not int or limit < 1:
        raise ValueError(f"max_queued_messages must be an int of at least 1, not {limit!r}")
    return limit


class MessageQueue(Generic[ItemT]):
    """A FIFO that its producer stops filling at ``limit`` items.

    The queue itself never refuses an item: the producer asks :attr:`full`
    and, when it is, takes nothing more off the wire until the consumer
    finds :attr:`has_room` again: at half of ``limit``, so a consumer that
    catches up does not restart the producer for every item it takes.
    """

    __slots__ = ("_getter", "_items", "_limit", "_resume_at")

    def __init__(self, limit: int) -> None:
        self._limit = check_max_queued_messages(limit)
        self._resume_at = limit // 2
        self._items: deque[ItemT] = deque()
        self._getter: asyncio.Future[None] | None = None  # the consumer waiting for an item

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether the producer should stop until the queue :attr:`has_room` again."""
        return len(self._items) >= self._limit

    @property
    def has_room(self) -> bool:
        """Whether a producer that stopped at :attr:`full` should go on."""
        return len(self._items) <= self._resume_at

    def put(self, item: ItemT) -> None:
        """Append ``item`` and wake the consumer waiting for one."""
        self._items.append(item)
        _wake(self._getter)

    def take(self) -> ItemT:
        """Remove and return the oldest item; the queue must not be empty."""
        return self._items.popleft()

    async def wait_for_item(self) -> None:
        """Wait until an item is put or :meth:`wake` is called; cancelling is harmless."""
        self._getter = asyncio.get_running_loop().create_future()
        try:
            await self._getter
        finally:
            self._getter = None

    def wake(self) -> None:
        """Wake the consumer: the connection is over."""
        _wake(self._getter)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
