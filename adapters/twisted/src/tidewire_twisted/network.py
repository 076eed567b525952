"""Opening client streams and serving connections over Twisted endpoints, for any core.

:func:`connect` connects an endpoint (any ``IStreamClientEndpoint``, or a
description string such as ``"tcp:example.com:80"``,
``"unix:path=/run/app.sock"``) and fires with an
:class:`~tidewire_twisted.EventStream` around a fresh core; :func:`serve`
listens on an endpoint (``"tcp:0"``, ``"ssl:443:privateKey=..."``,
``"unix:/path"``) and runs a handler per accepted connection. TLS and Unix
sockets come from Twisted itself. Both take a *connection factory*: any
callable returning a new :class:`tidewire.Connection`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Self, TypedDict, TypeVar, Unpack, cast

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.endpoints import clientFromString, serverFromString, wrapClientTLS
from twisted.internet.interfaces import (
    IAddress,
    IListeningPort,
    IOpenSSLClientConnectionCreator,
    IReactorTime,
    IStreamClientEndpoint,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from tidewire import Connection, Event, ProtocolError

from ._endpoints import tls_module
from ._waiting import Signal
from .errors import StreamClosedError
from .stream import EventStream, default_reactor

__all__ = ["ConnectOptions", "ServeOptions", "Server", "StreamOptions", "connect", "serve"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

logger = logging.getLogger("tidewire_twisted")

Handler = Callable[[EventStream[Any, Any]], "Deferred[Any] | Coroutine[Any, Any, Any] | None"]


class StreamOptions(TypedDict, total=False):
    """The water marks of an :class:`~tidewire_twisted.EventStream`, for connecting and serving.

    Keys: ``read_high_water``, ``read_low_water``, ``write_high_water`` and
    ``write_low_water``, as the stream's arguments.
    """

    read_high_water: int
    read_low_water: int | None
    write_high_water: int | None
    write_low_water: int | None


class ConnectOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_twisted.connect`, beside the water marks.

    ``ssl``: an ``IOpenSSLClientConnectionCreator`` (from
    ``twisted.internet.ssl.optionsForClientTLS``) wrapping the endpoint in
    TLS; an ``"ssl:"`` or ``"tls:"`` description does the same.
    """

    ssl: IOpenSSLClientConnectionCreator | None


class ServeOptions(StreamOptions, total=False):
    """The keyword arguments of :func:`~tidewire_twisted.serve`, beside the water marks.

    ``ssl``: a server context factory (``twisted.internet.ssl.CertificateOptions``,
    ``PrivateCertificate.options()``) wrapping each connection in TLS; an
    ``"ssl:"`` description does the same.
    """

    ssl: Any


class _OneStream(Factory):
    """Builds one stream's protocol: a client connection."""

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        self._stream = stream

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return self._stream.protocol


def _split(
    options: Mapping[str, Any], reactor: IReactorTime | None
) -> tuple[IReactorTime, dict[str, Any], Any]:
    rest = dict(options)
    tls = rest.pop("ssl", None)
    unknown = set(rest) - set(StreamOptions.__annotations__)
    if unknown:
        raise TypeError(f"unexpected options: {', '.join(sorted(unknown))}")
    return (reactor if reactor is not None else default_reactor()), rest, tls


