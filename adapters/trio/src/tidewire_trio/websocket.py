"""WebSocket clients and servers on trio, over the ``tidewire-websocket`` core.

``async with connect(uri) as websocket:`` opens a client connection,
:func:`serve` runs a handler per accepted one; both give a :class:`WebSocket`
whose reader task (it answers pings and runs keepalive while the application
is busy) lives in a nursery the connection owns. Keepalive, timeouts,
closing and the default answers are the core's, run on trio's clock.
Install with ``pip install "tidewire-trio[websocket]"``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Sequence,
)
from ssl import create_default_context
from typing import Any, Unpack, overload

import trio

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
        "tidewire_trio.websocket needs the WebSocket core:"
        ' pip install "tidewire-trio[websocket]" (or tidewire-websocket)'
    ) from exc

from tidewire import ConnectionLostError

from ._owned import Owning, open_owned_nursery
from ._websocket import Data, Piece, WebSocket, _core_of
from .network import ConnectOptions, ServeOptions, Server
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

logger = logging.getLogger("tidewire_trio.websocket")

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
    """A core factory taking the core's options out of ``options``; trio's clock."""
    core = tw.connection_options(options)

    def make() -> tw.WebSocketConnection:
        return role(clock=trio.current_time, hold_failures=True, **core)

    return make


def connect(uri: str, **options: Unpack[ClientOptions]) -> Owning[WebSocket]:
    """Open a WebSocket connection to ``uri``; use it with ``async with``.

    The connection's reader task lives in a nursery the ``async with``
    opens; leaving the block closes the connection (1000, or 1011 after an
    exception). Options: see :class:`ClientOptions`; ``open_timeout``
    covers DNS, TCP, TLS and the handshake. See the client guide.

    Raises:
        ValueError: not a WebSocket URI (credentials in it included), or a
            bad option; raised at once.
        HandshakeRejected: the server answered with an HTTP error.
        RemoteProtocolError: the server's answer broke RFC 6455.
        TimeoutError: ``open_timeout`` expired.
        OSError: the connection could not be made.
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
        rest.setdefault("server_hostname", target.host)

    async def dial() -> EventStream[Any, Any]:
        return await _connect(factory, target.host, target.port, **rest)

    return Owning(_connected(dial, request, max_queue, timeout), "websocket.connect")


@contextlib.asynccontextmanager
async def _connected(
    dial: Callable[[], Awaitable[EventStream[Any, Any]]],
    request: Request,
    max_queue: int,
    timeout: float | None,
) -> AsyncIterator[WebSocket]:
    websocket = await _open(dial, request, max_queue, timeout)
    async with open_owned_nursery() as nursery:
        nursery.start_soon(websocket._run)
        try:
            yield websocket
        except BaseException as exc:
            await websocket.close(tw.exit_code(exc))
            raise
        await websocket.close()


async def _open(
    dial: Callable[[], Awaitable[EventStream[Any, Any]]],
    request: Request,
    max_queue: int,
    timeout: float | None,
) -> WebSocket:
    with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
        stream = await dial()
        try:
            await stream.send(request)
            answer = await stream.receive()
        except BaseException:
            stream.abort()
            raise
    if deadline.cancelled_caught:
        raise TimeoutError("the WebSocket connection did not open within open_timeout")
    if isinstance(answer, RejectConnection):
        await stream.aclose()
        raise HandshakeRejected(answer)
    if not isinstance(answer, AcceptConnection):
        stream.abort()
        raise ConnectionLostError("the server closed the connection during the handshake")
    return WebSocket(stream, request, answer, max_queue=max_queue)


class WebSocketServer(Server):
    """A WebSocket server; see :func:`serve`. :meth:`aclose` closes each connection with 1001."""

    def __init__(self, *args: Any, close_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.websockets: set[WebSocket] = set()
        """The connections currently open."""
        self._grace = close_timeout

    async def _say_goodbye(self, reason: str) -> None:
        self.close()
        async with trio.open_nursery() as nursery:
            for websocket in list(self.websockets):
                nursery.start_soon(_close_quietly, websocket, reason)
        with trio.move_on_after(math.inf if self._grace is None else self._grace):
            await self.wait_closed()

    async def aclose(self, reason: str = "server shutting down") -> None:
        """Stop accepting, close every connection with 1001, wait for the handlers.

        Handlers still running ``close_timeout`` seconds later are cancelled.
        """
        await self._say_goodbye(reason)
        await super().aclose()

    async def __aexit__(self, *exc_info: Any) -> None:
        """Close as :meth:`aclose` does; the body's exception passes through unwrapped."""
        await self._say_goodbye("server shutting down")
        await super().__aexit__(*exc_info)


async def _close_quietly(websocket: WebSocket, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(tw.GOING_AWAY, reason)


async def _answer(hook: Callable[[Any], Any] | None, request: Any) -> Any:
    answer = None if hook is None else hook(request)
    return await answer if inspect.isawaitable(answer) else answer


@overload
def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    *,
    task_status: trio.TaskStatus[Server],
    **options: Unpack[ServerOptions],
) -> Coroutine[Any, Any, None]: ...
@overload
def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = ...,
    port: int | None = ...,
    **options: Unpack[ServerOptions],
) -> WebSocketServer: ...
def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    task_status: trio.TaskStatus[Server] | None = None,
    **options: Unpack[ServerOptions],
) -> WebSocketServer | Coroutine[Any, Any, None]:
    """Serve WebSocket connections: ``handler(websocket)`` runs once per connection.

    ``async with serve(...) as server:`` shuts down gracefully (1001), or
    ``server = await nursery.start(serve, handler, host, port)`` serves in
    a task of your nursery (cancelling it drops the connections; call
    :meth:`WebSocketServer.aclose` first for a graceful end). The
    connection is closed with 1000 when the handler returns, 1011 if it
    raised (logged). ``process_request`` may accept (an
    ``AcceptConnection``), reject (a ``RejectConnection``) or leave it to
    the default (``None``: the first of ``subprotocols`` the client
    offered); ``process_http`` answers a plain GET (else ``426``). Both may
    be coroutines. Other options: see :class:`ServerOptions`, and the
    server guide.

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
            async with open_owned_nursery() as nursery:
                nursery.start_soon(websocket._run)
                await _handle(handler, websocket)
        finally:
            server.websockets.discard(websocket)

    factory = _factory(tw.ServerConnection, rest)
    server = WebSocketServer(factory, run, host, port, close_timeout=close_timeout, **rest)
    if task_status is None:
        return server
    return server.serve_forever(task_status=task_status)


async def _handle(handler: Callable[[WebSocket], Awaitable[None]], websocket: WebSocket) -> None:
    """Run the handler; close with 1000 after it, 1011 if it failed (logged)."""
    try:
        await handler(websocket)
    except WebSocketClosedError:
        pass
    except Exception:
        logger.exception("the WebSocket handler failed")
        await websocket.close(1011, "internal error")
    await websocket.close()
