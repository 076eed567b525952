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
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, Self, TypeVar

from tidewire import Connection, Event, ProtocolError

from ._closing import AsyncClosing, Connecting
from .errors import ConnectionLostError, StreamClosedError
from .stream import DEFAULT_READ_HIGH_WATER, EventStream

__all__ = ["Server", "connect", "serve"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

logger = logging.getLogger("tidewire_asyncio")


def connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None = None,
    port: int | None = None,
    *,
    ssl: ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    sock: socket.socket | None = None,
    path: str | os.PathLike[str] | None = None,
    local_addr: tuple[str, int] | None = None,
    ssl_handshake_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    read_high_water: int = DEFAULT_READ_HIGH_WATER,
    read_low_water: int | None = None,
    write_high_water: int | None = None,
    write_low_water: int | None = None,
) -> Connecting[EventStream[ReceivedT, SentT]]:
    """Open a connection to ``host``:``port`` and return a stream driving a new core.

    ``ssl``, ``server_hostname``, ``sock``, ``local_addr``,
    ``ssl_handshake_timeout`` and ``happy_eyeballs_delay`` mean what they mean
    for ``loop.create_connection()``: pass ``ssl=True`` for TLS with
    the default context, or an :class:`ssl.SSLContext`. ``path`` connects
    to a Unix socket instead, as ``loop.create_unix_connection()`` does.
    The water marks are those of :class:`~tidewire_asyncio.EventStream`.
    Wrap the call in ``asyncio.timeout()`` to bound the connection time.

    Args:
        connection_factory: Returns the core, e.g. ``NetstringConnection``.
        host: The host to connect to (omit with ``sock``).
        port: The port to connect to (omit with ``sock``).
        ssl: TLS settings; ``None`` or ``False`` for plain TCP.
        server_hostname: The name to check the server's certificate against.
        sock: An already connected socket to use instead of ``host``/``port``.
        path: The filesystem path of a Unix socket to connect to instead of
            ``host``/``port``.
        local_addr: The local address to bind before connecting.
        ssl_handshake_timeout: Seconds allowed for the TLS handshake.
        happy_eyeballs_delay: Enables RFC 8305 connection racing.
        read_high_water: See :class:`~tidewire_asyncio.EventStream`.
        read_low_water: See :class:`~tidewire_asyncio.EventStream`.
        write_high_water: See :class:`~tidewire_asyncio.EventStream`.
        write_low_water: See :class:`~tidewire_asyncio.EventStream`.

    Returns:
        ``await`` it for the connected stream (close it with ``aclose()``),
        or ``async with connect(...) as stream:``, which closes it on exit.

    Raises:
        ValueError: none of ``host`` and ``port``, ``sock`` or ``path``
            was given, or both ``sock`` and ``path``.
        OSError: the connection could not be made (refused, unreachable, TLS
            verification failed ...).
    """
    return Connecting(
        _connect(
            connection_factory,
            host,
            port,
            options={
                "ssl": ssl or None,
                "server_hostname": server_hostname,
                "ssl_handshake_timeout": ssl_handshake_timeout,
            },
            sock=sock,
            path=path,
            local_addr=local_addr,
            happy_eyeballs_delay=happy_eyeballs_delay,
            marks={
                "read_high_water": read_high_water,
                "read_low_water": read_low_water,
                "write_high_water": write_high_water,
                "write_low_water": write_low_water,
            },
        )
    )


