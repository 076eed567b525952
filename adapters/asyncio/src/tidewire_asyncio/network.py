"""Opening client streams and serving connections, for any core.

:func:`connect` opens a TCP (optionally TLS) connection and returns an
:class:`~tidewire_asyncio.EventStream` around a fresh core;
:func:`serve` listens and runs a handler per accepted connection, each with
its own core and stream. Both take a *connection factory*: any callable
returning a new :class:`tidewire.Connection`, such as the core's class or a
``functools.partial`` of it with limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any, Self, TypedDict, TypeVar, Unpack

from tidewire import Connection, Event, ProtocolError

from ._closing import AsyncClosing, Connecting
from .errors import StreamClosedError
from .stream import EventStream

__all__ = ["ConnectOptions", "ServeOptions", "Server", "StreamOptions", "connect", "serve"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

logger = logging.getLogger("tidewire_asyncio")

_MARKS = ("read_high_water", "read_low_water", "write_high_water", "write_low_water")


class StreamOptions(TypedDict, total=False):
    """The water marks of an :class:`~tidewire_asyncio.EventStream`, for connecting and serving.

    Keys: ``read_high_water``, ``read_low_water``, ``write_high_water`` and
    ``write_low_water``, as the stream's arguments.
    """

    read_high_water: int
    read_low_water: int | None
    write_high_water: int | None
    write_low_water: int | None


class ConnectOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_asyncio.connect`, beside the water marks.

    ``ssl`` (``True`` for the default context, or an :class:`ssl.SSLContext`),
    ``server_hostname``, ``sock`` (an already connected socket),
    ``local_addr``, ``ssl_handshake_timeout`` and ``happy_eyeballs_delay``
    mean what they mean for ``loop.create_connection()``; ``path`` connects to
    a Unix socket instead, as ``loop.create_unix_connection()`` does.
    """

    ssl: ssl.SSLContext | bool | None
    server_hostname: str | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    local_addr: tuple[str, int] | None
    ssl_handshake_timeout: float | None
    happy_eyeballs_delay: float | None


class ServeOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_asyncio.serve`, beside the water marks.

    ``ssl`` (a server :class:`ssl.SSLContext`), ``sock`` (a bound socket),
    ``backlog``, ``reuse_address``, ``reuse_port`` and
    ``ssl_handshake_timeout`` mean what they mean for
    ``loop.create_server()``; ``path`` listens on a Unix socket instead.
    """

    ssl: ssl.SSLContext | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    backlog: int
    reuse_address: bool | None
    reuse_port: bool | None
    ssl_handshake_timeout: float | None


def _split_marks(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    marks = {key: value for key, value in options.items() if key in _MARKS}
    rest = {key: value for key, value in options.items() if key not in _MARKS}
    return marks, rest


def connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None = None,
    port: int | None = None,
    **options: Unpack[ConnectOptions],
) -> Connecting[EventStream[ReceivedT, SentT]]:
    """Open a connection and return a stream driving a new core: ``await`` it or ``async with`` it.

    Connects to ``host``:``port``, or over ``sock`` or to ``path`` (see
    :class:`ConnectOptions`). Bound the time with ``asyncio.timeout()``.

    Args:
        connection_factory: Returns the core, e.g. ``NetstringConnection``.
        host: The host to connect to.
        port: The port to connect to.
        **options: :class:`ConnectOptions` and :class:`StreamOptions`.

    Raises:
        ValueError: none of ``host`` and ``port``, ``sock`` or ``path``, or
            both ``sock`` and ``path``, or bad water marks.
        OSError: the connection could not be made (refused, TLS verification ...).
    """
    return Connecting(_connect(connection_factory, host, port, options))


async def _connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None,
    port: int | None,
    options: Mapping[str, Any],
) -> EventStream[ReceivedT, SentT]:
    marks, rest = _split_marks(options)
    stream = EventStream(connection_factory(), **marks)
    sock, path = rest.pop("sock", None), rest.pop("path", None)
    rest["ssl"] = rest.get("ssl") or None
    loop = asyncio.get_running_loop()
    if sock is not None and path is not None:
        raise ValueError("connect() takes sock or path, not both")
    if sock is not None:
        await loop.create_connection(lambda: stream.protocol, sock=sock, **rest)
    elif path is not None:
        await loop.create_unix_connection(lambda: stream.protocol, os.fspath(path), **rest)
    elif host is None or port is None:
        raise ValueError("connect() needs host and port, sock or path")
    else:
        await loop.create_connection(lambda: stream.protocol, host, port, **rest)
    return stream


class Server(AsyncClosing):
    """A listening server that runs a handler per connection; see :func:`serve`.

    Use it as an async context manager, or ``await`` it to start listening
    and then call :meth:`aclose` when done. While it runs, each accepted
    connection gets a fresh core, an :class:`~tidewire_asyncio.EventStream`
    and a task running the handler; the stream is closed when the handler
    returns. A handler's exception is logged (on the ``tidewire_asyncio``
    logger) and closes that connection only.
    """

    def __init__(
        self,
        connection_factory: Callable[[], Connection[Any, Any]],
        handler: Callable[[EventStream[Any, Any]], Awaitable[None]],
        host: str | Sequence[str] | None,
        port: int | None,
        **options: Unpack[ServeOptions],
    ) -> None:
        self._marks, self._listen = _split_marks(options)
        self._path = self._listen.pop("path", None)
        if self._path is not None and (host, port, self._listen.get("sock")) != (None,) * 3:
            raise ValueError("serve() listens on host and port, sock or path: one of them")
        self._factory = connection_factory
        self._handler = handler
        self._host = host
        self._port = port
        EventStream(connection_factory(), **self._marks)  # fail early on bad marks
        self._server: asyncio.Server | None = None
        self._streams: dict[EventStream[Any, Any], asyncio.Task[None]] = {}
        self._closed: asyncio.Event | None = None

    # -- starting -----------------------------------------------------------

    async def start(self) -> Server:
        """Start listening; returns the server itself. Calling it twice is an error.

        Raises:
            OSError: the address could not be bound.
            RuntimeError: the server was already started.
        """
        if self._server is not None:
            raise RuntimeError("the server was already started")
        loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        listen = dict(self._listen)
        if listen.get("sock") is not None:
            self._server = await loop.create_server(self._make_protocol, **listen)
        elif self._path is not None:
            self._server = await loop.create_unix_server(self._make_protocol, self._path, **listen)
        else:
            self._server = await loop.create_server(
                self._make_protocol, self._host, self._port, **listen
            )
        return self

    def __await__(self) -> Generator[Any, None, Server]:
        return self.start().__await__()

    async def __aenter__(self) -> Self:
        if self._server is None:
            await self.start()
        return self

    def _make_protocol(self) -> asyncio.BaseProtocol:
        stream = EventStream(self._factory(), **self._marks)
        # The handler starts once the transport is attached: for TLS, after
        # the handshake; a failed handshake never reaches a handler.
        stream._on_attach = self._start_handler
        return stream.protocol

    def _start_handler(self, stream: EventStream[Any, Any]) -> None:
        self._streams[stream] = asyncio.get_running_loop().create_task(self._run(stream))

    async def _run(self, stream: EventStream[Any, Any]) -> None:
        try:
            await self._handler(stream)
        except (StreamClosedError, ProtocolError) as exc:  # ConnectionLostError too
            logger.debug("connection %r ended: %s", stream, exc)
        except Exception:
            logger.exception("the handler for %r failed", stream)
        finally:
            try:
                await stream.aclose()
            finally:
                del self._streams[stream]

    # -- running ------------------------------------------------------------

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty before :meth:`start` and after :meth:`close`)."""
        if self._server is None:
            return ()
        return tuple(self._server.sockets)

    @property
    def port(self) -> int:
        """The port of the first listening socket, handy after asking for port 0.

        Raises:
            RuntimeError: the server is not listening, or on a Unix socket.
        """
        if not self.sockets:
            raise RuntimeError("the server is not listening")
        address = self.sockets[0].getsockname()
        if isinstance(address, str | bytes):
            raise RuntimeError(f"a Unix socket server has no port (it listens on {address!r})")
        port: int = address[1]
        return port

    @property
    def streams(self) -> frozenset[EventStream[Any, Any]]:
        """The streams of the connections currently being handled."""
        return frozenset(self._streams)

    async def serve_forever(self) -> None:
        """Wait until the server is closed (by :meth:`close` or :meth:`aclose` elsewhere).

        Cancelling this call closes the server the way :meth:`aclose` does.
        """
        if self._server is None:
            await self.start()
        assert self._closed is not None
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.aclose())
            raise

    # -- closing ------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting connections; those being handled go on."""
        if self._server is not None:
            self._server.close()
        if self._closed is not None:
            self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has finished."""
        if self._closed is not None:
            await self._closed.wait()
        while self._streams:
            await asyncio.wait(list(self._streams.values()))

    async def aclose(self) -> None:
        """Stop accepting, cancel every handler, close every stream and wait for them.

        Protocol-aware servers (the WebSocket one) first tell each peer
        goodbye in the protocol's terms; this generic one cannot, so it
        cancels the handlers and closes the transports.
        """
        self.close()
        for task in list(self._streams.values()):
            task.cancel()
        await self.wait_closed()


def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    **options: Unpack[ServeOptions],
) -> Server:
    """Serve ``handler`` on ``host``:``port`` (or ``sock``, ``path``), a fresh core per connection.

    Use as ``async with serve(...) as server:`` or ``server = await
    serve(...)``. Port ``0`` picks a free port (see :attr:`Server.port`). The
    handler gets the connection's :class:`~tidewire_asyncio.EventStream`,
    closed when the handler returns or fails.

    Args:
        connection_factory: Returns a new core per connection.
        handler: ``async def handler(stream)``, run once per connection.
        host: The interface(s) to listen on; ``None`` for all.
        port: The port; ``0`` for any free one.
        **options: :class:`ServeOptions` and :class:`StreamOptions`.

    Returns:
        The server, not yet listening; ``await`` it or enter it.

    Raises:
        ValueError: bad water marks, or ``path`` with another address (at once).
    """
    return Server(connection_factory, handler, host, port, **options)
