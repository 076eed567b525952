"""Line protocols (SMTP, IRC, memcached, NDJSON ...) on trio, over the ``tidewire-lines`` core.

The readline trio never had: a :class:`LineStream` over any
:class:`~tidewire_trio.EventStream`, with limits that hold however the bytes
are split. Install with ``pip install "tidewire-trio[lines]"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from functools import partial
from typing import Any, Generic, TypeVar, overload

import trio

try:
    from tidewire_lines import LineConnection, LinesClosed, RawData, TextLineConnection
    from tidewire_lines.adapting import (
        Chunks,
        check_line_mode,
        connection_factory,
        end_of_stream,
        receive_block,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_trio.lines needs the line protocol core:"
        ' pip install "tidewire-trio[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE as _MAX_RAW  # the core's default
from tidewire import ConnectionClosed, Delimiter, EndOfStream

from ._closing import AsyncClosing, Connecting
from .network import Server
from .network import connect as _connect
from .stream import EventStream

__all__ = ["LineStream", "connect", "serve"]

_HELD = 64 * 1024  # answers to a burst of lines held for one write, at most

T = TypeVar("T", bytes, str)


class LineStream(AsyncClosing, Generic[T]):
    """Lines over a connection: ``bytes`` lines, or ``str`` over a ``TextLineConnection``.

    Lines that arrive together are split in bulk and returned without
    reading again; switching to raw bytes between lines never loses or reorders a
    byte; a cancelled receiving call consumed nothing. Besides the errors
    listed, every call may raise :class:`~tidewire.ConnectionLostError` (the
    connection broke) or :class:`~tidewire.StreamClosedError` (closed on this
    side), and a receiving one :class:`~tidewire.EndOfStream` (the peer closed
    its side first: its ``event`` holds the ``leftover`` and ``missing`` bytes).

    Args:
        stream: The event stream to read and write lines on.

    Raises:
        TypeError: the stream's core is not a line connection.
    """

    def __init__(self, stream: EventStream[Any, Any]) -> None:
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

    @property
    def events(self) -> EventStream[Any, Any]:
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
        """Return the transport's extra information ``name``, or ``default``."""
        return self._stream.get_extra_info(name, default)

    # -- receiving ----------------------------------------------------------

    def _ended(self, event: ConnectionClosed, what: str) -> EndOfStream:
        assert isinstance(event, LinesClosed)  # what every line core ends with
        self._closed_event = event
        return end_of_stream(event, what)

    async def receive_line(self) -> T:
        """Return the next line, without its delimiter.

        Raises:
            RemoteProtocolError: the line is too long, or in text mode does
                not decode; the stream is then failed.
            RuntimeError: the core is in raw mode.
        """
        if self._core.lines_ready == 1 and self._stream.write_backlog:
            await self._stream.drain()  # the burst's last line: its answers leave now
        for line in self._batch:  # the hot path: no event, no wait
            return line  # type: ignore[no-any-return]
        return await self._receive_line()

    async def _receive_line(self) -> T:
        core = self._core
        check_line_mode(core)
        event = await self._stream.receive()
        if isinstance(event, ConnectionClosed):
            raise self._ended(event, "a line")
        if self._text:
            text: T = event.text
            return text
        self._batch = core.lines()  # the lines that came with it
        line: T = event.line
        return line

    def __aiter__(self) -> LineStream[T]:
        return self

    async def __anext__(self) -> T:  # receive_line(), until the peer's end
        try:
            return await self.receive_line()
        except EndOfStream:
            raise StopAsyncIteration from None

    async def receive_exactly(self, size: int) -> bytes:
        """Return the next ``size`` bytes verbatim, then go back to reading lines.

        The block is buffered until complete, so ``size`` may be at most the
        core's ``max_raw_size``; :meth:`receive_chunks` takes any size. If
        cancelled, nothing was consumed and the stream still reads lines.

        Raises:
            LocalProtocolError: ``size`` is negative or above ``max_raw_size``.
            RemoteProtocolError: the stream had failed.
        """
        ended = partial(self._ended, what=f"a block of {size} bytes")
        return await receive_block(self._core, self._stream, size, ended)

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
        return Chunks(self._stream, partial(self._ended, what=f"a block of {size} bytes"))

    # -- sending ------------------------------------------------------------

    async def send_line(self, line: T) -> None:
        """Send ``line`` and the first delimiter, with anything queued before it.

        Returns once written, or, while more lines of the burst it answers are
        ready, once queued: the answers to a burst leave in one write when
        :meth:`receive_line` hands over its last line. A call cancelled while
        writing leaves the stream broken (trio's rule for ``send_all``).

        Raises:
            LocalProtocolError: ``line`` contains a delimiter, or is ``str``
                in bytes mode or ``bytes`` in text mode; nothing was sent.
        """
        stream = self._stream
        if stream.closed:
            await stream.drain()  # raises why: closed on this side, or the connection broke
        core = self._core
        core.send_line(line)
        if core.lines_ready and stream.write_backlog < _HELD:
            # More lines of this burst are ready: their answers leave together,
            # when the last one is handed over (receive_line() writes them first).
            stream.write_pending()
            await trio.lowlevel.checkpoint_if_cancelled()
        else:
            await stream.drain()

    async def send_raw(self, data: bytes) -> None:
        """Send ``data`` verbatim; raises as :meth:`send_line`."""
        await self._stream.send(RawData(data))

    async def send_eof(self) -> None:
        """Close our sending side; see :meth:`~tidewire_trio.EventStream.send_eof`."""
        await self._stream.send_eof()

    async def aclose(self) -> None:
        """Close the connection; see :meth:`~tidewire_trio.EventStream.aclose`."""
        self._batch = iter(())  # closed here: no more lines, as for any receive
        await self._stream.aclose()

    def abort(self) -> None:
        """Close the connection at once; see :meth:`~tidewire_trio.EventStream.abort`."""
        self._batch = iter(())
        self._stream.abort()