def connect(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    endpoint: IStreamClientEndpoint | str,
    *,
    reactor: IReactorTime | None = None,
    **options: Unpack[ConnectOptions],
) -> Deferred[EventStream[ReceivedT, SentT]]:
    """Connect ``endpoint``; the Deferred fires with a stream driving a new core.

    Over TLS it fires once the handshake is done. Cancelling it stops the
    attempt (or closes the half-made connection). Bound the time with
    ``Deferred.addTimeout``.

    Args:
        connection_factory: Returns the core, e.g. ``NetstringConnection``.
        endpoint: An ``IStreamClientEndpoint``, or a client description
            string (``"tcp:host=example.com:port=80"``, ``"unix:path=/x.sock"``).
        reactor: The reactor for the endpoint and the core's timer; the global one by default.
        **options: :class:`ConnectOptions` and :class:`StreamOptions`.

    Returns:
        A Deferred firing with the connected
        :class:`~tidewire_twisted.EventStream`, or failing with why not
        (``ConnectionRefusedError``, a TLS verification error ...).

    Raises:
        ValueError: bad water marks (at once).
        TypeError: an unknown option (at once).
    """
    clock, marks, tls = _split(options, reactor)
    stream = EventStream(connection_factory(), reactor=clock, **marks)
    client: Any = clientFromString(clock, endpoint) if isinstance(endpoint, str) else endpoint  # type: ignore[no-untyped-call]
    if tls is not None:
        client = wrapClientTLS(tls, client)
    connecting: Deferred[Any] = client.connect(_OneStream(stream))
    return connecting.addCallback(lambda _: stream._when_ready())


class Server:
    """A listening server that runs a handler per connection; see :func:`serve`.

    Each accepted connection gets a fresh core, an
    :class:`~tidewire_twisted.EventStream` (over TLS, once the handshake is
    done) and a call of the handler; the stream is closed when the
    handler's Deferred (or coroutine) finishes. A handler's failure is
    logged on the ``tidewire_twisted`` logger and closes that connection only.
    """

    def __init__(
        self,
        connection_factory: Callable[[], Connection[Any, Any]],
        handler: Handler,
        reactor: IReactorTime,
        marks: Mapping[str, Any],
    ) -> None:
        self._factory = connection_factory
        self._handler = handler
        self._reactor = reactor
        self._marks = dict(marks)
        EventStream(connection_factory(), **self._marks)  # fail early on bad marks
        self._port: IListeningPort | None = None
        self._handlers: dict[EventStream[Any, Any], Deferred[Any]] = {}
        self._closed = False
        self._closed_waiters: list[Deferred[None]] = []
        self._idle_waiters: list[Deferred[None]] = []
        self._port_closed = Signal()  # the listening socket is closed, not only stopping

    # -- starting -----------------------------------------------------------

    def _build(self, addr: IAddress | None) -> Protocol:
        stream = EventStream(self._factory(), reactor=self._reactor, **self._marks)
        ready = stream._when_ready()
        ready.addCallbacks(self._start, lambda failure: None)  # a failed handshake: no handler
        return stream.protocol

    def _start(self, stream: EventStream[Any, Any]) -> None:
        try:
            result = self._handler(stream)
        except Exception:
            result = fail()
        if inspect.iscoroutine(result):
            running: Deferred[Any] = Deferred.fromCoroutine(result)
        elif isinstance(result, Deferred):
            running = result
        else:
            running = succeed(result)
        self._handlers[stream] = running
        running.addErrback(self._log_failure, stream)
        running.addBoth(lambda _: stream.aclose())
        running.addBoth(lambda _: self._finished(stream))

    def _log_failure(self, failure: Failure, stream: EventStream[Any, Any]) -> None:
        if isinstance(failure.value, StreamClosedError | ProtocolError | CancelledError):
            logger.debug("connection %r ended: %s", stream, failure.value)
        else:
            logger.error("the handler for %r failed", stream, exc_info=failure.value)

    def _finished(self, stream: EventStream[Any, Any]) -> None:
        del self._handlers[stream]
        self._wake_idle()

    # -- running ------------------------------------------------------------

    @property
    def listening_port(self) -> IListeningPort | None:
        """The ``IListeningPort`` (``None`` after :meth:`close`)."""
        return self._port

    @property
    def port(self) -> int:
        """The TCP port listened on, handy after asking for port 0.

        Raises:
            RuntimeError: the server is not listening, or on a Unix socket.
        """
        if self._port is None:
            raise RuntimeError("the server is not listening")
        listening: Any = self._port
        host = listening.getHost()
        port = getattr(host, "port", None)
        if port is None:
            raise RuntimeError(f"a Unix socket server has no port (it listens on {host!r})")
        return cast(int, port)

    @property
    def streams(self) -> frozenset[EventStream[Any, Any]]:
        """The streams of the connections currently being handled."""
        return frozenset(self._handlers)

    def serve_forever(self) -> Deferred[None]:
        """Return a Deferred firing when the server is closed; cancelling it closes the server."""
        if self._closed:
            return succeed(None)
        waiter: Deferred[None] = Deferred(self._close_by_cancel)
        self._closed_waiters.append(waiter)
        return waiter

    async def __aenter__(self) -> Self:
        """``async with server:`` (in ``async def`` run by ``Deferred.fromCoroutine``)."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Await :meth:`aclose` on the way out."""
        await self.aclose()

    def _close_by_cancel(self, waiter: Deferred[None]) -> None:
        self._closed_waiters.remove(waiter)  # it gets CancelledError, the others None
        self.aclose()

    # -- closing ------------------------------------------------------------

    def close(self) -> Deferred[None]:
        """Stop accepting connections (those being handled go on); fires once the port is closed."""
        self._closed = True
        port, self._port = self._port, None
        waiters, self._closed_waiters = self._closed_waiters, []
        for waiter in waiters:
            if not waiter.called:
                waiter.callback(None)
        if port is None:
            self._port_closed.set()
            return succeed(None)
        return cast(Deferred[None], Deferred.fromCoroutine(_stop(port, self._port_closed)))

    def wait_closed(self) -> Deferred[None]:
        """Return a Deferred firing once the server is closed and every handler finished."""
        if self._closed and not self._handlers:
            idle: Deferred[None] = succeed(None)
        else:
            idle = Deferred()
            self._idle_waiters.append(idle)
        return idle.addCallback(lambda _: self._port_closed.wait())

    def _wake_idle(self) -> None:
        if self._closed and not self._handlers:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def aclose(self) -> Deferred[None]:
        """Stop accepting, cancel every handler, close every stream; fires when all are done."""
        stopping = self.close()
        for running in list(self._handlers.values()):
            running.cancel()
        self._wake_idle()
        return stopping.addCallback(lambda _: self.wait_closed())