async def _connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None,
    port: int | None,
    *,
    options: dict[str, Any],
    sock: socket.socket | None,
    path: str | os.PathLike[str] | None,
    local_addr: tuple[str, int] | None,
    happy_eyeballs_delay: float | None,
    marks: dict[str, Any],
) -> EventStream[ReceivedT, SentT]:
    stream = EventStream(connection_factory(), **marks)
    loop = asyncio.get_running_loop()
    if sock is not None and path is not None:
        raise ValueError("connect() takes sock or path, not both")
    if sock is not None:
        await loop.create_connection(lambda: stream.protocol, sock=sock, **options)
    elif path is not None:
        await loop.create_unix_connection(lambda: stream.protocol, os.fspath(path), **options)
    elif host is None or port is None:
        raise ValueError("connect() needs host and port, sock or path")
    else:
        await loop.create_connection(
            lambda: stream.protocol,
            host,
            port,
            local_addr=local_addr,
            happy_eyeballs_delay=happy_eyeballs_delay,
            **options,
        )
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
        *,
        ssl: ssl.SSLContext | None = None,
        sock: socket.socket | None = None,
        path: str | os.PathLike[str] | None = None,
        backlog: int = 100,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        ssl_handshake_timeout: float | None = None,
        read_high_water: int = DEFAULT_READ_HIGH_WATER,
        read_low_water: int | None = None,
        write_high_water: int | None = None,
        write_low_water: int | None = None,
    ) -> None:
        if path is not None and (host is not None or port is not None or sock is not None):
            raise ValueError("serve() listens on host and port, sock or path: one of them")
        self._factory = connection_factory
        self._handler = handler
        self._host = host
        self._port = port
        self._path = path
        self._listen: dict[str, Any] = {
            "ssl": ssl,
            "sock": sock,
            "backlog": backlog,
            "reuse_address": reuse_address,
            "reuse_port": reuse_port,
            "ssl_handshake_timeout": ssl_handshake_timeout,
        }
        self._marks: dict[str, Any] = {
            "read_high_water": read_high_water,
            "read_low_water": read_low_water,
            "write_high_water": write_high_water,
            "write_low_water": write_low_water,
        }
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
        sock = listen.pop("sock")
        if sock is not None:
            self._server = await loop.create_server(self._make_protocol, sock=sock, **listen)
        elif self._path is not None:
            del listen["reuse_address"], listen["reuse_port"]  # no such thing for Unix sockets
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

    def _make_protocol(self) -> asyncio.Protocol:
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
        except (ConnectionLostError, StreamClosedError, ProtocolError) as exc:
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
    *,
    ssl: ssl.SSLContext | None = None,
    sock: socket.socket | None = None,
    path: str | os.PathLike[str] | None = None,
    backlog: int = 100,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    read_high_water: int = DEFAULT_READ_HIGH_WATER,
    read_low_water: int | None = None,
    write_high_water: int | None = None,
    write_low_water: int | None = None,
) -> Server:
    """Serve ``handler`` on ``host``:``port``, one fresh core per connection.

    Use as ``async with serve(...) as server:`` or ``server = await
    serve(...)``. Port ``0`` picks a free port; read it from
    :attr:`Server.port`. The handler receives the connection's
    :class:`~tidewire_asyncio.EventStream`; the stream is closed when the
    handler returns or fails.

    ``ssl``, ``sock``, ``backlog``, ``reuse_address``, ``reuse_port`` and
    ``ssl_handshake_timeout`` mean what they mean for
    ``loop.create_server()``; ``path`` listens on a Unix socket instead, as
    ``loop.create_unix_server()`` does. The water marks are those of
    :class:`~tidewire_asyncio.EventStream`.

    Args:
        connection_factory: Returns a new core per connection.
        handler: ``async def handler(stream)``, run once per connection.
        host: The interface(s) to listen on; ``None`` for all.
        port: The port; ``0`` for any free one.
        ssl: An :class:`ssl.SSLContext` to serve TLS.
        sock: An already bound socket to listen on instead.
        path: The filesystem path of a Unix socket to listen on instead.
        backlog: The listen queue length.
        reuse_address: Set SO_REUSEADDR.
        reuse_port: Set SO_REUSEPORT.
        ssl_handshake_timeout: Seconds allowed for a TLS handshake.
        read_high_water: See :class:`~tidewire_asyncio.EventStream`.
        read_low_water: See :class:`~tidewire_asyncio.EventStream`.
        write_high_water: See :class:`~tidewire_asyncio.EventStream`.
        write_low_water: See :class:`~tidewire_asyncio.EventStream`.

    Returns:
        The server, not yet listening; ``await`` it or enter it.

    Raises:
        ValueError: invalid water marks, or ``path`` given with another
            address (raised at once).
    """
    return Server(
        connection_factory,
        handler,
        host,
        port,
        ssl=ssl,
        sock=sock,
        path=path,
        backlog=backlog,
        reuse_address=reuse_address,
        reuse_port=reuse_port,
        ssl_handshake_timeout=ssl_handshake_timeout,
        read_high_water=read_high_water,
        read_low_water=read_low_water,
        write_high_water=write_high_water,
        write_low_water=write_low_water,
    )
