"""The server side of the Twisted WebSocket layer: the handshake's answer, handlers, shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Unpack

from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.internet.interfaces import IReactorTime, IStreamServerEndpoint
from twisted.python.failure import Failure

import tidewire_websocket as tw
from tidewire import RemoteProtocolError
from tidewire_websocket import HTTPRequest, RejectConnection, Request, WebSocketClosedError

from ._waiting import Signal, call_handler
from ._ws_socket import WebSocket, core_factory, core_of
from .network import ServeOptions, Server
from .network import serve as _serve
from .stream import EventStream, default_reactor

logger = logging.getLogger("tidewire_twisted.websocket")

ProcessRequest = Callable[[Request], Any]
"""The request hook of :func:`serve`: may return a Deferred or be ``async def``."""
ProcessHTTP = Callable[[HTTPRequest], Any]
"""The plain-HTTP hook of :func:`serve`: may return a Deferred or be ``async def``."""


async def _serve_connection(
    stream: EventStream[Any, Any], handler: Callable[[WebSocket], Any], settings: ServerSettings
) -> None:
    """Answer the opening handshake on ``stream`` and run ``handler`` on the WebSocket."""
    try:
        request = await stream.receive()  # the core's open_timeout bounds the wait
    except RemoteProtocolError:
        # A bad opening request: the core has written its HTTP error answer
        # (400 ...); a graceful close sends it, as the asyncio adapter does.
        await stream.aclose()
        return
    if isinstance(request, HTTPRequest):
        answer = await call_handler(settings.process_http or _none, request)
        await stream.send(answer or tw.UPGRADE_REQUIRED)
    if not isinstance(request, Request):
        if core_of(stream).should_abort_transport:
            stream.abort()
        return
    answer = tw.accept_answer(
        request,
        await call_handler(settings.process_request or _none, request),
        settings.subprotocols,
        settings.extensions,
    )
    await stream.send(answer)
    if isinstance(answer, RejectConnection):
        return
    websocket = WebSocket(stream, request, answer, max_queue=settings.max_queue)
    settings.websockets.add(websocket)
    try:
        await call_handler(handler, websocket)
    except WebSocketClosedError:
        pass
    except Exception:
        logger.exception("the WebSocket handler failed")
        await websocket.close(1011, "internal error")
    finally:
        await websocket.close()
        settings.websockets.discard(websocket)


def _none(request: Any) -> None:
    return None


class ServerSettings:
    """What the connections of one server or resource share, and their shutdown.

    Args:
        options: The server's options; the ones read here are taken out.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.process_request: ProcessRequest | None = options.pop("process_request", None)
        self.process_http: ProcessHTTP | None = options.pop("process_http", None)
        self.subprotocols: Sequence[str] = options.pop("subprotocols", ())
        self.extensions = tw.extensions_for(options.pop("compression", "deflate"))
        self.max_queue: int = options.pop("max_queue", tw.DEFAULT_MAX_QUEUE)
        self.close_timeout: float | None = options.get("close_timeout", tw.DEFAULT_CLOSE_TIMEOUT)
        self.websockets: set[WebSocket] = set()
        self._running: dict[Deferred[None], Signal] = {}

    def start(
        self, stream: EventStream[Any, Any], handler: Callable[[WebSocket], Any]
    ) -> Deferred[None]:
        """Run the handshake, then ``handler``, on ``stream``; the Deferred fires at the end."""
        finished = Signal()
        running = Deferred.fromCoroutine(_serve_connection(stream, handler, self))
        self._running[running] = finished

        def over(result: Any) -> Any:
            del self._running[running]
            finished.set()
            return result

        return running.addBoth(over).addErrback(_handler_failed, stream)

    def shutdown(self, reason: str, clock: IReactorTime) -> Deferred[None]:
        """Close every connection with 1001; wait for the handlers (up to ``close_timeout``)."""
        return Deferred.fromCoroutine(self._shutdown(reason, clock))

    async def _shutdown(self, reason: str, clock: IReactorTime) -> None:
        closing = [websocket.close(tw.GOING_AWAY, reason) for websocket in list(self.websockets)]
        await DeferredList(closing, consumeErrors=True)
        if not self._running:
            return
        handlers = DeferredList(
            [done.wait() for done in self._running.values()], consumeErrors=True
        )
        if self.close_timeout is not None:
            handlers.addTimeout(self.close_timeout, clock)
        try:
            await handlers
        except DeferredTimeout:
            for running in list(self._running):
                running.cancel()


