"""What every adapter's line stream decides the same way: the core to build, the errors to raise.

An adapter's ``LineStream`` (asyncio, trio, Twisted, anyio) is framework glue
around these: :class:`LineStreamBase` holds what every one of them holds and
answers alike, :func:`connection_factory` turns the stream options into a
core factory, :func:`check_block` and :func:`check_line_mode` refuse misuse
before anything changes, :func:`end_of_stream` words the peer's end, and
:func:`receive_block` and :class:`Chunks` read raw blocks from any stream.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Generic, Protocol, Self, TypeVar

from tidewire import ConnectionClosed, Delimiter, EndOfStream, LocalProtocolError

from .connection import BaseLineConnection, LineConnection, Mode
from .events import LinesClosed, RawData
from .text import TextLineConnection

__all__ = [
    "Chunks",
    "EventStreamLike",
    "LineStreamBase",
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


class EventStreamLike(Receiving, Protocol):
    """What :class:`LineStreamBase` uses of an adapter's event stream."""

    @property
    def connection(self) -> Any:
        """The core the stream drives."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra information ``name``, or ``default``."""

    def send(self, event: Any) -> Awaitable[Any]:
        """Send an event (a coroutine, or a Deferred on Twisted)."""

    def send_eof(self) -> Awaitable[Any]:
        """Close the sending side."""

    def aclose(self) -> Awaitable[Any]:
        """Close the connection."""

    def abort(self) -> None:
        """Close the connection at once."""


T = TypeVar("T", bytes, str)
StreamT = TypeVar("StreamT", bound=EventStreamLike)


class LineStreamBase(abc.ABC, Generic[T, StreamT]):
    """What every adapter's ``LineStream`` holds and does alike, on any framework.

    The core and its checks, the lines split in bulk and not yet returned,
    the closing event, raw blocks, and the calls that only hand over to the
    event stream. An adapter adds ``receive_line()`` and ``send_line()``,
    where the frameworks differ (when to wait, when to write). Methods that
    wait return what the event stream's methods return: coroutines, or
    Deferreds on Twisted.

    Args:
        stream: The event stream to read and write lines on.

    Raises:
        TypeError: the stream's core is not a line connection.
    """

    def __init__(self, stream: StreamT) -> None:
        core = stream.connection
        if not isinstance(core, LineConnection | TextLineConnection):
            raise TypeError(f"a LineStream needs a line connection, not {type(core).__name__}")
        self._stream = stream
        self._core: Any = core  # a LineConnection or a TextLineConnection, as T says
        self._text = isinstance(core, TextLineConnection)
        # LineConnection.lines(): a live view of the lines split and not yet
        # returned; it stops by itself at a mode switch or an error.
        self._batch: Iterator[Any] = iter(())
        self._closed_event: LinesClosed | None = None
        self._unchecked = 0  # bytes sent since send_line() last waited for room: asking costs

    @property
    def events(self) -> StreamT:
        """The underlying event stream."""
        return self._stream

    @property
    def connection(self) -> LineConnection | TextLineConnection:
        """The line protocol core (its delimiters, limits and mode)."""
        core: LineConnection | TextLineConnection = self._core
        return core

    @property
    def closed_event(self) -> LinesClosed | None:
        """The core's closing event, once the peer's end was reached."""
        return self._closed_event

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra information ``name``, or ``default``.

        The names are the event stream's (``"peername"``, ``"socket"`` ...).
        """
        return self._stream.get_extra_info(name, default)

    # -- receiving ------------------------------------------------------------

    @abc.abstractmethod
    def receive_line(self) -> Awaitable[T]:
        """The next line, without its delimiter; each adapter defines when it waits."""

    def _ended(self, event: ConnectionClosed, what: str) -> EndOfStream:
        """Record the peer's end and return the error for it, where ``what`` was awaited."""
        assert isinstance(event, LinesClosed)  # what every line core ends with
        self._closed_event = event
        return end_of_stream(event, what)

    def _line_of(self, event: Any) -> T:
        """The line in ``event``, just received; the lines that came with it are kept."""
        if isinstance(event, ConnectionClosed):
            raise self._ended(event, "a line")
        if self._text:
            text: T = event.text
            return text
        self._batch = self._core.lines()
        line: T = event.line
        return line

    def __aiter__(self) -> Self:
        """Iterate over the lines until the peer's end."""
        return self

    async def __anext__(self) -> T:
        """Return the next line; stop at the peer's end."""
        for line in self._batch:  # the hot path: no event, no wait
            return line  # type: ignore[no-any-return]
        try:
            return await self.receive_line()
        except EndOfStream:
            raise StopAsyncIteration from None

    def receive_exactly(self, size: int) -> Awaitable[bytes]:
        """Return the next ``size`` bytes verbatim, then go back to reading lines.

        The block is buffered until complete, so ``size`` may be at most the
        core's ``max_raw_size``; :meth:`receive_chunks` takes any size. If
        cancelled, nothing was consumed and the stream still reads lines.

        Raises:
            LocalProtocolError: ``size`` is negative or above ``max_raw_size``.
            RemoteProtocolError: the stream had failed.
        """
        return receive_block(self._core, self._stream, size, self._block_ended(size))

    def receive_chunks(self, size: int) -> AsyncIterator[bytes]:
        """Iterate over the next ``size`` bytes verbatim, in pieces as they arrive.

        ``async for chunk in stream.receive_chunks(n):`` yields non-empty
        ``bytes`` adding up to ``n``, holding no more than one read; then lines
        resume. A cancelled step consumed nothing; after a ``break``, the rest
        (``connection.raw_remaining``) is still to be read.

        Raises:
            LocalProtocolError: ``size`` is not an int >= 0 (at once).
            RemoteProtocolError: the stream had failed.
        """
        self._core.set_raw_mode(size, chunked=True)
        return Chunks(self._stream, self._block_ended(size))

    def _block_ended(self, size: int) -> Callable[[LinesClosed], EndOfStream]:
        return partial(self._ended, what=f"a block of {size} bytes")

    # -- sending and closing ----------------------------------------------------

    def send_raw(self, data: bytes) -> Awaitable[Any]:
        """Send ``data`` verbatim; fails as ``send_line()``."""
        return self._stream.send(RawData(data))

    def send_eof(self) -> Awaitable[Any]:
        """Close our sending side, after what was sent before (the event stream's ``send_eof``)."""
        return self._stream.send_eof()

    def aclose(self) -> Awaitable[Any]:
        """Close the connection (the event stream's ``aclose``)."""
        self._batch = iter(())  # closed here: no more lines, as for any receive
        return self._stream.aclose()

    def abort(self) -> None:
        """Close the connection at once, dropping what is unsent (the event stream's ``abort``)."""
        self._batch = iter(())
        self._stream.abort()
