"""Line protocols (SMTP, IRC, memcached, NDJSON ...) on anyio, over the ``tidewire-lines`` core.

Install with ``pip install "tidewire-anyio[lines]"``. A :class:`LineStream`
is also an :class:`anyio.abc.ObjectStream` of lines (``receive()``,
``send()``, ``send_eof()``, ``aclose()``), so it goes wherever anyio code
expects one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import anyio.abc

try:
    from tidewire_lines.adapting import (
        LineStreamBase,
        check_line_mode,
        connection_factory,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_anyio.lines needs the line protocol core:"
        ' pip install "tidewire-anyio[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE as _MAX_RAW  # the core's default
from tidewire import ConnectionClosed, Delimiter, EndOfStream

from . import errors
from ._closing import Connecting
from .network import Server, serve_started
from .network import connect as _connect
from .stream import EventStream

__all__ = ["LineStream", "connect", "serve"]

T = TypeVar("T", bytes, str)
_DRAIN_EVERY = 64 * 1024


class LineStream(LineStreamBase[T, EventStream[Any, Any]], anyio.abc.ObjectStream[T]):
    """Lines over a connection: ``bytes`` lines, or ``str`` over a ``TextLineConnection``.

    Lines that arrive together are split in bulk and returned without
    waiting; switching to raw bytes between lines never loses or reorders a
    byte; a cancelled receiving call consumed nothing. Besides the errors
    listed, every call may raise :class:`~tidewire.ConnectionLostError` or
    :class:`~tidewire.StreamClosedError`, and a receiving one
    :class:`~tidewire.EndOfStream` (also :class:`anyio.EndOfStream`; its
    ``event`` holds the ``leftover`` and ``missing`` bytes).

    Args:
        stream: The event stream to read and write lines on.

    Raises:
        TypeError: the stream's core is not a line connection.
    """

    @property
    def extra_attributes(self) -> Any:
        """Anyio's typed attributes of the byte stream underneath (``extra()`` reads them)."""
        transport = self._stream.transport
        return {} if transport is None else transport.extra_attributes

    async def __aenter__(self) -> Self:
        """Enter the event stream (its reader and writer tasks start); return the line stream."""
        await self._stream.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection and end the event stream's tasks."""
        self._batch = iter(())
        await self._stream.__aexit__(exc_type, exc, tb)

    # -- receiving ----------------------------------------------------------

    def _ended(self, event: ConnectionClosed, what: str) -> EndOfStream:
        error = super()._ended(event, what)  # the core's words, raised as anyio's too
        return errors.ended(str(error), event)

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

    async def receive(self) -> T:
        """Return the next line: :meth:`receive_line`, under anyio's ``ObjectStream`` name."""
        return await self.receive_line()

    # -- sending ------------------------------------------------------------

    async def send_line(self, line: T) -> None:
        """Send ``line`` and the first delimiter, coalesced with the other writes before the next.

        Every 64 KiB or so, waits while too much waits to be written; an
        unentered stream writes at once.

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
        if self._unchecked > _DRAIN_EVERY or not stream.owns_tasks:
            self._unchecked = 0
            await stream.drain()

    async def send(self, item: T) -> None:
        """Send a line: :meth:`send_line`, under anyio's ``ObjectStream`` name."""
        await self.send_line(item)

    async def send_eof(self) -> None:
        """Close our sending side; see :meth:`~tidewire_anyio.EventStream.send_eof`."""
        await super().send_eof()  # the base's, as the coroutine ObjectStream declares

    async def aclose(self) -> None:
        """Close the connection; see :meth:`~tidewire_anyio.EventStream.aclose`."""
        await super().aclose()


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
    r"""Connect to ``host``:``port``; use the result with ``async with``, or ``await`` it.

    ``delimiter`` ends a line (with a tuple, any of them: ``(b"\r\n", b"\n")``;
    sending uses the first); an ``encoding`` gives ``str`` lines;
    ``max_line_length`` and ``max_raw_size`` (the largest block
    :meth:`LineStream.receive_exactly` takes) are the core's limits;
    ``**options`` go to :func:`tidewire_anyio.connect` (``ssl``,
    ``server_hostname``, ``sock``, ``path``, ``stream``, water marks).

    Returns:
        Entered, the connected :class:`LineStream`, closed on the way out;
        awaited, the same unentered (close it with ``aclose()``).

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
    task_status: anyio.abc.TaskStatus[Server] | None = None,
    **options: Any,
) -> Any:
    """Serve a line protocol: ``handler(line_stream)`` runs once per connection.

    Use as ``async with serve(handler, host, port) as server:`` or
    ``await task_group.start(serve, handler, host, port)`` (see
    :func:`tidewire_anyio.serve`); each connection closes when its handler
    returns. ``delimiter``, ``encoding`` and the limits are as for
    :func:`connect`; ``**options`` go to :func:`tidewire_anyio.serve`.

    Returns:
        The :class:`~tidewire_anyio.Server`, not yet listening; given
        ``task_status``, the coroutine ``TaskGroup.start()`` runs.

    Raises:
        ValueError: an empty delimiter, a negative limit or an unknown encoding.
    """
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)
    server = Server(factory, lambda stream: handler(LineStream(stream)), host, port, **options)
    if task_status is None:
        return server
    started: Coroutine[Any, Any, None] = serve_started(server, task_status)
    return started
