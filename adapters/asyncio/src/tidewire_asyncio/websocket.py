"""WebSocket clients and servers on asyncio, over the ``tidewire-websocket`` core.

:func:`connect` opens a client connection, :func:`serve` runs a handler per
accepted one; both give a :class:`WebSocket`. Keepalive, timeouts, closing
and the default answers are the core's: this module only runs them on
asyncio. Install with ``pip install "tidewire-asyncio[websocket]"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from ssl import create_default_context
from typing import Any, Unpack

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
        "tidewire_asyncio.websocket needs the WebSocket core:"
        ' pip install "tidewire-asyncio[websocket]" (or tidewire-websocket)'
    ) from exc

from tidewire import (
    NEED_DATA,
    ConnectionLostError,
    LocalProtocolError,
    RemoteProtocolError,
    StreamClosedError,
)

from ._closing import AsyncClosing, Connecting
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

logger = logging.getLogger("tidewire_asyncio.websocket")

Data = str | bytes
"""A message: ``str`` for text, ``bytes`` for binary."""

Piece = str | bytes | bytearray | memoryview
"""What :meth:`WebSocket.send` takes as a message or as a piece of one."""


class WebSocket(AsyncClosing):
    """One open WebSocket connection, client or server side; see the guides.

    Its core parses frames as they arrive (pings are answered, a close is
    seen while the application is busy) into a queue of at most
    ``max_queue`` messages; when it is full, parsing and then reading stop.
    Messages received before a protocol error are still delivered, and
    answers to them sent before the failure's close frame.

    Args:
        stream: The event stream, whose core completed the opening handshake.
        request: The handshake request.
        response: The server's accepting answer.
        max_queue: How many messages (or chunks) may wait unread.
    """

    def __init__(
        self,
        stream: EventStream[Any, Any],
        request: Request,
        response: AcceptConnection,
        *,
        max_queue: int = tw.DEFAULT_MAX_QUEUE,
    ) -> None:
        self._inbox = tw.Inbox(max_queue)
        self._stream, self._core = stream, _core_of(stream)
        self.request = request
        """The opening request, with its ``target``, ``headers`` and offers."""
        self.response = response
        """The accepting answer, with the chosen ``subprotocol`` and ``extensions``."""
        self._wakeup: asyncio.Future[None] | None = None  # receive() waits here
        self._pings: dict[bytes, asyncio.Future[float]] = {}
        self._message_lock = asyncio.Lock()  # a fragmented message goes out whole
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._parsing = False
        self._stalled = False  # _parse() stopped at a full inbox
        stream.set_listener(self._parse)
        self._parse()  # frames that came with the handshake

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self._core.subprotocol

    @property
    def connection(self) -> tw.WebSocketConnection:
        """The WebSocket core (its state, extensions, limits)."""
        return self._core

    @property
    def events(self) -> EventStream[Any, Any]:
        """The underlying event stream."""
        return self._stream

    @property
    def close_code(self) -> int | None:
        """How the connection ended (the core's close code), else ``None``."""
        if self._done.done():
            return self._core.close_code or 1006
        return self._core.close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code`."""
        return self._core.close_reason

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._done.done()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra information ``name`` (``"peername"`` ...), or ``default``."""
        return self._stream.get_extra_info(name, default)

    # -- parsing: frames are parsed as they arrive, in the stream's callback ----------

    def _parse(self) -> None:
        """Move what the core can parse into the inbox, until it is full or input runs out."""
        if self._parsing or self._done.done() or self._inbox.held:
            return
        self._parsing = True  # a callback of what this calls (close_nowait ...) must not re-enter
        stream, core, inbox = self._stream, self._core, self._inbox
        try:
            while not inbox.full:
                if core.should_close_transport:
                    break
                event = stream.receive_nowait()
                if event is NEED_DATA:
                    return
                if isinstance(event, tw.WebSocketClosed):
                    break
                self._answered(inbox.put(event))
                self._wake()
            else:
                self._stalled = True  # taking a message calls this again
                return
        except RemoteProtocolError as error:
            logger.debug("WebSocket failed (%s): %s", core.close_code, error)
            if inbox.hold():  # receive() or close() releases it
                self._wake()
            else:
                self._parsing = False
                self._release()
            return
        except StreamClosedError:
            pass
        finally:
            self._parsing = False
        self._finish()

    def _answered(self, pings: tuple[tuple[bytes, float], ...]) -> None:
        for payload, round_trip in pings:
            future = self._pings.pop(payload, None)
            if future is not None and not future.done():
                future.set_result(round_trip)

    def _release(self) -> None:
        """A held protocol error takes effect: its close frame goes out, the connection ends."""
        self._inbox.held = False
        self._core.release_failure()
        self._stream.write_pending()
        self._finish()

    def _finish(self) -> None:
        """The connection is over: close TCP (abort after a timeout), wake everyone."""
        if self._done.done():
            return
        self._done.set_result(None)
        if self._core.should_abort_transport:
            self._stream.write_pending()
            self._stream.abort()
        else:
            self._stream.close_nowait()
        error = self._closed_error()
        for future in self._pings.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # nobody may be waiting: do not warn
        self._pings.clear()
        self._wake()

    def _closed_error(self) -> WebSocketClosedError:
        return WebSocketClosedError(self.close_code or 1006, self.close_reason)

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- receiving ----------------------------------------------------------------

    async def _next_item(self) -> tw.DataEvent:
        while (item := self._inbox.pop()) is None:
            if self._inbox.held:
                self._release()
            if self._done.done() or self._core.close_code is not None:
                raise self._closed_error()
            if self._wakeup is not None:
                raise RuntimeError("another task is already receiving on this WebSocket")
            self._wakeup = self._loop.create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
        if self._stalled:
            self._stalled = False
            self._parse()  # there is room now
        return item

    async def receive(self) -> Data:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        A cancelled call loses nothing, also between the chunks of a message.

        Raises:
            WebSocketClosedError: the connection closed; every message
                received before the close was returned first.
            RuntimeError: another task is receiving, or :meth:`receive_stream`
                was left in the middle of a message.
        """
        self._inbox.check_whole()
        while (message := self._inbox.take(await self._next_item())) is None:
            pass
        return message

    async def receive_stream(self) -> AsyncIterator[Data]:
        """Yield the next message in pieces as they arrive (all ``str`` or all ``bytes``).

        Whole with ``streaming=False``. Leaving the loop early loses nothing:
        the next call goes on with the rest of the same message.

        Raises:
            WebSocketClosedError: as :meth:`receive`.
            RuntimeError: another task is receiving.
        """
        while True:
            event = self._inbox.resume() or await self._next_item()
            last = self._inbox.stream(event)
            yield event.data
            if last:
                return

    def __aiter__(self) -> WebSocket:
        """Iterate over messages until the connection closes."""
        return self

    async def __anext__(self) -> Data:
        """The next message; stops at a clean close (1000 or 1001), else raises."""
        try:
            return await self.receive()
        except WebSocketClosedError as exc:
            if exc.clean:
                raise StopAsyncIteration from None
            raise

    # -- sending --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._done.done() or not self._core.can_send or self._inbox.closing:
            raise self._closed_error()

    async def send(
        self, message: Piece | Sequence[Piece] | Iterator[Piece] | AsyncIterable[Piece]
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable or async iterable of pieces is sent as one fragmented
        message; if it cannot be finished after part of it went out, the
        connection fails with 1011. Waits while the transport is full.

        Raises:
            TypeError: not a message (a mapping included), or bad pieces.
            WebSocketClosedError: the connection is closing or closed.
        """
        event = tw.message_of(message)
        self._check_open()
        if event is None:
            await self._send_fragments(message)
        elif self._message_lock.locked():
            async with self._message_lock:
                await self._send_event(event)
        else:
            await self._send_event(event)

    async def _send_event(self, event: Any) -> None:
        self._check_open()
        try:
            await self._stream.send(event)
        except StreamClosedError:
            raise self._closed_error() from None
        except LocalProtocolError:
            if self._core.can_send:
                raise
            raise self._closed_error() from None  # the close began while this waited

    async def _send_fragments(self, pieces: Any) -> None:
        async with self._message_lock:
            first: Any = None
            try:
                if not isinstance(pieces, AsyncIterable):
                    pieces = _aiter(pieces)
                async for piece in pieces:
                    chunk = tw.chunk_of(piece, first)
                    await self._send_event(chunk)
                    first = first or chunk
                if first is None:
                    raise TypeError("a fragmented message needs at least one piece")
                await self._send_event(type(first)(type(first.data)(), True))
            except BaseException:
                if first is not None and not self._done.done():
                    self._core.fail(1011, "a fragmented message could not be finished")
                    self._finish()
                raise

    async def ping(self, data: bytes | None = None) -> float:
        """Send a ping and wait for its pong; return the round-trip time in seconds.

        Raises:
            WebSocketClosedError: the connection closed before the pong came.
            ValueError: a ping with the same payload is already waiting.
        """
        self._check_open()
        payload = os.urandom(4) if data is None else bytes(data)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pings[payload] = future
        try:
            await self._send_event(tw.Ping(payload))
        except BaseException:
            del self._pings[payload]
            raise
        return await future

    # -- closing --------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (bounded by ``close_timeout``) and wait for the end.

        Unread messages are dropped. Calling it again just waits.

        Raises:
            LocalProtocolError: an invalid code or reason; nothing was sent.
        """
        if self._inbox.held:
            self._release()
        elif not self._done.done() and self._core.state is tw.State.OPEN:
            with contextlib.suppress(StreamClosedError):  # _parse() is about to see it
                self._stream.send_nowait(tw.CloseConnection(code, reason))
        self._inbox.close()
        self._wake()
        self._parse()  # what waited for room in the inbox
        await self.wait_closed()

    aclose = close

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        await asyncio.shield(self._done)

    def abort(self) -> None:
        """Drop the connection at once, with no closing handshake (code 1006)."""
        self._stream.abort()
        self._finish()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self.close(tw.exit_code(exc))

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._core.state.name
        return f"<WebSocket {self.request.target!r} {state}>"


def _core_of(stream: EventStream[Any, Any]) -> tw.WebSocketConnection:
    core = stream.connection
    assert isinstance(core, tw.WebSocketConnection)
    return core


async def _aiter(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


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
    """A core factory taking the core's options out of ``options``; the loop's clock."""
    core = tw.connection_options(options)

    def make() -> tw.WebSocketConnection:
        return role(clock=asyncio.get_running_loop().time, hold_failures=True, **core)

    return make


def connect(uri: str, **options: Unpack[ClientOptions]) -> Connecting[WebSocket]:
    """Open a WebSocket connection to ``uri``; ``await`` it or use ``async with``.

    Options: see :class:`ClientOptions`; ``open_timeout`` covers DNS, TCP,
    TLS and the handshake. See the client guide.

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
    dial = _connect(factory, target.host, target.port, **rest)
    return Connecting(_open(dial, request, max_queue, timeout))


async def _open(
    dial: Awaitable[EventStream[Any, Any]], request: Request, max_queue: int, timeout: float | None
) -> WebSocket:
    async with asyncio.timeout(timeout):  # DNS, TCP and TLS are the framework's to time
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
        closing = [websocket.close(tw.GOING_AWAY, reason) for websocket in list(self.websockets)]
        await asyncio.gather(*closing, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._grace):
                await self.wait_closed()
        await super().aclose()


async def _answer(hook: Callable[[Any], Any] | None, request: Any) -> Any:
    answer = None if hook is None else hook(request)
    return await answer if inspect.isawaitable(answer) else answer


def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    **options: Unpack[ServerOptions],
) -> WebSocketServer:
    """Serve WebSocket connections: ``handler(websocket)`` runs once per connection.

    ``async with serve(...)`` shuts down gracefully (1001). The connection
    is closed with 1000 when the handler returns, 1011 if it raised.
    ``process_request`` may accept (an ``AcceptConnection``), reject (a
    ``RejectConnection``) or leave it to the default (``None``: the first of
    ``subprotocols`` the client offered); ``process_http`` answers a plain
    GET (else ``426``). Both may be coroutines. Other options: see
    :class:`ServerOptions`, and the server guide.

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
            await websocket.close()
            server.websockets.discard(websocket)

    factory = _factory(tw.ServerConnection, rest)
    server: WebSocketServer = WebSocketServer(
        factory, run, host, port, close_timeout=close_timeout, **rest
    )
    return server
