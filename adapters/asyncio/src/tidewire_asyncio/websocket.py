"""WebSocket clients and servers on asyncio, built on the ``tidewire-websocket`` core.

:func:`connect` opens a client connection from a ``ws://`` or ``wss://`` URI;
:func:`serve` runs a handler per accepted connection, with an optional hook
to inspect each request and accept or reject it. Both give a
:class:`WebSocket`: ``send(str | bytes)``, ``receive()``, ``async for``
messages, streaming a message in chunks, ``ping()``, ``close()``.

Frames are parsed as they arrive (so pings are answered and a close is
noticed while the application is busy), into a queue of at most
``max_queue`` messages; when it is full, parsing and then reading stop, and
TCP flow control holds the peer back. Install with
``pip install "tidewire-asyncio[websocket]"``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import os
import ssl
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from functools import partial
from ssl import create_default_context
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

try:
    from tidewire_websocket import (
        AcceptConnection,
        BytesChunk,
        BytesMessage,
        ClientConnection,
        CloseConnection,
        HTTPRequest,
        PerMessageDeflate,
        Ping,
        Pong,
        RejectConnection,
        Request,
        ServerConnection,
        State,
        TextChunk,
        TextMessage,
        WebSocketClosed,
        WebSocketConnection,
    )
    from tidewire_websocket.deflate import check_config
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_asyncio.websocket needs the WebSocket core:"
        ' pip install "tidewire-asyncio[websocket]" (or tidewire-websocket)'
    ) from exc

from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError

from .errors import ConnectionLostError, StreamClosedError
from .network import Server
from .network import connect as _connect
from .stream import EventStream

__all__ = [
    "AcceptConnection",
    "Data",
    "HTTPRequest",
    "HandshakeRejected",
    "Piece",
    "RejectConnection",
    "Request",
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
"""What :meth:`WebSocket.send` takes as a message or as a piece of one: text or bytes-like."""

_DATA_EVENTS = (TextMessage, BytesMessage, TextChunk, BytesChunk)
_ABNORMAL = 1006


class WebSocketClosedError(Exception):
    """The WebSocket connection is closed, so it cannot be used any more.

    Raised by :meth:`WebSocket.receive` once every message received before
    the close was returned, by the sending methods after the close began,
    and by pending :meth:`WebSocket.ping` calls. ``async for`` stops quietly
    instead when the close was clean.

    Args:
        code: The close code received from the peer (``1006`` if the
            connection ended without one).
        reason: The close reason received from the peer.

    Attributes:
        code: As given.
        reason: As given.
    """

    def __init__(self, code: int, reason: str) -> None:
        text = f"the WebSocket connection is closed (code {code}"
        super().__init__(f"{text}, reason {reason!r})" if reason else f"{text})")
        self.code = code
        self.reason = reason

    @property
    def clean(self) -> bool:
        """Whether the closure was normal, with code 1000 (normal) or 1001 (going away)."""
        return self.code in (1000, 1001)


class HandshakeRejected(Exception):
    """The server answered the opening handshake with an HTTP error, not ``101``.

    Args:
        response: The server's answer, with its status, headers and body.

    Attributes:
        response: As given.
    """

    def __init__(self, response: RejectConnection) -> None:
        super().__init__(
            f"the server rejected the WebSocket handshake: HTTP {response.status_code}"
        )
        self.response = response


class WebSocket:
    """One open WebSocket connection, client or server side.

    Made by :func:`connect`, or handed to a :func:`serve` handler; the
    opening handshake is over. Messages are ``str`` (text) or ``bytes``
    (binary), in both directions.

    Closing: :meth:`close` runs the closing handshake and waits for it
    (``close_timeout``), then closes TCP. A peer's close is answered
    automatically; :meth:`receive` then raises
    :class:`WebSocketClosedError` once the messages before it are
    delivered, and ``async for`` ends (quietly for codes 1000 and 1001).
    :attr:`close_code` and :attr:`close_reason` tell how it ended.

    Keepalive: every ``ping_interval`` seconds a ping is sent, and if its
    pong does not come within ``ping_timeout`` the connection is failed with
    code 1011. Frames are parsed as they arrive, so the peer's pings are
    answered and its close is seen while the application is busy, until
    ``max_queue`` messages wait unread: then parsing stops (and with it
    reading, pongs and keepalive), which is the backpressure. An
    application that may leave messages unread for longer than
    ``ping_timeout`` should raise ``max_queue`` or turn keepalive off.

    Args:
        stream: The event stream, whose core completed the opening handshake.
        request: The handshake request (the client's, as sent or received).
        response: The server's accepting answer.
        max_queue: How many received messages (or chunks, when streaming)
            may wait unread before parsing stops.
        ping_interval: Seconds between keepalive pings, or ``None``.
        ping_timeout: Seconds to wait for a keepalive pong, or ``None``.
        close_timeout: Seconds to wait for the closing handshake, and on a
            client for the server to close TCP afterwards.
    """

    def __init__(
        self,
        stream: EventStream[Any, Any],
        request: Request,
        response: AcceptConnection,
        *,
        max_queue: int = 16,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        core = stream.connection
        assert isinstance(core, WebSocketConnection)
        self._stream = stream
        self._core: WebSocketConnection = core
        self._request = request
        self._response = response
        self._max_queue = max_queue
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._receiving = False
        # Chunks of a message taken from the queue by a receive() that was
        # cancelled before the message was complete: the next call starts
        # with them, so a cancellation loses nothing.
        self._taken: collections.deque[Any] = collections.deque()
        # receive_stream() handed out part of a message and was left before
        # its end: the next receive_stream() goes on with the rest.
        self._streamed = False
        self._stalled = False  # the pump stopped because the queue is full
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._message_lock = asyncio.Lock()  # a fragmented message goes out whole
        self._close_code: int | None = None
        self._close_reason = ""
        self._closing = False  # close() began: unread messages may be dropped
        self._done = False
        self._done_future: asyncio.Future[None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        stream._listener = self._pump
        self._pump()  # frames that came with the handshake answer
        self._schedule_keepalive()

    # -- state ----------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The opening request, with its ``target`` (path and query), ``headers`` and offers."""
        return self._request

    @property
    def response(self) -> AcceptConnection:
        """The accepting answer, with the chosen ``subprotocol``, ``extensions`` and ``headers``."""
        return self._response

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self._core.subprotocol

    @property
    def connection(self) -> WebSocketConnection:
        """The WebSocket core (its :class:`~tidewire_websocket.State`, extensions, limits)."""
        return self._core

    @property
    def events(self) -> EventStream[Any, Any]:
        """The underlying event stream."""
        return self._stream

    @property
    def close_code(self) -> int | None:
        """The peer's close code once the connection ended (``1006`` if none), else ``None``."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The peer's close reason (``""`` while open or if none was given)."""
        return self._close_reason

    @property
    def closed(self) -> bool:
        """True once the connection has ended (see :attr:`close_code`)."""
        return self._done

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the transport's extra information ``name`` (``"peername"`` ...).

        Returns ``default`` when the transport does not know ``name``.
        """
        return self._stream.get_extra_info(name, default)

    # -- the pump: parse frames as they arrive --------------------------------

    def _pump(self) -> None:
        if self._done:
            return
        stream = self._stream
        queue = self._queue
        while True:
            if len(queue) >= self._max_queue and not self._closing:
                self._stalled = True
                return
            if stream._write_paused:
                # Our automatic replies cannot leave: parse nothing more until
                # the transport drains (resume_writing calls us again).
                return
            try:
                event: Any = stream._pull()
            except RemoteProtocolError as exc:
                code = exc.code if isinstance(exc.code, int) else 1002
                logger.debug("WebSocket failed (%s): %s", code, exc)
                self._finish(_ABNORMAL if code < 1000 else code, str(exc.message))
                return
            except (ConnectionLostError, StreamClosedError):
                self._finish(_ABNORMAL, "")
                return
            if event is NEED_DATA:
                self._stalled = False
                break
            kind = type(event)
            if kind in _DATA_EVENTS:
                if not self._closing:
                    queue.append(event)
                    self._wake()
            elif kind is Pong:
                self._pong(event.payload)
            elif kind is CloseConnection:
                self._close_code, self._close_reason = event.code, event.reason
                self._wake()
            elif kind is WebSocketClosed:
                self._finish(event.code, event.reason)
                return
            # A Ping was answered by the core; nothing else to do.
        self._maybe_close_transport()

    def _maybe_close_transport(self) -> None:
        core = self._core
        if core.state is not State.CLOSED:
            return
        if core.should_close_transport:
            code = self._close_code if self._close_code is not None else _ABNORMAL
            self._finish(code, self._close_reason)
        elif self._timer is None:
            # A client whose closing handshake is done waits for the server
            # to close TCP, but not forever.
            self._timer = self._loop.call_later(self._close_timeout, self._abort_stalled)

    def _abort_stalled(self) -> None:
        self._timer = None
        self._stream.abort()
        self._finish(self._close_code or _ABNORMAL, self._close_reason)

    def _finish(self, code: int, reason: str) -> None:
        """The connection is over: record how, close TCP, wake everyone."""
        if self._done:
            return
        self._done = True
        if self._close_code is None:
            self._close_code, self._close_reason = code, reason
        for handle in (self._timer, self._keepalive_handle):
            if handle is not None:
                handle.cancel()
        self._timer = self._keepalive_handle = None
        self._stream._begin_close()
        self._wake()
        error = self._closed_error()
        for future in self._pings.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # nobody may be waiting: do not warn
        self._pings.clear()
        if not self._done_future.done():
            self._done_future.set_result(None)

    def _closed_error(self) -> WebSocketClosedError:
        code = self._close_code if self._close_code is not None else _ABNORMAL
        return WebSocketClosedError(code, self._close_reason)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- receiving ------------------------------------------------------------

    async def _next_item(self) -> Any:
        queue = self._queue
        while not queue:
            if self._done or self._close_code is not None:
                raise self._closed_error()
            if self._receiving:
                raise RuntimeError("another task is already receiving on this WebSocket")
            self._receiving = True
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._receiving = False
        item = queue.popleft()
        if self._stalled:
            self._pump()
        return item

    async def receive(self) -> Data:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Cancelling a waiting call loses nothing, also in streaming mode
        between the pieces of a message: what it had taken is kept, and the
        next call (or :meth:`receive_stream`) starts with it.

        Raises:
            WebSocketClosedError: the connection closed; every message
                received before the close was returned first.
            RuntimeError: another task is already receiving, or
                :meth:`receive_stream` was left in the middle of a message
                (read the rest of it with :meth:`receive_stream`).
        """
        if self._streamed:
            raise RuntimeError(
                "receive_stream() was left in the middle of a message:"
                " read the rest of it with receive_stream() first"
            )
        taken = self._taken
        if not taken:
            # The usual case: a whole message, or a message's first chunk.
            event = await self._next_item()
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                data: Data = event.data
                return data
            taken.append(event)
        # Streaming mode: join the chunks of one message. Each chunk is kept
        # in self._taken as soon as it is taken, so that a cancellation at
        # any await below leaves it for the next call.
        while not taken[-1].last:
            taken.append(await self._next_item())
        pieces = [chunk.data for chunk in taken]
        text = type(taken[0]) is TextChunk
        taken.clear()
        return "".join(pieces) if text else b"".join(pieces)

    async def receive_stream(self) -> AsyncIterator[Data]:
        """Yield the next message in pieces as they arrive (all ``str`` or all ``bytes``).

        With ``streaming=True`` (given to :func:`connect` or :func:`serve`)
        a message of any size passes through in bounded memory; otherwise
        the whole message is yielded as one piece.

        Nothing is lost when the loop is left early (cancelled, or a
        ``break``): a piece is consumed once it is yielded, and the next
        :meth:`receive_stream` goes on with the rest of the same message.
        Until it does, :meth:`receive` raises :class:`RuntimeError` rather
        than return the rest as if it were a message.

        Raises:
            WebSocketClosedError: as :meth:`receive`.
            RuntimeError: another task is already receiving.
        """
        while True:
            taken = self._taken
            # The chunks a cancelled receive() had taken come first.
            event = taken.popleft() if taken else await self._next_item()
            last = type(event) in (TextMessage, BytesMessage) or event.last
            self._streamed = not last
            yield event.data
            if last:
                return

    def __aiter__(self) -> WebSocket:
        """Iterate over messages until the connection closes."""
        return self

    async def __anext__(self) -> Data:
        """Return the next message; stop at a clean close (1000 or 1001).

        Raises:
            WebSocketClosedError: the connection closed with another code.
        """
        try:
            return await self.receive()
        except WebSocketClosedError as exc:
            if exc.clean:
                raise StopAsyncIteration from None
            raise

    # -- sending ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._done or self._core.state is not State.OPEN:
            raise self._closed_error()

    async def send(
        self, message: Piece | Sequence[Piece] | Iterator[Piece] | AsyncIterable[Piece]
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        Bytes-like means ``bytes``, ``bytearray`` or ``memoryview``.

        Given an iterable or async iterable of ``str`` or bytes-like pieces
        (a list, a generator, an async generator...), sends one fragmented
        message, a frame per piece, so a large message never needs to be in
        memory whole. Waits while the transport's write buffer is full.

        If a fragmented message cannot be finished (its iterator raises, a
        piece is of the wrong kind, or the call is cancelled) after some of
        it was sent, the connection is failed, as websockets does: a close
        frame with code 1011 goes to the peer, TCP is closed, and later
        sends raise :class:`WebSocketClosedError`. The peer never takes the
        truncated message for a whole one. Errors found before anything is
        sent (a bad first piece, no pieces) leave the connection as it was.

        Raises:
            TypeError: the message is none of the above (a mapping is
                refused explicitly: iterating over it would send its keys),
                a piece is neither ``str`` nor bytes-like, or pieces mix
                both; nothing was sent unless some pieces were, as above.
            WebSocketClosedError: the connection is closing or closed, or
                it closed while this call waited for room.
        """
        if isinstance(message, str):
            event: Any = TextMessage(message)
        elif isinstance(message, bytes | bytearray | memoryview):
            event = BytesMessage(bytes(message))
        elif isinstance(message, Mapping):
            raise TypeError(
                f"cannot send a mapping ({type(message).__name__}) as a message:"
                " iterating over it gives its keys; send str, bytes-like,"
                " or an iterable of them"
            )
        elif isinstance(message, AsyncIterable | Iterable):
            self._check_open()
            await self._send_fragments(message)
            return
        else:
            raise TypeError(
                "a message is str, bytes-like, or an iterable or async iterable of them,"
                f" not {type(message).__name__}"
            )
        self._check_open()
        if self._message_lock.locked():
            async with self._message_lock:
                await self._send_event(event)
        else:
            await self._send_event(event)

    async def _send_event(self, event: Any) -> None:
        self._check_open()
        try:
            await self._stream.send(event)
        except (ConnectionLostError, StreamClosedError):
            raise self._closed_error() from None
        except LocalProtocolError:
            if self._done or self._core.state is not State.OPEN:
                # Another task began the close while this one waited for
                # room: the core refuses the event, and the documented
                # error for that is ours (nothing was written).
                raise self._closed_error() from None
            raise

    async def _send_fragments(self, pieces: Iterable[Any] | AsyncIterable[Any]) -> None:
        async with self._message_lock:
            iterator: AsyncIterator[Any] = (
                pieces.__aiter__() if isinstance(pieces, AsyncIterable) else _aiter(pieces)
            )
            kind: Any = None
            started = False  # a frame of the message went out
            try:
                async for piece in iterator:
                    piece_kind = _chunk_kind(piece)
                    if kind is None:
                        kind = piece_kind
                    elif piece_kind is not kind:
                        raise TypeError("a fragmented message must be all str or all bytes-like")
                    data: Data = piece if isinstance(piece, str) else bytes(piece)
                    await self._send_event(kind(data))
                    started = True
                if kind is None:
                    raise TypeError("a fragmented message needs at least one piece")
                await self._send_event(kind("" if kind is TextChunk else b"", last=True))
            except BaseException:
                if started:
                    self._fail(1011, "a fragmented message could not be finished")
                raise

    async def ping(self, data: bytes | None = None) -> float:
        """Send a ping and wait for its pong; return the round-trip time in seconds.

        Args:
            data: The payload (at most 125 bytes); by default 4 random bytes.
                A pong also answers every ping sent before it.

        Raises:
            WebSocketClosedError: the connection closed before the pong came.
            ValueError: a ping with the same payload is already waiting.
        """
        self._check_open()
        payload = os.urandom(4) if data is None else bytes(data)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        future = self._loop.create_future()
        started = self._loop.time()
        await self._send_event(Ping(payload))
        self._pings[payload] = future
        await future
        return self._loop.time() - started

    def _pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited, or answered already
        for key in list(self._pings):
            future = self._pings.pop(key)
            if not future.done():
                future.set_result(None)
            if key == payload:
                break

    # -- keepalive ----------------------------------------------------------------

    def _schedule_keepalive(self) -> None:
        if self._ping_interval is not None and not self._done:
            self._keepalive_handle = self._loop.call_later(self._ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        if self._done or self._core.state is not State.OPEN:
            return
        payload = os.urandom(4)
        future: asyncio.Future[None] = self._loop.create_future()
        self._pings[payload] = future
        self._core.send(Ping(payload))
        self._stream._flush_replies()
        if self._ping_timeout is not None:
            deadline = self._loop.call_later(self._ping_timeout, self._keepalive_timeout, future)
            future.add_done_callback(lambda _: deadline.cancel())
        future.add_done_callback(self._keepalive_answered)

    def _keepalive_answered(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._schedule_keepalive()

    def _keepalive_timeout(self, future: asyncio.Future[None]) -> None:
        if future.done() or self._done:
            return
        logger.debug("keepalive ping timed out; failing the connection")
        self._fail(1011, "keepalive ping timeout")

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455, 7.1.7): a close frame if still open, then close TCP.

        No answer is awaited, so :attr:`close_code` is 1006 (none received).
        """
        if self._done:
            return
        if self._core.state is State.OPEN:
            self._core.send(CloseConnection(code, reason))
        self._close_code, self._close_reason = _ABNORMAL, ""
        self._finish(_ABNORMAL, "")

    # -- closing ------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake and close the connection; waits for it to end.

        Sends a close frame with ``code`` and ``reason`` (unless the peer
        started the close, in which case it was answered already), waits up
        to ``close_timeout`` seconds for the peer's close frame and, on a
        client, for the server to close TCP, then closes TCP in any case.
        Messages not yet received are dropped. Calling it again, or after the
        connection ended, just waits for the end.

        Raises:
            LocalProtocolError: an invalid code (such as 1005 or 1006) or a
                reason over 123 bytes; nothing was sent.
        """
        if not self._done and self._core.state is State.OPEN:
            event = CloseConnection(code, reason)
            self._core.send(event)  # raises LocalProtocolError for a bad code
            self._stream._flush_replies()
        self._closing = True
        self._queue.clear()
        self._pump()
        if self._done:
            return
        try:
            async with asyncio.timeout(self._close_timeout):
                await asyncio.shield(self._done_future)
        except TimeoutError:
            logger.debug("closing handshake timed out; aborting the connection")
            self._stream.abort()
            self._finish(_ABNORMAL, "")

    async def wait_closed(self) -> None:
        """Wait until the connection has ended, however it ends."""
        await asyncio.shield(self._done_future)

    def abort(self) -> None:
        """Drop the connection at once, with no closing handshake (code 1006)."""
        self._stream.abort()
        self._finish(_ABNORMAL, "")

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(1000 if exc is None else 1011)

    def __repr__(self) -> str:
        state = "closed" if self._done else self._core.state.name
        return f"<WebSocket {self._request.target!r} {state}>"


async def _aiter(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _chunk_kind(piece: object) -> type[TextChunk] | type[BytesChunk]:
    """The chunk class for one piece of a fragmented message; TypeError if it is not one."""
    if isinstance(piece, str):
        return TextChunk
    if isinstance(piece, bytes | bytearray | memoryview):
        return BytesChunk
    raise TypeError(
        f"a piece of a fragmented message is str or bytes-like, not {type(piece).__name__}"
    )


def _deflate(compression: str | PerMessageDeflate | None) -> tuple[PerMessageDeflate, ...]:
    """The extensions to offer or accept; ValueError now rather than in every handshake."""
    if compression is None:
        return ()
    if isinstance(compression, PerMessageDeflate):
        # The core would refuse a bad setting only when sending its
        # handshake: after connecting, or once per accepted client.
        check_config(compression)
        return (compression,)
    if compression != "deflate":
        raise ValueError(
            f'compression must be "deflate", a PerMessageDeflate or None, not {compression!r}'
        )
    return (PerMessageDeflate(),)


# -- client ---------------------------------------------------------------------------


async def connect(
    uri: str,
    *,
    subprotocols: Sequence[str] = (),
    extra_headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    compression: str | PerMessageDeflate | None = "deflate",
    max_message_size: int | None = 1024 * 1024,
    max_frame_size: int | None = None,
    streaming: bool = False,
    max_queue: int = 16,
    open_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    close_timeout: float = 10.0,
    ssl: ssl.SSLContext | None = None,
    **options: Any,
) -> WebSocket:
    """Open a WebSocket connection to ``uri`` (``ws://`` or ``wss://``).

    Use as ``async with await connect(uri) as ws:``, which closes with 1000
    on the way out (1011 if an exception escapes).

    Args:
        uri: ``ws://host[:port]/path?query`` or ``wss://...`` (TLS).
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: Headers to add to the request (``Origin``, cookies ...).
        compression: ``"deflate"`` to offer permessage-deflate with the
            core's defaults, a :class:`~tidewire_websocket.PerMessageDeflate`
            to offer these settings (windows, context takeover,
            ``memory_level``), or ``None`` not to offer it.
        max_message_size: The largest message accepted, in bytes (after
            decompression), or ``None``; a larger one fails the connection
            with 1009.
        max_frame_size: The largest frame accepted; ``None`` means
            ``max_message_size``.
        streaming: Receive messages in pieces as they arrive (see
            :meth:`WebSocket.receive_stream`).
        max_queue: See :class:`WebSocket`.
        open_timeout: Seconds allowed for TCP, TLS and the opening
            handshake; ``None`` for no limit.
        ping_interval: See :class:`WebSocket`.
        ping_timeout: See :class:`WebSocket`.
        close_timeout: See :class:`WebSocket`.
        ssl: The TLS context for ``wss://`` (default: the system's trust).
        **options: Passed to :func:`tidewire_asyncio.connect` (water marks,
            ``sock``, ``path`` for a Unix socket, ``server_hostname`` ...);
            with ``sock`` or ``path`` the URI still gives the ``Host``
            header and the request target.

    Returns:
        The open connection.

    Raises:
        ValueError: the URI is not a WebSocket URI, or a bad option
            (``compression`` settings included, refused before connecting).
        HandshakeRejected: the server answered with an HTTP error.
        RemoteProtocolError: the server's answer broke RFC 6455.
        TimeoutError: ``open_timeout`` expired.
        OSError: the connection could not be made.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URI: {uri!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    host_header = parts.netloc.rpartition("@")[2]  # without any user:password@
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = tuple(
        (k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
        for k, v in extra_headers
    )
    request = Request(
        host_header,
        target,
        subprotocols=tuple(subprotocols),
        extensions=_deflate(compression),
        headers=headers,
    )
    factory = partial(
        ClientConnection,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size if max_frame_size is not None else max_message_size,
        streaming=streaming,
    )
    if secure and ssl is None:
        ssl = create_default_context()
    async with asyncio.timeout(open_timeout):
        stream = await _connect(
            factory, parts.hostname, port, ssl=ssl if secure else None, **options
        )
        try:
            await stream.send(request)
            answer = await stream.receive()
        except BaseException:
            stream.abort()
            raise
    if isinstance(answer, RejectConnection):
        await stream.aclose()
        raise HandshakeRejected(answer)
    if not isinstance(answer, AcceptConnection):  # the server closed without answering
        stream.abort()
        raise ConnectionLostError("the server closed the connection during the handshake")
    return WebSocket(
        stream,
        request,
        answer,
        max_queue=max_queue,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
    )


# -- server -----------------------------------------------------------------------------

Answer = AcceptConnection | RejectConnection | None
ProcessRequest = Callable[[Request], Answer | Awaitable[Answer]]
"""The request hook of :func:`serve`: sync or async, given the :class:`Request`."""
ProcessHTTP = Callable[[HTTPRequest], RejectConnection | Awaitable[RejectConnection | None] | None]
"""The plain-HTTP hook of :func:`serve`: sync or async, given the :class:`HTTPRequest`."""

# What a plain HTTP request gets when process_request does not answer it.
_UPGRADE_REQUIRED = RejectConnection(
    426,
    ((b"Upgrade", b"websocket"), (b"Content-Type", b"text/plain; charset=utf-8")),
    b"This is a WebSocket server: connect with a WebSocket client.\n",
)


class WebSocketServer(Server):
    """A WebSocket server; see :func:`serve`.

    It is a :class:`tidewire_asyncio.Server` whose :meth:`aclose` is
    graceful: every open connection is closed with 1001 (going away) and
    given ``close_timeout`` seconds to finish before its handler is
    cancelled.
    """

    def __init__(self, *args: Any, close_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.websockets: set[WebSocket] = set()
        """The connections currently open."""
        self._ws_close_timeout = close_timeout

    async def aclose(self, reason: str = "server shutting down") -> None:
        """Stop accepting, close every connection with 1001 and ``reason``, await the handlers."""
        self.close()
        closing = [ws.close(1001, reason) for ws in list(self.websockets)]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        if self._streams:
            _, pending = await asyncio.wait(
                list(self._streams.values()), timeout=self._ws_close_timeout
            )
            for task in pending:
                task.cancel()
        await self.wait_closed()


def serve(
    handler: Callable[[WebSocket], Awaitable[None]],
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    process_request: ProcessRequest | None = None,
    process_http: ProcessHTTP | None = None,
    subprotocols: Sequence[str] = (),
    compression: str | PerMessageDeflate | None = "deflate",
    max_message_size: int | None = 1024 * 1024,
    max_frame_size: int | None = None,
    streaming: bool = False,
    max_queue: int = 16,
    open_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    close_timeout: float = 10.0,
    ssl: ssl.SSLContext | None = None,
    **options: Any,
) -> WebSocketServer:
    """Serve WebSocket connections: ``handler(websocket)`` runs once per connection.

    Use as ``async with serve(handler, host, port) as server:``; leaving the
    block shuts down gracefully (every connection is closed with 1001).
    When the handler returns, its connection is closed with 1000 (1011 if it
    raised).

    ``process_request`` inspects each opening request before the handler
    runs: return :class:`~tidewire_websocket.AcceptConnection` (to choose the subprotocol and
    add headers; its ``extensions`` are filled from ``compression`` when
    empty), :class:`~tidewire_websocket.RejectConnection` (to answer with an HTTP status, headers
    and body; the handler does not run), or ``None`` to accept with the
    first of ``subprotocols`` the client offered. It may be a coroutine.

    ``process_http`` answers a plain ``GET`` that asks for no upgrade (a
    health check, a browser fetching a page), given as an
    :class:`~tidewire_websocket.HTTPRequest`: return a
    :class:`~tidewire_websocket.RejectConnection` of any status, ``200`` and
    a page included. Unanswered (no hook, or ``None``), such a request gets
    ``426 Upgrade Required``. It may be a coroutine.

    Args:
        handler: ``async def handler(websocket)``.
        host: The interface(s) to listen on.
        port: The port; ``0`` for any free one.
        process_request: The request hook, or ``None``.
        process_http: The plain-HTTP hook, or ``None``.
        subprotocols: Subprotocols supported, in order of preference.
        compression: ``"deflate"`` to accept permessage-deflate with the
            core's defaults, a :class:`~tidewire_websocket.PerMessageDeflate`
            to accept it with these settings (windows, context takeover,
            ``memory_level``), or ``None`` to decline it.
        max_message_size: As for :func:`connect`.
        max_frame_size: As for :func:`connect`.
        streaming: As for :func:`connect`.
        max_queue: See :class:`WebSocket`.
        open_timeout: Seconds allowed for the client's request.
        ping_interval: See :class:`WebSocket`.
        ping_timeout: See :class:`WebSocket`.
        close_timeout: See :class:`WebSocket`; also the graceful shutdown's wait.
        ssl: An :class:`ssl.SSLContext` to serve ``wss://``.
        **options: Passed to :func:`tidewire_asyncio.serve` (``sock``,
            ``path`` for a Unix socket, ``backlog``, water marks ...).

    Returns:
        The server, not yet listening; ``await`` it or enter it.

    Raises:
        ValueError: a bad option (``compression`` settings included).
    """
    extensions = _deflate(compression)
    offered = tuple(subprotocols)
    factory = partial(
        ServerConnection,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size if max_frame_size is not None else max_message_size,
        streaming=streaming,
    )

    async def run(stream: EventStream[Any, Any]) -> None:
        try:
            async with asyncio.timeout(open_timeout):
                request = await stream.receive()
        except TimeoutError:
            stream.abort()
            return
        if not isinstance(request, Request | HTTPRequest):
            return  # the client left before asking anything
        answer: Any = None
        if isinstance(request, HTTPRequest):
            if process_http is not None:
                answer = process_http(request)
                if inspect.isawaitable(answer):
                    answer = await answer
            await stream.send(answer or _UPGRADE_REQUIRED)
            return
        if process_request is not None:
            answer = process_request(request)
            if inspect.isawaitable(answer):
                answer = await answer
        if answer is None:
            chosen = next((p for p in offered if p in request.subprotocols), None)
            answer = AcceptConnection(chosen, extensions)
        elif isinstance(answer, AcceptConnection) and not answer.extensions and extensions:
            answer = AcceptConnection(answer.subprotocol, extensions, answer.headers)
        await stream.send(answer)
        if isinstance(answer, RejectConnection):
            return
        websocket = WebSocket(
            stream,
            request,
            answer,
            max_queue=max_queue,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
        )
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

    server = WebSocketServer(
        factory, run, host, port, ssl=ssl, close_timeout=close_timeout, **options
    )
    return server