def _handler_failed(failure: Failure, stream: EventStream[Any, Any]) -> None:
    if not isinstance(failure.value, CancelledError):  # shutdown() cancels late ones
        logger.error("serving a WebSocket connection failed", exc_info=failure.value)
    stream.abort()


class ServerOptions(tw.AdapterOptions, ServeOptions, total=False):
    """The keyword arguments of :func:`serve`; the two hooks are described there."""

    process_request: ProcessRequest | None
    process_http: ProcessHTTP | None


class WebSocketServer:
    """A listening WebSocket server (see :func:`serve`); :meth:`aclose` closes with 1001.

    Args:
        server: The generic server running the connections.
        settings: What the connections share.
        clock: The reactor whose clock bounds the shutdown.
    """

    def __init__(self, server: Server, settings: ServerSettings, clock: IReactorTime) -> None:
        self.server = server
        """The generic :class:`~tidewire_twisted.Server` underneath."""
        self._settings = settings
        self._clock = clock

    @property
    def websockets(self) -> set[WebSocket]:
        """The connections currently open."""
        return self._settings.websockets

    @property
    def port(self) -> int:
        """The TCP port listened on, handy after asking for ``"tcp:0"``."""
        return self.server.port

    def close(self) -> Deferred[None]:
        """Stop accepting connections (open ones go on); fires once the port is closed."""
        return self.server.close()

    def wait_closed(self) -> Deferred[None]:
        """A Deferred firing once the server is closed and every handler finished."""
        return self.server.wait_closed()

    def serve_forever(self) -> Deferred[None]:
        """A Deferred firing when the server is closed; cancelling it closes the server."""
        return self.server.serve_forever()

    def aclose(self, reason: str = "server shutting down") -> Deferred[None]:
        """Stop accepting, close every connection with 1001, wait for the handlers.

        Handlers still running ``close_timeout`` seconds later are cancelled.
        """
        return Deferred.fromCoroutine(self._aclose(reason))

    async def _aclose(self, reason: str) -> None:
        await self.server.close()
        await self._settings.shutdown(reason, self._clock)
        await self.server.aclose()


def serve(
    handler: Callable[[WebSocket], Any],
    endpoint: IStreamServerEndpoint | str,
    *,
    reactor: IReactorTime | None = None,
    **options: Unpack[ServerOptions],
) -> Deferred[WebSocketServer]:
    """Serve WebSocket connections on ``endpoint``: ``handler(websocket)`` runs once per connection.

    The handler may return a Deferred or be ``async def``; the connection
    closes with 1000 when it ends, 1011 if it failed. ``process_request``
    may accept (an ``AcceptConnection``), reject (a ``RejectConnection``) or
    leave it to the default (``None``: the first of ``subprotocols`` the
    client offered); ``process_http`` answers a plain GET (else ``426``).
    Both may return Deferreds. Other options: :class:`ServerOptions` and
    the server guide. The Deferred fires with the listening
    :class:`WebSocketServer`.

    Raises:
        ValueError: a bad option (``compression`` settings included).
    """
    rest: dict[str, Any] = dict(options)
    settings = ServerSettings(rest)
    clock = reactor if reactor is not None else default_reactor()
    factory = core_factory(tw.ServerConnection, rest, clock)
    listening = _serve(
        factory, partial(settings.start, handler=handler), endpoint, reactor=clock, **rest
    )
    return listening.addCallback(WebSocketServer, settings, clock)
