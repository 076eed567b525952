"""Opening client streams and serving connections, for any core.

:func:`connect` opens a TCP (optionally TLS) or Unix connection, or takes a
connected socket or any :class:`anyio.abc.ByteStream`, and returns an
:class:`~tidewire_anyio.EventStream` around a fresh core; :func:`serve`
listens and runs a handler per accepted connection in a task group the
server owns. Both take a *connection factory*: any callable returning a new
:class:`tidewire.Connection`, such as the core's class or a
``functools.partial`` of it with limits.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack, overload

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from tidewire import Connection, Event, ProtocolError

from ._closing import Connecting
from .errors import StreamClosedError
from .stream import EventStream

__all__ = ["ConnectOptions", "ServeOptions", "Server", "StreamOptions", "connect", "serve"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

logger = logging.getLogger("tidewire_anyio")

_MARKS = ("read_high_water", "read_low_water", "write_high_water", "write_low_water")


class StreamOptions(TypedDict, total=False):
    """The water marks of an :class:`~tidewire_anyio.EventStream`, for connecting and serving.

    Keys: ``read_high_water``, ``read_low_water``, ``write_high_water`` and
    ``write_low_water``, as the stream's arguments.
    """

    read_high_water: int
    read_low_water: int | None
    write_high_water: int | None
    write_low_water: int | None


class ConnectOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_anyio.connect`, beside the water marks.

    ``ssl`` (``True`` for the default context, or an :class:`ssl.SSLContext`),
    ``server_hostname``, ``sock`` (a connected socket), ``path`` (a Unix
    socket), ``local_addr``, ``ssl_handshake_timeout`` and
    ``happy_eyeballs_delay`` mean what they mean for asyncio's
    ``loop.create_connection()``; ``stream`` is an already open
    :class:`anyio.abc.ByteStream` to run the core over (``ssl`` wraps it
    too), as trio's ``stream=``.
    """

    ssl: ssl.SSLContext | bool | None
    server_hostname: str | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    stream: anyio.abc.ByteStream | None
    local_addr: tuple[str, int] | None
    ssl_handshake_timeout: float | None
    happy_eyeballs_delay: float | None


class ServeOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_anyio.serve`, beside the water marks.

    ``ssl`` (a server :class:`ssl.SSLContext`), ``sock`` (a bound socket),
    ``path`` (a Unix socket), ``backlog``, ``reuse_port`` and
    ``ssl_handshake_timeout`` mean what they mean for asyncio's
    ``loop.create_server()``; ``listener`` is any
    :class:`anyio.abc.Listener` of byte streams to serve instead.
    """

    ssl: ssl.SSLContext | None
    sock: socket.socket | None
    path: str | os.PathLike[str] | None
    listener: anyio.abc.Listener[Any] | None
    backlog: int
    reuse_port: bool
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
    """Open a connection and return a stream driving a new core: ``async with`` it or ``await`` it.

    Connects to ``host``:``port``, or over ``sock``, ``stream`` or to
    ``path`` (see :class:`ConnectOptions`). ``async with`` enters the stream
    (it reads ahead and answers on its own); ``await`` returns it unentered.
    Bound the time with ``anyio.fail_after()``.

    Args:
        connection_factory: Returns the core, e.g. ``NetstringConnection``.
        host: The host to connect to.
        port: The port to connect to.
        **options: :class:`ConnectOptions` and :class:`StreamOptions`.

    Raises:
        ValueError: none of ``host`` and ``port``, ``sock``, ``stream`` or
            ``path``, or more than one of them, or bad water marks.
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
    transport = await open_transport(host, port, rest)
    stream.attach(transport)
    return stream


async def open_transport(
    host: str | None, port: int | None, options: Mapping[str, Any]
) -> anyio.abc.ByteStream:
    """Open the byte stream :class:`ConnectOptions` describe (shared by every connect())."""
    sock, path, given = options.get("sock"), options.get("path"), options.get("stream")
    if sum(x is not None for x in (sock, path, given)) > 1:
        raise ValueError("connect() takes sock or path, not both (or stream)")
    tls = options.get("ssl") or None
    context = ssl.create_default_context() if tls is True else tls
    hostname = options.get("server_hostname") or host
    transport: anyio.abc.ByteStream
    if sock is not None:
        transport = await anyio.abc.SocketStream.from_socket(sock)
    elif path is not None:
        transport = await anyio.connect_unix(os.fspath(path))
    elif given is not None:
        transport = given
    elif host is None or port is None:
        raise ValueError("connect() needs host and port, sock or path")
    else:
        transport = await _connect_tcp(host, port, options)
    if context is None:
        return transport
    try:
        with anyio.fail_after(options.get("ssl_handshake_timeout") or 60):
            return await TLSStream.wrap(
                transport, hostname=hostname, ssl_context=context, standard_compatible=False
            )
    except BaseException:
        await anyio.aclose_forcefully(transport)
        raise


async def _connect_tcp(host: str, port: int, options: Mapping[str, Any]) -> anyio.abc.ByteStream:
    local = options.get("local_addr") or (None, None)
    try:
        return await anyio.connect_tcp(
            host,
            port,
            local_host=local[0],
            local_port=local[1],
            happy_eyeballs_delay=options.get("happy_eyeballs_delay") or 0.25,
        )
    except OSError as exc:
        if isinstance(exc.__cause__, OSError):  # one address tried: its own error, as asyncio
            raise exc.__cause__ from None
        raise


class Server:
    """A listening server that runs a handler per connection in its task group; see :func:`serve`.

    Enter it with ``async with`` (or start it with ``TaskGroup.start(serve,
    ...)``): while it runs, each accepted connection gets a fresh core, an
    entered :class:`~tidewire_anyio.EventStream` and a task running the
    handler; the stream is closed when the handler returns. A handler's
    exception is logged (on the ``tidewire_anyio`` logger) and closes that
    connection only.
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
        addresses = (host, port, self._listen.get("sock"), self._listen.get("listener"))
        if self._listen.get("path") is not None and addresses != (None,) * 4:
            raise ValueError("serve() listens on host and port, sock or path: one of them")
        self._factory = connection_factory
        self._handler = handler
        self._host = host
        self._port = port
        EventStream(connection_factory(), **self._marks)  # fail early on bad marks
        self._listeners: list[anyio.abc.Listener[Any]] = []
        self._started = False
        self._closing = False
        self._streams: dict[EventStream[Any, Any], anyio.CancelScope] = {}
        self._exit: AsyncExitStack | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._changed = anyio.Event()

    # -- starting -----------------------------------------------------------

    async def start(self) -> Server:
        """Bind the listening sockets; returns the server itself. Calling it twice is an error.

        Connections wait in the backlog until the server is entered (or
        :meth:`serve_forever` runs): accepting needs the server's task group.

        Raises:
            OSError: the address could not be bound.
            RuntimeError: the server was already started.
        """
        if self._started:
            raise RuntimeError("the server was already started")
        self._started = True
        self._listeners = await _listen(self._host, self._port, self._listen)
        return self

    async def __aenter__(self) -> Self:
        """Listen (unless started), start accepting in the server's task group; return it."""
        if self._exit is not None:
            raise RuntimeError("the server is already running")
        if not self._started:
            await self.start()
        async with AsyncExitStack() as stack:
            self._tasks = await stack.enter_async_context(anyio.create_task_group())
            for listener in self._listeners:
                self._tasks.start_soon(self._accept, listener)
            self._exit = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server as :meth:`aclose` does."""
        stack, self._exit = self._exit, None
        try:
            await self.aclose()
        finally:
            if stack is not None and self._tasks is not None:
                self._tasks.cancel_scope.cancel()  # TLS handshakes still under way
                # Handlers' failures are logged, never raised: the body's
                # exception goes on as it is, not wrapped in an ExceptionGroup.
                await stack.__aexit__(None, None, None)

    async def _accept(self, listener: anyio.abc.Listener[Any]) -> None:
        async with listener:
            if not isinstance(listener, anyio.abc.SocketListener):
                assert self._tasks is not None
                await listener.serve(self._run, self._tasks)  # a listener of the user's
                return
            while not self._closing:
                try:
                    transport = await listener.accept()
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                except OSError as exc:  # out of file descriptors and the like: go on
                    if not self.sockets:
                        return  # close() shut the listening socket down
                    logger.warning("accepting a connection failed: %s", exc)
                    await anyio.sleep(0.1)
                    continue
                assert self._tasks is not None
                self._tasks.start_soon(self._run, transport)

    async def _run(self, transport: anyio.abc.ByteStream) -> None:
        stream = EventStream(self._factory(), **self._marks)
        with anyio.CancelScope() as scope:
            try:
                # The handler starts once the transport is ready: for TLS, after
                # the handshake; a failed handshake never reaches a handler.
                transport = await self._handshake(transport)
                stream.attach(transport)
                self._streams[stream] = scope
                async with stream:
                    await self._call_handler(stream)
            except StreamClosedError as exc:  # the TLS handshake failed
                logger.debug("connection %r ended: %s", stream, exc)
            finally:
                if self._streams.pop(stream, None) is not None:
                    self._notify()
                if stream.transport is None:  # the handshake failed or was cancelled
                    with anyio.CancelScope(shield=True):
                        await anyio.aclose_forcefully(transport)

    async def _handshake(self, transport: anyio.abc.ByteStream) -> anyio.abc.ByteStream:
        context = self._listen.get("ssl")
        if context is None:
            return transport
        try:
            with anyio.fail_after(self._listen.get("ssl_handshake_timeout") or 60):
                return await TLSStream.wrap(
                    transport, server_side=True, ssl_context=context, standard_compatible=False
                )
        except (TimeoutError, ssl.SSLError, *_CLOSED) as exc:
            raise StreamClosedError(f"the TLS handshake failed: {exc}") from exc

    async def _call_handler(self, stream: EventStream[Any, Any]) -> None:
        try:
            await self._handler(stream)
        except (StreamClosedError, ProtocolError) as exc:  # ConnectionLostError too
            # Said before the stream closes: closing may be cancelled by aclose().
            logger.debug("connection %r ended: %s", stream, exc)
        except Exception:
            logger.exception("the handler for %r failed", stream)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # -- running ------------------------------------------------------------

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty before :meth:`start` and after :meth:`close`)."""
        if self._closing:
            return ()
        raw = (listener.extra(SocketAttribute.raw_socket, None) for listener in self._listeners)  # noqa: S610
        return tuple(sock for sock in raw if sock is not None)

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
        """Serve until the server is closed (by :meth:`close` or :meth:`aclose` elsewhere).

        Runs the server's task group itself unless the server is entered;
        cancelling this call closes the server the way :meth:`aclose` does.
        """
        if self._exit is None:
            async with self:
                await self._wait_closing()
        else:
            try:
                await self._wait_closing()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.aclose()
                raise

    async def _wait_closing(self) -> None:
        while not self._closing:
            await self._changed.wait()

    # -- closing ------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting connections; those being handled go on."""
        if not self._closing:
            self._closing = True
            for listener in self._listeners:
                # Refused from now on; the accept loop wakes and closes the listener.
                _stop_listening(listener, close=self._tasks is None)
            self._notify()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has finished."""
        while not self._closing or self._streams:
            await self._changed.wait()

    async def aclose(self) -> None:
        """Stop accepting, cancel every handler, close every stream and wait for them."""
        self.close()
        for listener in self._listeners:
            await anyio.aclose_forcefully(listener)
        for scope in list(self._streams.values()):
            scope.cancel()
        with anyio.CancelScope(shield=True):
            await self.wait_closed()


_CLOSED = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


def _stop_listening(listener: anyio.abc.Listener[Any], *, close: bool) -> None:
    sock = listener.extra(SocketAttribute.raw_socket, None)  # noqa: S610
    if sock is None:
        return
    if close:  # nobody waits on it: closing the descriptor is safe
        sock.close()
    else:  # a task waits in accept(): shutdown wakes it, closing under it would not be safe
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


async def _listen(
    host: str | Sequence[str] | None, port: int | None, options: Mapping[str, Any]
) -> list[anyio.abc.Listener[Any]]:
    if options.get("listener") is not None:
        return [options["listener"]]
    if options.get("sock") is not None:
        return [await anyio.abc.SocketListener.from_socket(options["sock"])]
    backlog = options.get("backlog", 100)
    if options.get("path") is not None:
        return [await anyio.create_unix_listener(os.fspath(options["path"]), backlog=backlog)]
    hosts = [host] if host is None or isinstance(host, str) else list(host)
    listeners: list[anyio.abc.Listener[Any]] = []
    reuse_port = options.get("reuse_port", False)
    for one in hosts:
        if one is not None and _numeric(one):  # bound at once: no lookup in a worker thread
            sock = socket.create_server(
                (one, port or 0), family=_family(one), backlog=backlog, reuse_port=reuse_port
            )
            listeners.append(await anyio.abc.SocketListener.from_socket(sock))
            continue
        multi = await anyio.create_tcp_listener(
            local_host=one, local_port=port or 0, backlog=backlog, reuse_port=reuse_port
        )
        listeners.extend(multi.listeners)
    return listeners


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


@overload
def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: None = None,
    **options: Unpack[ServeOptions],
) -> Server: ...


@overload
def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: anyio.abc.TaskStatus[Server],
    **options: Unpack[ServeOptions],
) -> Coroutine[Any, Any, None]: ...


def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: anyio.abc.TaskStatus[Server] | None = None,
    **options: Unpack[ServeOptions],
) -> Server | Coroutine[Any, Any, None]:
    """Serve ``handler`` on ``host``:``port`` (or ``sock``, ``path``), a fresh core per connection.

    Use as ``async with serve(...) as server:``, or ``server = await
    task_group.start(serve, factory, handler, host, port)``, which serves
    until the task group is cancelled. Port ``0`` picks a free port (see
    :attr:`Server.port`). The handler gets the connection's entered
    :class:`~tidewire_anyio.EventStream`, closed when the handler returns or fails.

    Args:
        connection_factory: Returns a new core per connection.
        handler: ``async def handler(stream)``, run once per connection.
        host: The interface(s) to listen on; ``None`` for all.
        port: The port; ``0`` for any free one.
        task_status: Passed by ``TaskGroup.start()``: the server, once listening.
        **options: :class:`ServeOptions` and :class:`StreamOptions`.

    Returns:
        The server, not yet listening; or, given ``task_status``, the
        coroutine ``TaskGroup.start()`` runs.

    Raises:
        ValueError: bad water marks, or ``path`` with another address (at once).
    """
    server = Server(connection_factory, handler, host, port, **options)
    if task_status is None:
        return server
    return serve_started(server, task_status)


async def serve_started(server: Any, task_status: anyio.abc.TaskStatus[Any]) -> None:
    """Run ``server`` (anything entered with ``async with``) for ``TaskGroup.start()``."""
    async with server:
        task_status.started(server)
        await server.serve_forever()
