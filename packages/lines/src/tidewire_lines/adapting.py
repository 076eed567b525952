"""What every adapter's line stream decides the same way: the core to build, the errors to raise.

An adapter's ``LineStream`` (asyncio, trio, Twisted, anyio) is framework glue
around these: :func:`connection_factory` turns the stream options into a
core factory, :func:`check_block` and :func:`check_line_mode` refuse misuse
before anything changes, :func:`end_of_stream` words the peer's end, and
:func:`receive_block` and :class:`Chunks` read raw blocks from any stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

from tidewire import ConnectionClosed, Delimiter, EndOfStream, LocalProtocolError

from .connection import BaseLineConnection, LineConnection, Mode
from .events import LinesClosed
from .text import TextLineConnection

__all__ = [
    "Chunks",
    "Receiving",
    "check_block",
    "check_line_mode",
    "connection_factory",
    "end_of_stream",
    "receive_block",
]


def connection_factory(
    delimiter: Delimiter, encoding: str | None, max_line_length: int, max_raw_size: int
) -> Callable[[], LineConnection | TextLineConnection]:
    """Return a factory of line cores: ``bytes`` lines, or ``str`` ones with an ``encoding``.

    Raises:
        ValueError: an unknown encoding, an empty delimiter or a negative
            limit, at once rather than per connection.
    """
    limits = {"max_line_length": max_line_length, "max_raw_size": max_raw_size}
    if encoding is None:
        LineConnection(delimiter, **limits)
        return partial(LineConnection, delimiter, **limits)
    TextLineConnection(delimiter, encoding=encoding, **limits)
    return partial(TextLineConnection, delimiter, encoding=encoding, **limits)


def check_block(core: BaseLineConnection[Any, Any], size: int) -> None:
    """Refuse a whole block larger than the core buffers (``receive_exactly``).

    Raises:
        LocalProtocolError: ``size`` is above ``max_raw_size``; the message
            names ``receive_chunks``, which takes any size.
    """
    if type(size) is int and size > core.max_raw_size:
        raise LocalProtocolError(
            f"a block of {size} bytes is larger than max_raw_size ({core.max_raw_size}):"
            f" receive it in pieces with receive_chunks({size})"
        )


def check_line_mode(core: BaseLineConnection[Any, Any]) -> None:
    """Refuse to read a line while the core is in raw mode.

    Raises:
        RuntimeError: the core is in raw mode.
    """
    if core.mode is Mode.RAW:
        raise RuntimeError(
            f"the core is in raw mode (raw_remaining={core.raw_remaining}): read the rest"
            " of the block, or call connection.set_line_mode()"
        )


def end_of_stream(event: LinesClosed, what: str) -> EndOfStream:
    """The error for the peer's end where ``what`` (``"a line"``, ...) was awaited.

    It carries ``event``, whose ``leftover`` hands over a partial last line.
    """
    more = f"; {len(event.leftover)} bytes left over, {event.missing} missing"
    detail = more if event.leftover or event.missing else ""
    return EndOfStream(f"the peer closed its side while {what} was awaited{detail}", event)


class Receiving(Protocol):
    """What :class:`Chunks` reads from: any adapter's event stream (its ``receive()``)."""

    def receive(self) -> Awaitable[Any]:
        """The next event, once it has arrived (a coroutine, or a Deferred on Twisted)."""


class Chunks:
    """The async iterator ``LineStream.receive_chunks()`` returns, on any framework.

    It yields the non-empty pieces of a chunked raw block (the core is in
    ``set_raw_mode(size, chunked=True)``) as the stream receives them, and
    stops after the last. A piece is taken only when asked for, so a
    cancelled step consumed nothing.

    Args:
        stream: The line stream's event stream.
        ended: Builds the error for the peer's end before the block's last
            byte (``end_of_stream`` with its ``what`` filled in).
    """

    def __init__(self, stream: Receiving, ended: Callable[[LinesClosed], EndOfStream]) -> None:
        self._stream = stream
        self._ended = ended
        self._done = False

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            event = await self._stream.receive()
            if isinstance(event, ConnectionClosed):
                self._done = True
                raise self._ended(event)  # type: ignore[arg-type]
            self._done = event.remaining == 0
            if event.data:  # the one piece of an empty block is empty
                data: bytes = event.data
                return data
        raise StopAsyncIteration


async def receive_block(
    core: BaseLineConnection[Any, Any],
    stream: Receiving,
    size: int,
    ended: Callable[[LinesClosed], EndOfStream],
) -> bytes:
    """``LineStream.receive_exactly(size)`` on any framework: ``size`` bytes, then lines.

    The block is taken whole from ``stream`` (the event stream over
    ``core``). If the wait is interrupted (cancelled) before the block was
    handed over, the core goes back to lines: nothing was consumed.

    Raises:
        LocalProtocolError: as :func:`check_block` and ``set_raw_mode``, before
            anything changed.
        EndOfStream: ``ended(event)``, when the peer's end came first.
    """
    check_block(core, size)
    core.set_raw_mode(size)
    try:
        event = await stream.receive()
    except BaseException:
        if core.mode is Mode.RAW:  # nothing of the block was handed over
            core.set_line_mode()
        raise
    if isinstance(event, ConnectionClosed):
        raise ended(event)  # type: ignore[arg-type]
    data: bytes = event.data
    return data
