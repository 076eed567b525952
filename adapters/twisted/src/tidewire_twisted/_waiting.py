"""Small Deferred helpers the protocol modules share: a one-shot signal, a handler call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed


class Signal:
    """Something that happens once; each :meth:`wait` gets its own Deferred.

    Cancelling one waiter's Deferred leaves the others waiting (what
    ``asyncio.shield`` gives the asyncio adapter).
    """

    def __init__(self) -> None:
        self.is_set = False
        self._waiters: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        """A Deferred that fires (with ``None``) once :meth:`set` was called."""
        if self.is_set:
            return succeed(None)
        waiter: Deferred[None] = Deferred(self._waiters.remove)
        self._waiters.append(waiter)
        return waiter

    def set(self) -> None:
        """Fire every waiter; later :meth:`wait` calls fire at once."""
        if self.is_set:
            return
        self.is_set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)


def wake(waiter: Deferred[None] | None) -> None:
    """Fire ``waiter`` unless it is ``None`` or already fired (cancelled included)."""
    if waiter is not None and not waiter.called:
        waiter.callback(None)


async def call_handler(handler: Callable[..., Any], *args: Any) -> Any:
    """Call ``handler`` and wait for what it returns: a Deferred, a coroutine or a value."""
    result = handler(*args)
    if isinstance(result, Deferred) or inspect.isawaitable(result):
        return await result
    return result
