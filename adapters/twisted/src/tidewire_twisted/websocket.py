"""WebSocket clients and servers on Twisted, over the ``tidewire-websocket`` core.

:func:`connect` opens a client connection, :func:`serve` runs a handler per
accepted one, :class:`~tidewire_twisted.resource.WebSocketResource` serves
one path of a ``twisted.web`` site; all give a :class:`WebSocket`, whose
waiting methods return Deferreds. Keepalive, timeouts, closing and the
default answers are the core's, on the reactor's clock. Install with
``pip install "tidewire-twisted[websocket]"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure

try:
    import tidewire_websocket as tw
    from tidewire_websocket import (
        AcceptConnection,
        HandshakeRejected,
        HTTPRequest,
        RejectConnection,
        Request,
        WebSocketClosedError,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_twisted.websocket needs the WebSocket core:"
        ' pip install "tidewire-twisted[websocket]" (or tidewire-websocket)'
    ) from exc
from tidewire import ConnectionLostError

from ._endpoints import endpoint_for, tls_module
from ._ws_server import ServerOptions, WebSocketServer, serve
from ._ws_socket import Data, Piece, WebSocket, core_factory
from .network import ConnectOptions
from .network import connect as _connect
from .stream import EventStream, default_reactor

__all__ = [
    "AcceptConnection",
    "ClientOptions",
    "Data",
    "HTTPRequest",
    "HandshakeRejected",
    "Piece",
    "RejectConnection",
    "Request",
    "ServerOptions",
    "WebSocket",
    "WebSocketClosedError",
    "WebSocketProtocol",
    "WebSocketServer",
    "connect",
    "serve",
]


class ClientOptions(tw.AdapterOptions, ConnectOptions, total=False):
    """The keyword arguments of :func:`connect`.

    ``extra_headers``: pairs to add to the request. ``ssl``: the TLS
    settings of a ``wss://`` connection (``optionsForClientTLS(host)`` by
    default). ``endpoint``: connect this ``IStreamClientEndpoint`` (or
    description string) instead of the URI's host and port, a Unix socket
    say; the URI still names the request.
    """

    extra_headers: Sequence[tuple[str | bytes, str | bytes]]
    endpoint: IStreamClientEndpoint | str | None


def connect(
    uri: str, *, reactor: IReactorTime | None = None, **options: Unpack[ClientOptions]
) -> Deferred[WebSocket]:
    """Open a WebSocket connection to ``uri``; the Deferred fires with the :class:`WebSocket`.

    ``open_timeout`` covers DNS, TCP, TLS and the handshake, on
    ``reactor``'s clock (the global reactor by default; it also makes the
    connection unless ``endpoint`` is given). Cancelling the Deferred stops
    the attempt. Options: see :class:`ClientOptions` and the client guide.

    Raises:
        ValueError: not a WebSocket URI (credentials in it included), or a
            bad option; raised at once.

    The Deferred fails with :class:`~tidewire_websocket.HandshakeRejected` (an HTTP error
    answer), ``RemoteProtocolError`` (an answer breaking RFC 6455),
    ``TimeoutError`` (``open_timeout``) or the endpoint's connection error.
    """
    rest: dict[str, Any] = dict(options)
    target, request = tw.client_request(
        uri,
        rest.pop("subprotocols", ()),
        rest.pop("extra_headers", ()),
        rest.pop("compression", "deflate"),
    )
    max_queue = rest.pop("max_queue", tw.DEFAULT_MAX_QUEUE)
    timeout = rest.get("open_timeout", tw.DEFAULT_OPEN_TIMEOUT)
    rest["open_timeout"] = None  # measured here, from before DNS
    clock = reactor if reactor is not None else default_reactor()
    factory = core_factory(tw.ClientConnection, rest, clock)
    endpoint = rest.pop("endpoint", None)
    if endpoint is None:
        endpoint = endpoint_for(clock, target.host, target.port)
    if not target.secure:
        rest.pop("ssl", None)  # ws:// is plain TCP whatever the options say
    elif rest.get("ssl") is None:
        rest["ssl"] = tls_module("twisted.internet.ssl").optionsForClientTLS(target.host)
    dial = _connect(factory, endpoint, reactor=clock, **rest)
    opening = Deferred.fromCoroutine(_open(dial, request, max_queue))
    if timeout is not None:
        opening.addTimeout(timeout, clock, onTimeoutCancel=_timed_out)
    return opening


def _timed_out(result: Any, timeout: float) -> Any:
    if isinstance(result, Failure) and isinstance(result.value, CancelledError):
        raise TimeoutError(f"the WebSocket opening took longer than {timeout} s")
    return result


async def _open(
    dial: Deferred[EventStream[Any, Any]], request: Request, max_queue: int
) -> WebSocket:
    stream = await dial
    try:
        await stream.send(request)
        answer = await stream.receive()
    except BaseException:
        stream.abort()
        raise
    if isinstance(answer, RejectConnection):
        await stream.aclose()
        raise HandshakeRejected(answer)
    if not isinstance(answer, AcceptConnection):
        stream.abort()
        raise ConnectionLostError("the server closed the connection during the handshake")
    return WebSocket(stream, request, answer, max_queue=max_queue)


class WebSocketProtocol:
    """The callback idiom: subclass it, override the callbacks, serve ``YourClass.handler()``.

    ``messageReceived`` is called with each message in order; if it
    returns a Deferred (or is ``async def``), the next message waits for it,
    so a slow consumer holds the peer back. :attr:`websocket` is the
    connection (``self.websocket.send(...)``). ``handler(*args)`` builds
    one instance per connection with ``args``; :meth:`run` drives one
    instance over a client's WebSocket.
    """

    websocket: WebSocket
    """The connection, set before :meth:`connectionMade`."""

    def connectionMade(self) -> None:
        """The connection is open."""

    def messageReceived(self, message: Data) -> object:
        """A message arrived: ``str`` for text, ``bytes`` for binary."""
        return None

    def connectionLost(self, code: int, reason: str) -> None:
        """The connection ended with ``code`` (1006: no closing handshake) and ``reason``."""

    @classmethod
    def handler(cls, *args: Any, **kwargs: Any) -> Callable[[WebSocket], Deferred[None]]:
        """A handler for :func:`serve` or a ``WebSocketResource``: one instance per connection."""
        return lambda websocket: cls(*args, **kwargs).run(websocket)

    def run(self, websocket: WebSocket) -> Deferred[None]:
        """Deliver ``websocket``'s messages to the callbacks; fires when it has ended."""
        self.websocket = websocket
        return Deferred.fromCoroutine(self._deliver())

    async def _deliver(self) -> None:
        websocket = self.websocket
        self.connectionMade()
        try:
            async for message in websocket:
                result = self.messageReceived(message)
                if isinstance(result, Deferred) or inspect.isawaitable(result):
                    await result
        finally:
            self.connectionLost(websocket.close_code or 1006, websocket.close_reason)


for _public in (WebSocket, WebSocketServer, ServerOptions, serve):
    _public.__module__ = __name__  # documented and pickled as tidewire_twisted.websocket's
