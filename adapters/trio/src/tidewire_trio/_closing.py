"""``async with`` for the objects that close with ``aclose()``, and for opening them."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar


class AsyncClosing(abc.ABC):
    """Mixin: ``async with obj:`` returns ``obj`` and awaits ``obj.aclose()`` on the way out."""

    @abc.abstractmethod
    def aclose(self) -> Awaitable[None]:
        """Close the object; calling it again is harmless."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


T = TypeVar("T", bound=AsyncClosing)  # what connect() opens


class Connecting(Generic[T]):
    """What ``connect()`` returns: ``await`` it, or enter it with ``async with``.

    ``await connect(...)`` returns the connected object, which the caller
    closes; ``async with connect(...) as x:`` returns it and closes it on the
    way out. Either may be done once; a ``Connecting`` dropped unused never
    started connecting and leaves no warning behind.

    Args:
        opening: The coroutine that connects and returns the object.
    """

    def __init__(self, opening: Coroutine[Any, Any, T]) -> None:
        self._opening: Coroutine[Any, Any, T] | None = opening
        self._opened: T | None = None

    def _take(self) -> Coroutine[Any, Any, T]:
        opening, self._opening = self._opening, None
        if opening is None:
            raise RuntimeError(
                "this connect() was already awaited or entered; call connect() again"
                " for another connection"
            )
        return opening

    def __await__(self) -> Generator[Any, None, T]:
        return self._take().__await__()

    async def __aenter__(self) -> T:
        self._opened = await self._take()
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.aclose()

    def __del__(self) -> None:
        if self._opening is not None:
            self._opening.close()  # never started: no "never awaited" warning