@overload
def connect(
    host: str | None = ..., port: int | None = ..., *, encoding: None = ..., **options: Any
) -> Connecting[LineStream[bytes]]: ...
@overload
def connect(
    host: str | None = ..., port: int | None = ..., *, encoding: str, **options: Any
) -> Connecting[LineStream[str]]: ...
def connect(
    host: str | None = None,
    port: int | None = None,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = _MAX_RAW,
    **options: Any,
) -> Connecting[LineStream[bytes]] | Connecting[LineStream[str]]:
    r"""Connect to ``host``:``port``; ``await`` the result, or use it with ``async with``.

    ``delimiter`` ends a line (with a tuple, any of them: ``(b"\r\n", b"\n")``;
    sending uses the first); an ``encoding`` gives ``str`` lines;
    ``max_line_length`` and ``max_raw_size`` (the largest block
    :meth:`LineStream.receive_exactly` takes) are the core's limits;
    ``**options`` go to :func:`tidewire_trio.connect` (``ssl``,
    ``server_hostname``, ``sock``, ``path`` for a Unix socket, water marks).

    Returns:
        Awaited, the connected :class:`LineStream` (close it with ``aclose()``);
        entered, the same, closed on the way out.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
        OSError: the connection could not be made.
    """
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)

    async def opening() -> LineStream[Any]:
        return LineStream(await _connect(factory, host, port, **options))

    return Connecting(opening())


@overload
def serve(
    handler: Callable[[LineStream[Any]], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    *,
    task_status: trio.TaskStatus[Server],
    **options: Any,
) -> Coroutine[Any, Any, None]: ...
@overload
def serve(
    handler: Callable[[LineStream[Any]], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    **options: Any,
) -> Server: ...
def serve(
    handler: Callable[[LineStream[Any]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = _MAX_RAW,
    task_status: trio.TaskStatus[Server] | None = None,
    **options: Any,
) -> Server | Coroutine[Any, Any, None]:
    """Serve a line protocol: ``handler(line_stream)`` runs once per connection.

    ``async with serve(handler, host, port) as server:``, or ``await
    nursery.start(partial(serve, handler, host, port))``, as
    :func:`tidewire_trio.serve`; each connection closes when its handler
    returns. ``delimiter``, ``encoding`` and the limits are as for
    :func:`connect`; ``**options`` go to :func:`tidewire_trio.serve`
    (``ssl``, ``sock``, ``path``, ``backlog``, water marks ...).

    Returns:
        The server, not yet listening; or, with ``task_status``, the
        coroutine that serves.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
    """
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)
    server = Server(factory, lambda stream: handler(LineStream(stream)), host, port, **options)
    return server if task_status is None else server.serve_forever(task_status=task_status)
