"""Line-based clients and servers on asyncio (SMTP, IRC, memcached, NDJSON ...).

:func:`connect` and :func:`serve` give a :class:`LineStream`: send a line,
receive a line, ``async for`` over lines, and read an exact number of raw
bytes between lines. The work is done by the ``tidewire-lines`` core, so its
limits hold however the bytes arrive, and surface here as
:class:`~tidewire.RemoteProtocolError`. Install with
``pip install "tidewire-asyncio[lines]"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar, overload

try:
    from tidewire_lines import (
        BaseLineConnection,
        Line,
        LineConnection,
        LinesClosed,
        Mode,
        RawData,
        TextLine,
        TextLineConnection,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_asyncio.lines needs the line protocol core:"
        ' pip install "tidewire-asyncio[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE, ConnectionClosed, Delimiter

from ._closing import AsyncClosing
from .errors import EndOfStream
from .network import Server
from .network import connect as _connect
from .stream import EventStream

__all__ = ["LineStream", "connect", "serve"]

T = TypeVar("T", bytes, str)


class LineStream(AsyncClosing, Generic[T]):
    """Lines over a connection: ``bytes`` lines, or ``str`` lines in text mode.

    Made by :func:`connect` and handed to :func:`serve` handlers; or wrap an
    :class:`~tidewire_asyncio.EventStream` whose core is a
    :class:`~tidewire_lines.LineConnection` (``bytes`` lines) or a
    :class:`~tidewire_lines.TextLineConnection` (``str`` lines).

    Reading is lazy, so switching between lines and raw bytes never loses or
    reorders a byte, and backpressure is the event stream's. Cancelling a
    receiving call consumes nothing.

    Args:
        stream: The event stream to read and write lines on.

    Raises:
        TypeError: the stream's core is not a line connection.
    """

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        core = stream.connection
        if not isinstance(core, BaseLineConnection):
            raise TypeError(f"a LineStream needs a line connection, not {type(core).__name__}")
        self._stream = stream
        self._core: BaseLineConnection[Any, Any] = core
        self._text = isinstance(core, TextLineConnection)
        self._closed_event: LinesClosed | None = None

    @property
    def events(self) -> EventStream[Any, Any]:
        """The underlying event stream, for what this class does not cover."""
        return self._stream

    @property
    def connection(self) -> BaseLineConnection[Any, Any]:
        """The line protocol core (its delimiters, limits and mode)."""
        return self._core

    @property
    def closed_event(self) -> LinesClosed | None:
        """The core's closing event once the peer's end was reached, else ``None``.

        Its ``leftover`` holds an unterminated last line, if the peer sent one.
        """
        return self._closed_event

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra information ``name``, or ``default``.

        See :meth:`~tidewire_asyncio.EventStream.get_extra_info`.
        """
        return self._stream.get_extra_info(name, default)

    # -- receiving ----------------------------------------------------------

    def _ended(self, event: ConnectionClosed, what: str) -> EndOfStream:
        assert isinstance(event, LinesClosed)  # what every line core ends with
        self._closed_event = event
        detail = f"; {len(event.leftover)} bytes left over" if event.leftover else ""
        message = f"the peer closed the connection while {what} was awaited{detail}"
        return EndOfStream(message, event)

    async def receive_line(self) -> T:
        """Return the next line, without its delimiter.

        Raises:
            EndOfStream: the peer closed its side; an unterminated last line
                is in the exception's ``event.leftover``.
            RemoteProtocolError: the line is too long (``max_line_length``),
                or in text mode does not decode; the stream is then failed.
            ConnectionLostError: the connection broke.
            StreamClosedError: the stream was closed on this side.
        """
        if self._core.mode is Mode.RAW:
            raise RuntimeError("the core is in raw mode; call connection.set_line_mode() first")
        event = await self._stream.receive()
        if isinstance(event, ConnectionClosed):
            raise self._ended(event, "a line")
        line: T = event.text if self._text else event.line
        return line

    async def receive_exactly(self, size: int) -> bytes:
        """Return the next ``size`` bytes verbatim, then go back to reading lines.

        For a block announced by the line before it (a memcached value, an
        HTTP-style body). The block is buffered until complete, so ``size``
        may be at most the core's ``max_raw_size``. If the call is
        cancelled, nothing was consumed and the stream still reads lines.

        Raises:
            LocalProtocolError: ``size`` is negative or above ``max_raw_size``.
            EndOfStream: the peer closed its side before ``size`` bytes came;
                what arrived is in the exception's ``event.leftover``.
            RemoteProtocolError: the stream had already failed.
            ConnectionLostError: the connection broke.
            StreamClosedError: the stream was closed on this side.
        """
        core = self._core
        core.set_raw_mode(size)
        try:
            event = await self._stream.receive()
        except asyncio.CancelledError:
            # Nothing of the block was handed over: undo the mode switch.
            if core.mode is Mode.RAW:
                core.set_line_mode()
            raise
        if isinstance(event, ConnectionClosed):
            raise self._ended(event, f"a block of {size} bytes")
        data: bytes = event.data
        return data

    def __aiter__(self) -> LineStream[T]:
        """Iterate over received lines until the peer closes its side."""
        return self

    async def __anext__(self) -> T:
        """Return the next line; stop when the peer closes (see :attr:`closed_event`)."""
        try:
            return await self.receive_line()
        except EndOfStream:
            raise StopAsyncIteration from None

    # -- sending ------------------------------------------------------------

    async def send_line(self, line: T) -> None:
        """Send ``line`` followed by the first delimiter.

        Raises:
            LocalProtocolError: ``line`` contains a delimiter or is of the
                wrong type (``str`` in text mode, ``bytes`` otherwise).
            ConnectionLostError: the connection broke.
            StreamClosedError: the stream was closed on this side.
        """
        # The core checks the type: bytes in text mode, or str otherwise, is refused.
        await self._stream.send(TextLine(line) if isinstance(line, str) else Line(line))

    async def send_raw(self, data: bytes) -> None:
        """Send ``data`` verbatim, with no delimiter.

        Raises:
            LocalProtocolError: ``data`` is not bytes.
            ConnectionLostError: the connection broke.
            StreamClosedError: the stream was closed on this side.
        """
        await self._stream.send(RawData(data))

    async def send_eof(self) -> None:
        """Close our sending side; see :meth:`~tidewire_asyncio.EventStream.send_eof`."""
        await self._stream.send_eof()

    # -- closing ------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection; see :meth:`~tidewire_asyncio.EventStream.aclose`."""
        await self._stream.aclose()

    def abort(self) -> None:
        """Close the connection at once; see :meth:`~tidewire_asyncio.EventStream.abort`."""
        self._stream.abort()


