"""What every adapter's line stream decides the same way: the core to build, the errors to raise.

An adapter's ``LineStream`` (asyncio, trio, Twisted, anyio) is framework glue
around these: :func:`connection_factory` turns the stream options into a
core factory, :func:`check_block` and :func:`check_line_mode` refuse misuse
before anything changes, and :func:`end_of_stream` words the peer's end.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from tidewire import Delimiter, EndOfStream, LocalProtocolError

from .connection import BaseLineConnection, LineConnection, Mode
from .events import LinesClosed
from .text import TextLineConnection

__all__ = ["check_block", "check_line_mode", "connection_factory", "end_of_stream"]


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
