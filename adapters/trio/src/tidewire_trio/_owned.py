"""The nursery an object's ``async with`` opens for its own tasks (trio's structured concurrency).

A WebSocket's reader, a Redis connection's reader and writer, a client's
reconnecting task: each lives in a nursery that the object's ``async with``
opens and closes, so no task outlives its owner. The block's own exception
comes out as itself, not wrapped in an :class:`ExceptionGroup`: only a
failing background task (a bug: they catch what they expect) makes a group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Generic, TypeVar

import trio

__all__ = ["Owning", "open_owned_nursery"]


@asynccontextmanager
async def open_owned_nursery() -> AsyncIterator[trio.Nursery]:
    """Open a nursery whose tasks are cancelled when the ``async with`` block ends."""
    body_error: BaseException | None = None
    unwrapped: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                yield nursery
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The block's exception alone (cancelling the tasks may have copied a
        # group the block raised, so it is not always the same object): raise
        # it as it was; anything more came from a task, and stays a group.
        if body_error is None or len(group.exceptions) != 1:
            raise
        unwrapped = body_error
    if unwrapped is not None:
        try:
            raise unwrapped
        finally:
            unwrapped = body_error = None  # no reference cycle through the traceback


T = TypeVar("T")


class Owning(Generic[T]):
    """What ``connect()`` returns for a connection with tasks of its own: ``async with`` it.

    The connection's tasks live in a nursery the ``async with`` opens, so
    it has no ``await`` form (that would leave them without an owner).

    Args:
        manager: The context manager that opens, yields and closes it.
        name: The function's name, for the error of an ``await``.
    """

    def __init__(self, manager: AbstractAsyncContextManager[T], name: str) -> None:
        self._manager = manager
        self._name = name

    def __await__(self) -> Generator[Any, None, T]:
        raise TypeError(
            f"a trio connection owns a nursery for its tasks: use"
            f" `async with {self._name}(...) as connection:`, not await"
        )

    async def __aenter__(self) -> T:
        return await self._manager.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._manager.__aexit__(exc_type, exc, tb)
