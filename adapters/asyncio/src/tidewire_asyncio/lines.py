"""Line protocols (SMTP, IRC, memcached, NDJSON ...) on asyncio, over the ``tidewire-lines`` core.

Install with ``pip install "tidewire-asyncio[lines]"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, overload

try:
    from tidewire_lines.adapting import LineStreamBase, check_line_mode, connection_factory
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_asyncio.lines needs the line protocol core:"
        ' pip install "tidewire-asyncio[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE as _MAX_RAW  # the core's default
from tidewire import Delimiter

from ._closing import AsyncClosing, Connecting
from .network import Server
from .network import connect as _connect
from .stream import EventStream

__all__ = ["LineStream", "connect", "serve"]

T = TypeVar("T", bytes, str)
_DRAIN_EVERY = 64 * 1024


class LineStream(LineStreamBase[T, EventStream[Any, Any]], AsyncClosing):
    """Lines over a connection: ``bytes`` lines, or ``str`` over a ``TextLineConnection``.

    Lines that arrive together are split in bulk and returned without
    waiting; switching to raw bytes between lines never loses or reorders a
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
        for line in self._batch:  # the hot path: no event, no wait
            return line  # type: ignore[no-any-return]
        check_line_mode(self._core)
        return self._line_of(await self._stream.receive())

    # -- sending ------------------------------------------------------------

    async def send_line(self, line: T) -> None:
        """Send ``line`` and the first delimiter, coalesced with this loop turn's other writes.

        Every 64 KiB or so, waits while the write buffer is above its high-water mark.

        Raises:
            LocalProtocolError: ``line`` contains a delimiter, or is ``str``
                in bytes mode or ``bytes`` in text mode; nothing was sent.
        """
        stream = self._stream
        if stream.closed:
            await stream.drain()  # raises why: closed on this side, or the connection broke
        self._core.send_line(line)
        stream.write_pending()
        self._unchecked += len(line)
        if self._unchecked > _DRAIN_EVERY:
            self._unchecked = 0
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
    ``**options`` go to :func:`tidewire_asyncio.connect` (``ssl``,
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


def serve(
    handler: Callable[[LineStream[Any]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = _MAX_RAW,
    **options: Any,
) -> Server:
    """Serve a line protocol: ``handler(line_stream)`` runs once per connection.

    Use as ``async with serve(handler, host, port) as server:`` (see
    :func:`tidewire_asyncio.serve`); each connection closes when its handler
    returns. ``delimiter``, ``encoding`` and the limits are as for
    :func:`connect`; ``**options`` go to :func:`tidewire_asyncio.serve`
    (``ssl``, ``sock``, ``path``, ``backlog``, water marks ...).

    Returns:
        The server, not yet listening; ``await`` it or enter it.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
    """
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)
    return Server(factory, lambda stream: handler(LineStream(stream)), host, port, **options)