def _factory(
    delimiter: Delimiter, encoding: str | None, max_line_length: int, max_raw_size: int
) -> Callable[[], BaseLineConnection[Any, Any]]:
    if encoding is None:
        return partial(
            LineConnection, delimiter, max_line_length=max_line_length, max_raw_size=max_raw_size
        )
    TextLineConnection(delimiter, encoding=encoding)  # raise ValueError now, not per connection
    return partial(
        TextLineConnection,
        delimiter,
        encoding=encoding,
        max_line_length=max_line_length,
        max_raw_size=max_raw_size,
    )


@overload
async def connect(
    host: str | None = ...,
    port: int | None = ...,
    *,
    delimiter: Delimiter = ...,
    encoding: None = ...,
    max_line_length: int = ...,
    max_raw_size: int = ...,
    **options: Any,
) -> LineStream[bytes]: ...
@overload
async def connect(
    host: str | None = ...,
    port: int | None = ...,
    *,
    delimiter: Delimiter = ...,
    encoding: str,
    max_line_length: int = ...,
    max_raw_size: int = ...,
    **options: Any,
) -> LineStream[str]: ...
async def connect(
    host: str | None = None,
    port: int | None = None,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = DEFAULT_MAX_BUFFER_SIZE,
    **options: Any,
) -> LineStream[bytes] | LineStream[str]:
    r"""Connect to a line-based server and return a :class:`LineStream`.

    Args:
        host: The host to connect to.
        port: The port to connect to.
        delimiter: What ends a line, or a tuple of delimiters
            (``(b"\r\n", b"\n")`` reads both); sending uses the first.
        encoding: ``None`` for ``bytes`` lines, or an encoding (``"utf-8"``)
            for ``str`` lines.
        max_line_length: The longest line accepted, in bytes; a longer one is
            a :class:`~tidewire.RemoteProtocolError`.
        max_raw_size: The largest block :meth:`LineStream.receive_exactly`
            accepts.
        **options: Passed to :func:`tidewire_asyncio.connect`: ``ssl``,
            ``server_hostname``, ``sock``, ``path`` (a Unix socket), water
            marks ...

    Returns:
        The connected line stream; use it with ``async with``.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
        OSError: the connection could not be made.
    """
    factory = _factory(delimiter, encoding, max_line_length, max_raw_size)
    return LineStream(await _connect(factory, host, port, **options))


def serve(
    handler: Callable[[LineStream[Any]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = DEFAULT_MAX_BUFFER_SIZE,
    **options: Any,
) -> Server:
    """Serve a line protocol: ``handler(line_stream)`` runs once per connection.

    Use as ``async with serve(handler, host, port) as server:``; see
    :func:`tidewire_asyncio.serve` for the server's life cycle. The
    connection is closed when the handler returns.

    Args:
        handler: ``async def handler(lines)``, given a :class:`LineStream`.
        host: The interface(s) to listen on.
        port: The port; ``0`` for any free one (see
            :attr:`~tidewire_asyncio.Server.port`).
        delimiter: As for :func:`connect`.
        encoding: As for :func:`connect`.
        max_line_length: As for :func:`connect`.
        max_raw_size: As for :func:`connect`.
        **options: Passed to :func:`tidewire_asyncio.serve`: ``ssl``,
            ``sock``, ``path`` (a Unix socket), ``backlog``, water marks ...

    Returns:
        The server, not yet listening; ``await`` it or enter it.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
    """
    factory = _factory(delimiter, encoding, max_line_length, max_raw_size)

    async def run(stream: EventStream[Any, Any]) -> None:
        await handler(LineStream(stream))

    return Server(factory, run, host, port, **options)
