"""Line protocols (SMTP, IRC, memcached, NDJSON ...) on trio, over the ``tidewire-lines`` core.

The readline trio never had: a :class:`LineStream` over any
:class:`~tidewire_trio.EventStream`, with limits that hold however the bytes
are split. Install with ``pip install "tidewire-trio[lines]"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

import trio

try:
    from tidewire_lines.adapting import LineStreamBase, check_line_mode, connection_factory
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_trio.lines needs the line protocol core:"
        ' pip install "tidewire-trio[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE as _MAX_RAW  # the core's default
from tidewire import Delimiter, EndOfStream

from ._closing import AsyncClosing, Connecting
from .network import Server
from .network import connect as _connect
from .stream import EventStream

__all__ = ["LineStream", "connect", "serve"]

_HELD = 64 * 1024  # answers to a burst of lines held for one write, at most

T = TypeVar("T", bytes, str)


class LineStream(LineStreamBase[T, EventStream[Any, Any]], AsyncClosing):
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
        check_line_mode(self._core)
        return self._line_of(await self._stream.receive())

    async def __anext__(self) -> T:
        """Return the next line; stop at the peer's end."""
        # Not the base's: every line goes through receive_line(), which writes
        # the answers to a burst before handing over its last line.
        try:
            return await self.receive_line()
        except EndOfStream:
            raise StopAsyncIteration from None

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
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing was queued
        core = self._core
        core.send_line(line)
        if core.lines_ready and stream.write_backlog < _HELD:
            # More lines of this burst are ready: their answers leave together,
            # when the last one is handed over (receive_line() writes them first).
            stream.write_pending()
        else:
            await stream.drain()


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