async def _stop(port: IListeningPort, closed: Signal) -> None:
    listening: Any = port
    try:
        await listening.stopListening()
    finally:
        closed.set()


def serve(
    connection_factory: Callable[[], Connection[ReceivedT, SentT]],
    handler: Callable[[EventStream[ReceivedT, SentT]], Any],
    endpoint: IStreamServerEndpoint | str,
    *,
    reactor: IReactorTime | None = None,
    **options: Unpack[ServeOptions],
) -> Deferred[Server]:
    """Listen on ``endpoint`` and run ``handler(stream)`` per connection, a fresh core each.

    Args:
        connection_factory: Returns a new core per connection.
        handler: Called with each connection's
            :class:`~tidewire_twisted.EventStream`; it may return a Deferred
            or be an ``async def`` (run with ``Deferred.fromCoroutine``).
            The stream is closed when it finishes.
        endpoint: An ``IStreamServerEndpoint``, or a server description
            string (``"tcp:0"`` for any free port, ``"unix:/path"``, ``"ssl:..."``).
        reactor: The reactor for the endpoint and the cores' timers; the global one by default.
        **options: :class:`ServeOptions` and :class:`StreamOptions`.

    Returns:
        A Deferred firing with the listening :class:`Server`.

    Raises:
        ValueError: bad water marks (at once).
        TypeError: an unknown option (at once).
    """
    clock, marks, tls = _split(options, reactor)
    server = Server(connection_factory, handler, clock, marks)
    listener: Any = serverFromString(clock, endpoint) if isinstance(endpoint, str) else endpoint  # type: ignore[no-untyped-call]
    factory: Any = Factory.forProtocol(Protocol)
    factory.buildProtocol = server._build
    if tls is not None:
        factory = tls_module("twisted.protocols.tls").TLSMemoryBIOFactory(tls, False, factory)

    def listening(port: IListeningPort) -> Server:
        server._port = port
        return server

    started: Deferred[Any] = listener.listen(factory)
    return started.addCallback(listening)
