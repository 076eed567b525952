"""``async with`` for the objects that close with ``aclose()``, and for opening them."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio


class _Entered(Protocol):
    async def __aenter__(self) -> Any: ...  # pragma: no cover - a protocol

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...  # pragma: no cover - a protocol


T = TypeVar("T", bound=_Entered)  # what connect() opens


class Connecting(Generic[T]):
    """What ``connect()`` returns: ``async with`` it, or ``await`` it.

    ``async with connect(...) as x:`` connects, enters ``x`` (which starts the
    tasks it owns, if any) and closes it on the way out: the native form.
    ``await connect(...)`` returns the connected object unentered, for the
    objects that need no task of their own; the caller closes it. Either may
    be done once. A ``Connecting`` dropped unused never started connecting and
    leaves no warning behind.

    Args:
        opening: The coroutine that connects and returns the object.
    """

    def __init__(self, opening: Coroutine[Any, Any, T]) -> None:
        self._opening: Coroutine[Any, Any, T] | None = opening
        self._opened: T | None = None

    def _take(self) -> Coroutine[Any, Any, T]:
        opening = self._opening
        if opening is None:
            raise RuntimeError(
                "this connect() was already awaited or entered; call connect() again"
                " for another connection"
            )
        self._opening = None
        return opening

    def __await__(self) -> Generator[Any, None, T]:
        return self._take().__await__()

    async def __aenter__(self) -> T:
        opened = await self._take()
        await opened.__aenter__()
        self._opened = opened
        return opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.__aexit__(exc_type, exc, tb)

    def __del__(self) -> None:
        if self._opening is not None:
            self._opening.close()  # never started: no "never awaited" warning


class Signal:
    """Wakes every task waiting in :meth:`wait` at the next :meth:`fire`.

    The anyio event is made on first wait, so objects holding a signal can be
    built outside an event loop.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def fire(self) -> None:
        """Wake the current waiters; later waiters wait for the next fire."""
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait(self) -> None:
        """Wait for the next :meth:`fire`."""
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()
