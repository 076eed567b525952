"""WebSocket clients and servers on anyio, over the ``tidewire-websocket`` core.

:func:`connect` opens a client connection, :func:`serve` runs a handler per
accepted one; both give a :class:`WebSocket`, which is also an
:class:`anyio.abc.ObjectStream` of messages. Keepalive, timeouts, closing
and the default answers are the core's: this module only runs them on anyio,
on asyncio and trio alike. Install with ``pip install "tidewire-anyio[websocket]"``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Sequence,
)
from ssl import create_default_context
from typing import Any, Unpack

import anyio
import anyio.abc

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
        "tidewire_anyio.websocket needs the WebSocket core:"
        ' pip install "tidewire-anyio[websocket]" (or tidewire-websocket)'
    ) from exc


from . import errors
from ._closing import Connecting
from ._websocket import Data, Piece, WebSocket, _core_of
from .network import ConnectOptions, ServeOptions, Server, serve_started
from .network import connect as _connect
from .stream import EventStream

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
    "WebSocketServer",
    "connect",
    "serve",
]

logger = logging.getLogger("tidewire_anyio.websocket")

WebSocket.__module__ = __name__  # documented here, where it is imported from

ProcessRequest = Callable[[Request], Any]
"""The request hook of :func:`serve`: sync or async; see the server guide."""
ProcessHTTP = Callable[[HTTPRequest], Any]
"""The plain-HTTP hook of :func:`serve`: sync or async; see the server guide."""


class ClientOptions(tw.AdapterOptions, ConnectOptions, total=False):
    """The keyword arguments of :func:`connect`; ``extra_headers``: pairs to add to the request."""

    extra_headers: Sequence[tuple[str | bytes, str | bytes]]


class ServerOptions(tw.AdapterOptions, ServeOptions, total=False):
    """The keyword arguments of :func:`serve`; the two hooks are described there."""

    process_request: ProcessRequest | None
    process_http: ProcessHTTP | None


def _factory(role: type[tw.WebSocketConnection], options: dict[str, Any]) -> Callable[[], Any]:
    """A core factory taking the core's options out of ``options``; anyio's clock."""
    core = tw.connection_options(options)

    def make() -> tw.WebSocketConnection:
        return role(clock=anyio.current_time, hold_failures=True, **core)

    return make


class _Opening(Connecting[WebSocket]):
    """``async with connect(...)`` only: the WebSocket's reading needs the tasks it owns."""

    def __await__(self) -> Generator[Any, None, WebSocket]:
        raise TypeError(
            "use async with websocket.connect(...) as ws: on anyio the connection's reader"
            " task lives in a task group the async with owns"
        )


