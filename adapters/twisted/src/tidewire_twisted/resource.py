"""A WebSocket endpoint as a ``twisted.web`` resource, beside ordinary pages on one port.

Put a :class:`WebSocketResource` anywhere in a ``Site``'s tree; an upgrade
request to its path becomes a :class:`~tidewire_twisted.websocket.WebSocket`
handed to the handler, exactly as :func:`~tidewire_twisted.websocket.serve`
would. Install with ``pip install "tidewire-twisted[websocket]"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Unpack, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

import tidewire_websocket as tw

from ._ws_server import ProcessRequest, ServerSettings
from ._ws_socket import WebSocket, core_factory
from .stream import EventStream

__all__ = ["ResourceOptions", "WebSocketResource"]

logger = logging.getLogger("tidewire_twisted.websocket")


class ResourceOptions(tw.AdapterOptions, total=False):
    """The keyword arguments of :class:`WebSocketResource`, as :func:`~.websocket.serve`'s.

    ``process_request`` is the request hook; ``read_high_water`` and
    ``write_high_water`` are the stream's marks. There is no
    ``process_http``: a plain ``GET`` of the resource gets ``426``.
    """

    process_request: ProcessRequest | None
    read_high_water: int
    read_low_water: int | None
    write_high_water: int | None
    write_low_water: int | None


class WebSocketResource(Resource):
    """Serves WebSocket connections at its place in a ``twisted.web`` resource tree.

    ``handler(websocket)`` runs once per connection (it may return a
    Deferred or be ``async def``); the connection closes with 1000 when it
    ends, 1011 if it failed. Keepalive, timeouts and the handshake are the
    WebSocket core's, on ``reactor``'s clock.

    Args:
        handler: Called with each :class:`~.websocket.WebSocket`.
        reactor: The reactor whose clock the connections use; the global one
            by default.
        **options: :class:`ResourceOptions`.

    Raises:
        ValueError: a bad option (``compression`` settings included).
    """

    isLeaf = True  # the path below is ours

    def __init__(
        self,
        handler: Callable[[WebSocket], Any],
        *,
        reactor: IReactorTime | None = None,
        **options: Unpack[ResourceOptions],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if reactor is None:
            from twisted.internet import reactor as default

            reactor = cast(IReactorTime, default)
        assert reactor is not None
        rest: dict[str, Any] = dict(options)
        self._settings = ServerSettings(rest)
        self._marks = {key: rest.pop(key) for key in _MARKS if key in rest}
        self._make_core = core_factory(tw.ServerConnection, rest, reactor)
        self._reactor = reactor
        self._handler = handler
        self._closing = False

    @property
    def websockets(self) -> set[WebSocket]:
        """The connections currently open."""
        return self._settings.websockets

    def render_GET(self, request: Request) -> bytes | int:
        """Take the request's connection over for a WebSocket, or answer ``426``/``503``."""
        channel = request.channel
        transport = getattr(channel, "transport", None)
        if not isinstance(channel, HTTPChannel) or transport is None or not _upgrade(request):
            request.setResponseCode(tw.UPGRADE_REQUIRED.status_code, b"Upgrade Required")
            for name, value in tw.UPGRADE_REQUIRED.headers:
                request.setHeader(name, value)  # type: ignore[no-untyped-call]
            return tw.UPGRADE_REQUIRED.body
        if self._closing:
            request.setResponseCode(503)
            return b"The WebSocket server is shutting down.\n"
        stream: EventStream[Any, Any] = EventStream(
            self._make_core(), reactor=self._reactor, **self._marks
        )
        _take_over(channel, transport, stream)
        stream.protocol.dataReceived(_head(request))  # the core checks it as if it came so
        self._settings.start(stream, self._handler)
        return NOT_DONE_YET

    def aclose(self, reason: str = "server shutting down") -> Deferred[None]:
        """Refuse new connections (``503``), close the open ones with 1001, wait for the handlers.

        Handlers still running ``close_timeout`` seconds later are cancelled.
        """
        self._closing = True
        return self._settings.shutdown(reason, self._reactor)


_MARKS = ("read_high_water", "read_low_water", "write_high_water", "write_low_water")


def _upgrade(request: Request) -> bool:
    upgrade = request.getHeader(b"upgrade") or b""
    return b"websocket" in upgrade.lower()


def _head(request: Request) -> bytes:
    """The request's head again, byte for byte as far as twisted.web kept it."""
    lines = [b" ".join((request.method, request.uri, request.clientproto))]
    for name, values in request.requestHeaders.getAllRawHeaders():
        lines.extend(name + b": " + value for value in values)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _take_over(channel: HTTPChannel, transport: Any, stream: EventStream[Any, Any]) -> None:
    """Move the HTTP channel's connection to ``stream``.

    The channel stays the transport's protocol (TLS and HTTP/2 negotiation
    wrap it), so its receiving methods are redirected: ``dataReceived`` for
    what comes next, ``rawDataReceived`` for the rest of the chunk that held
    the request (the channel parses it after this render returns), and
    ``connectionLost``. The channel's idle timeout stops and it stops being
    the transport's producer: the stream registers itself.
    """
    protocol = stream.protocol
    channel.setTimeout(None)  # type: ignore[no-untyped-call]
    channel.dataReceived = protocol.dataReceived  # type: ignore[method-assign]
    channel.rawDataReceived = protocol.dataReceived  # type: ignore[method-assign]
    channel.connectionLost = protocol.connectionLost  # type: ignore[method-assign]
    transport.unregisterProducer()
    protocol.makeConnection(transport)  # type: ignore[no-untyped-call]
