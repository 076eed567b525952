"""Opening client streams and serving connections, for any core.

:func:`connect` opens a TCP (optionally TLS) or Unix connection, or takes a
trio stream of yours, and returns an :class:`~tidewire_trio.EventStream`
around a fresh core; :func:`serve` listens and runs a handler per accepted
connection, each in a task of the server's own nursery. Both take a
*connection factory*: any callable returning a new :class:`tidewire.Connection`.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack, overload

import trio

from tidewire import Connection, Event, ProtocolError

from ._closing import Connecting
from .errors import StreamClosedError
from .stream import EventStream

__all__ = ["ConnectOptions", "ServeOptions", "Server", "StreamOptions", "connect", "serve"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

logger = logging.getLogger("tidewire_trio")

_MARKS = ("read_high_water", "read_low_water", "write_high_water", "write_low_water")
_HANDSHAKE_TIMEOUT = 60.0  # asyncio's default for ssl_handshake_timeout


class StreamOptions(TypedDict, total=False):
    """The water marks of an :class:`~tidewire_trio.EventStream`, for connecting and serving.

    Keys: ``read_high_water``, ``read_low_water``, ``write_high_water`` and
    ``write_low_water``, as the stream's arguments.
    """

    read_high_water: int
    read_low_water: int | None
    write_high_water: int | None
    write_low_water: int | None


class ConnectOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_trio.connect`, beside the water marks.

    ``ssl`` (``True`` for the default context, or an :class:`ssl.SSLContext`),
    ``server_hostname``, ``sock`` (a connected socket), ``path`` (a Unix
    socket), ``local_addr`` (its host is trio's ``local_address``),
    ``ssl_handshake_timeout`` and ``happy_eyeballs_delay`` mean what they mean
    on asyncio; ``stream`` is any connected :class:`trio.abc.Stream` of yours.
    """

    ssl: ssl.SSLContext | bool | None
    server_hostname: str | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    stream: trio.abc.Stream | None
    local_addr: tuple[str, int] | None
    ssl_handshake_timeout: float | None
    happy_eyeballs_delay: float | None


class ServeOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_trio.serve`, beside the water marks.

    ``ssl`` (a server :class:`ssl.SSLContext`), ``sock`` (a bound socket),
    ``path`` (a Unix socket), ``backlog`` and ``ssl_handshake_timeout`` mean
    what they mean on asyncio (trio sets ``SO_REUSEADDR`` itself).
    """

    ssl: ssl.SSLContext | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    backlog: int | None
    ssl_handshake_timeout: float | None


def _split_marks(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    marks = {key: value for key, value in options.items() if key in _MARKS}
    rest = {key: value for key, value in options.items() if key not in _MARKS}
    return marks, rest


async def _handshake(tls: trio.SSLStream[Any], timeout: float | None) -> None:
    """Finish the TLS handshake; a failure raises its :class:`ssl.SSLError` (an OSError)."""
    try:
        with trio.fail_after(_HANDSHAKE_TIMEOUT if timeout is None else timeout):
            await tls.do_handshake()
    except trio.TooSlowError:
        await trio.aclose_forcefully(tls)
        raise TimeoutError("the TLS handshake did not finish in time") from None
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(tls)
        if isinstance(exc.__cause__, OSError):
            raise exc.__cause__ from None
        raise ConnectionError(f"the TLS handshake failed: {exc}") from exc


def connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None = None,
    port: int | None = None,
    **options: Unpack[ConnectOptions],
) -> Connecting[EventStream[ReceivedT, SentT]]:
    """Open a connection and return a stream driving a new core: ``await`` it or ``async with`` it.

    Connects to ``host``:``port``, over ``sock``, to ``path``, or wraps
    ``stream`` (see :class:`ConnectOptions`). Bound the time with
    ``trio.fail_after()`` around it.

    Args:
        connection_factory: Returns the core, e.g. ``NetstringConnection``.
        host: The host to connect to.
        port: The port to connect to.
        **options: :class:`ConnectOptions` and :class:`StreamOptions`.

    Raises:
        ValueError: none of ``host`` and ``port``, ``sock``, ``path`` or
            ``stream``, or more than one of the last three, or bad water marks.
        OSError: the connection could not be made (refused, TLS verification ...).
    """
    return Connecting(_connect(connection_factory, host, port, options))


async def _open(host: str | None, port: int | None, rest: dict[str, Any]) -> trio.abc.Stream:
    sock, path, given = rest.pop("sock", None), rest.pop("path", None), rest.pop("stream", None)
    if sum(x is not None for x in (sock, path, given)) > 1:
        raise ValueError("connect() takes one of sock, path or stream: sock or path, not both")
    if given is not None:
        return given  # type: ignore[no-any-return]
    if sock is not None:
        return trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    if path is not None:
        return await trio.open_unix_socket(os.fspath(path))
    if host is None or port is None:
        raise ValueError("connect() needs host and port, sock or path")
    local = rest.get("local_addr")
    delay = rest.get("happy_eyeballs_delay")
    try:
        return await trio.open_tcp_stream(
            host,
            port,
            happy_eyeballs_delay=0.25 if delay is None else delay,
            local_address=None if local is None else local[0],
        )
    except OSError as exc:
        one = _one_error(exc)
        if one is exc:
            raise
        raise one from None


def _one_error(exc: OSError) -> OSError:
    """Return the attempts' one error if they all had it (asyncio's rule), else ``exc``."""
    group = exc.__cause__
    if isinstance(group, ExceptionGroup):
        first = group.exceptions[0]
        same = all(type(e) is type(first) and str(e) == str(first) for e in group.exceptions)
        if same and isinstance(first, OSError):
            return first
    return exc


async def _connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    host: str | None,
    port: int | None,
    options: Mapping[str, Any],
) -> EventStream[ReceivedT, SentT]:
    marks, rest = _split_marks(options)
    stream = EventStream(connection_factory(), **marks)
    context = rest.get("ssl")
    transport = await _open(host, port, rest)
    try:
        if context:
            if context is True:
                context = ssl.create_default_context()
            hostname = rest.get("server_hostname") or host
            transport = trio.SSLStream(transport, context, server_hostname=hostname)
            await _handshake(transport, rest.get("ssl_handshake_timeout"))
        await stream._attach(transport)
    except BaseException:
        await trio.aclose_forcefully(transport)
        raise
    return stream


class Server:
    """A listening server that runs a handler per connection; see :func:`serve`.

    ``async with`` it, or run :meth:`serve_forever` in a task (``await
    nursery.start(server.serve_forever)`` returns once it listens). Each
    accepted connection gets a fresh core, an
    :class:`~tidewire_trio.EventStream` and a task of the server's nursery
    running the handler; the stream is closed when the handler returns. A
    handler's exception is logged (on the ``tidewire_trio`` logger) and closes
    that connection only: it never reaches the nursery.
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
        self._listeners: list[trio.SocketListener] = []
        self._started = False
        self._streams: set[EventStream[Any, Any]] = set()
        self._closing = trio.Event()
        self._finished = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._owned: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._owned_scope: trio.CancelScope | None = None

    # -- starting -----------------------------------------------------------

    async def _open_listeners(self) -> list[trio.SocketListener]:
        backlog = self._listen.get("backlog")
        sock = self._listen.get("sock")
        if sock is not None:
            return [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]
        if self._path is not None:
            raw = socket.socket(socket.AF_UNIX)
            try:
                raw.bind(os.fspath(self._path))
                raw.listen(backlog or 100)
            except BaseException:
                raw.close()
                raise
            return [trio.SocketListener(trio.socket.from_stdlib_socket(raw))]
        hosts = [self._host] if self._host is None or isinstance(self._host, str) else self._host
        listeners: list[trio.SocketListener] = []
        for host in hosts:
            listeners += await trio.open_tcp_listeners(self._port or 0, host=host, backlog=backlog)
        return listeners

    async def start(self, nursery: trio.Nursery | None = None) -> Self:
        """Listen, serving in a task of ``nursery``; returns the server itself.

        Raises:
            OSError: the address could not be bound.
            RuntimeError: the server was already started, or no nursery was
                given (trio runs nothing in the background).
        """
        if self._started:
            raise RuntimeError("the server was already started")
        if nursery is None:
            raise RuntimeError(
                "start(nursery) serves in a task of your nursery; or use async with serve(...)"
            )
        await nursery.start(self.serve_forever)
        return self

    async def serve_forever(
        self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until :meth:`close` and every handler has returned.

        Reports the listening server through ``task_status``. Cancelling it
        stops accepting, cancels the handlers and closes their streams.

        Raises:
            OSError: the address could not be bound.
            RuntimeError: the server was already started.
        """
        if self._started:
            raise RuntimeError("the server was already started")
        self._started = True
        try:
            self._listeners = await self._open_listeners()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for listener in self._listeners:
                    nursery.start_soon(self._accept, listener)
                task_status.started(self)
                await self._closing.wait()
                self._close_listeners()
        finally:
            self._close_listeners()
            self._finished.set()

    async def _accept(self, listener: trio.SocketListener) -> None:
        while True:
            try:
                transport = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:  # out of file descriptors ...: wait a little, go on
                logger.error("accepting a connection failed: %s", exc)
                await trio.sleep(0.1)
                continue
            assert self._nursery is not None
            self._nursery.start_soon(self._run, transport)

    async def _run(self, transport: trio.abc.Stream) -> None:
        context = self._listen.get("ssl")
        if context is not None:
            transport = trio.SSLStream(transport, context, server_side=True)
            try:
                await _handshake(transport, self._listen.get("ssl_handshake_timeout"))
            except OSError as exc:  # a failed handshake never reaches a handler
                logger.debug("a TLS handshake failed: %s", exc)
                return
        stream = EventStream(self._factory(), **self._marks)
        self._streams.add(stream)
        try:
            await stream._attach(transport)
            await self._handler(stream)
        except (StreamClosedError, ProtocolError) as exc:  # ConnectionLostError too
            logger.debug("connection %r ended: %s", stream, exc)
        except Exception:
            logger.exception("the handler for %r failed", stream)
        finally:
            self._streams.discard(stream)
            if stream.transport is None:
                await trio.aclose_forcefully(transport)
            await stream.aclose()

    async def __aenter__(self) -> Self:
        """Open the server's nursery and listen."""
        self._owned = trio.open_nursery()
        nursery = await self._owned.__aenter__()
        try:
            await nursery.start(self.serve_forever)
        except BaseException as exc:
            await self._owned.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._owned_scope = nursery.cancel_scope
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close as :meth:`aclose` does; the body's exception passes through unwrapped."""
        owned, self._owned = self._owned, None
        assert owned is not None and self._owned_scope is not None
        self.close()
        self._owned_scope.cancel()  # the handlers, as aclose() does
        await owned.__aexit__(None, None, None)

    # -- running ------------------------------------------------------------

    @property
    def sockets(self) -> tuple[trio.socket.SocketType, ...]:
        """The listening (trio) sockets; empty before listening and after :meth:`close`."""
        return tuple(listener.socket for listener in self._listeners)

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

    # -- closing ------------------------------------------------------------

    def _close_listeners(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.socket.close()

    def close(self) -> None:
        """Stop accepting connections; those being handled go on."""
        self._close_listeners()
        self._closing.set()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has finished."""
        if self._started:
            await self._finished.wait()
        else:
            await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Stop accepting, cancel every handler, close every stream and wait for them.

        Protocol-aware servers (the WebSocket one) first tell each peer
        goodbye in the protocol's terms; this generic one cannot.
        """
        self.close()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        await self.wait_closed()


@overload
def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    *,
    task_status: trio.TaskStatus[Server],
    **options: Unpack[ServeOptions],
) -> Coroutine[Any, Any, None]: ...
@overload
def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    **options: Unpack[ServeOptions],
) -> Server: ...
def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: trio.TaskStatus[Server] | None = None,
    **options: Unpack[ServeOptions],
) -> Server | Coroutine[Any, Any, None]:
    """Serve ``handler`` on ``host``:``port`` (or ``sock``, ``path``), a fresh core per connection.

    ``async with serve(...) as server:``, or ``server = await
    nursery.start(serve, factory, handler, host, port)`` (``nursery.start``
    passes ``task_status``: the call is then the serving task, and the server
    is reported once it listens). Port ``0`` picks a free port (see
    :attr:`Server.port`). The handler gets the connection's
    :class:`~tidewire_trio.EventStream`, closed when the handler returns or fails.

    Args:
        connection_factory: Returns a new core per connection.
        handler: ``async def handler(stream)``, run once per connection.
        host: The interface(s) to listen on; ``None`` for all.
        port: The port; ``0`` for any free one.
        task_status: Given by ``nursery.start()``.
        **options: :class:`ServeOptions` and :class:`StreamOptions`.

    Returns:
        The server, not yet listening; or, with ``task_status``, the coroutine
        that serves.

    Raises:
        ValueError: bad water marks, or ``path`` with another address (at once).
    """
    server = Server(connection_factory, handler, host, port, **options)
    if task_status is None:
        return server
    return server.serve_forever(task_status=task_status)