def connect(uri: str, **options: Unpack[ClientOptions]) -> Connecting[WebSocket]:
    """Open a WebSocket connection to ``uri``, to use with ``async with``.

    Options: see :class:`ClientOptions`; ``open_timeout`` covers DNS, TCP,
    TLS and the handshake. Unlike asyncio's, it cannot be awaited: the
    connection's tasks live in the ``async with``. See the client guide.

    Raises:
        ValueError: not a WebSocket URI (credentials in it included), or a
            bad option; raised at once.
        HandshakeRejected: the server answered with an HTTP error.
        RemoteProtocolError: the server's answer broke RFC 6455.
        TimeoutError: ``open_timeout`` expired.
        OSError: the connection could not be made.
        TypeError: awaited instead of entered.
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
    factory = _factory(tw.ClientConnection, rest)
    ssl = rest.pop("ssl", None)
    if target.secure:
        rest["ssl"] = ssl or create_default_context()
    dial = _connect(factory, target.host, target.port, **rest)
    return _Opening(_open(dial, request, max_queue, timeout))


async def _open(
    dial: Awaitable[EventStream[Any, Any]], request: Request, max_queue: int, timeout: float | None
) -> WebSocket:
    with anyio.fail_after(timeout):  # DNS, TCP and TLS are the framework's to time
        stream = await dial
        try:
            await stream.send(request)
            answer = await stream.receive()
        except BaseException:
            stream.abort()
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
    if isinstance(answer, RejectConnection):
        await stream.aclose()
        raise HandshakeRejected(answer)
    if not isinstance(answer, AcceptConnection):
        stream.abort()
        await stream.aclose()
        raise errors.lost("the server closed the connection during the handshake")
    return WebSocket(stream, request, answer, max_queue=max_queue)


class WebSocketServer(Server):
    """A WebSocket server; see :func:`serve`. :meth:`aclose` closes each connection with 1001."""

    def __init__(self, *args: Any, close_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.websockets: set[WebSocket] = set()
        """The connections currently open."""
        self._grace = close_timeout

    async def aclose(self, reason: str = "server shutting down") -> None:
        """Stop accepting, close every connection with 1001, await the handlers.

        Handlers still running ``close_timeout`` seconds later are cancelled.
        """
        self.close()
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as closing:
                for websocket in list(self.websockets):
                    closing.start_soon(_close_quietly, websocket, reason)
            with anyio.move_on_after(self._grace):
                await self.wait_closed()
        await super().aclose()


async def _close_quietly(websocket: WebSocket, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(tw.GOING_AWAY, reason)


async def _answer(hook: Callable[[Any], Any] | None, request: Any) -> Any:
    answer = None if hook is None else hook(request)
    return await answer if inspect.isawaitable(answer) else answer


def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: anyio.abc.TaskStatus[WebSocketServer] | None = None,
    **options: Unpack[ServerOptions],
) -> Any:
    """Serve WebSocket connections: ``handler(websocket)`` runs once per connection.

    ``async with serve(...) as server:`` or ``await task_group.start(serve,
    handler, host, port)``; leaving shuts down gracefully (1001). The
    connection is closed with 1000 when the handler returns, 1011 if it
    raised. ``process_request`` may accept (an ``AcceptConnection``), reject
    (a ``RejectConnection``) or leave it to the default (``None``: the first
    of ``subprotocols`` the client offered); ``process_http`` answers a plain
    GET (else ``426``). Both may be coroutines. Other options: see
    :class:`ServerOptions`, and the server guide.

    Returns:
        The :class:`WebSocketServer`; given ``task_status``, the coroutine
        ``TaskGroup.start()`` runs.

    Raises:
        ValueError: a bad option (``compression`` settings included).
    """
    rest: dict[str, Any] = dict(options)
    process_request = rest.pop("process_request", None)
    process_http = rest.pop("process_http", None)
    subprotocols = rest.pop("subprotocols", ())
    extensions = tw.extensions_for(rest.pop("compression", "deflate"))
    max_queue = rest.pop("max_queue", tw.DEFAULT_MAX_QUEUE)
    close_timeout = rest.get("close_timeout", tw.DEFAULT_CLOSE_TIMEOUT)

    async def run(stream: EventStream[Any, Any]) -> None:
        request = await stream.receive()  # the core's open_timeout bounds the wait
        if isinstance(request, HTTPRequest):
            await stream.send(await _answer(process_http, request) or tw.UPGRADE_REQUIRED)
        if not isinstance(request, Request):
            if _core_of(stream).should_abort_transport:
                stream.abort()
            return
        answer = tw.accept_answer(
            request, await _answer(process_request, request), subprotocols, extensions
        )
        await stream.send(answer)
        if isinstance(answer, RejectConnection):
            return
        websocket = WebSocket(stream, request, answer, max_queue=max_queue)
        server.websockets.add(websocket)
        try:
            await handler(websocket)
        except WebSocketClosedError:
            pass
        except Exception:
            logger.exception("the WebSocket handler failed")
            await websocket.close(1011, "internal error")
        finally:
            with anyio.CancelScope(shield=True):
                await websocket.close()
            server.websockets.discard(websocket)

    factory = _factory(tw.ServerConnection, rest)
    server = WebSocketServer(factory, run, host, port, close_timeout=close_timeout, **rest)
    if task_status is None:
        return server
    started: Coroutine[Any, Any, None] = serve_started(server, task_status)
    return started
