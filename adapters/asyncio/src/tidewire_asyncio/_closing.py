"""``async with`` for the objects of this package that close with ``aclose()``."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncClosing(abc.ABC):
    """Mixin: ``async with obj:`` returns ``obj`` and awaits ``obj.aclose()`` on the way out."""

    @abc.abstractmethod
    async def aclose(self) -> None:
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
