"""The WebSocket object: its reader task, receiving, sending and closing.

:mod:`tidewire_trio.websocket` opens (``connect``) and serves (``serve``)
them and is where users import it from; this module is the object alone.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from typing import Any

import trio

import tidewire_websocket as tw
from tidewire import LocalProtocolError, RemoteProtocolError, StreamClosedError
from tidewire_websocket import AcceptConnection, Request, WebSocketClosedError

from .stream import EventStream

_HELD = 64 * 1024  # answers to a burst of messages held for one write, at most

logger = logging.getLogger("tidewire_trio.websocket")

Data = str | bytes
"""A message: ``str`` for text, ``bytes`` for binary."""

Piece = str | bytes | bytearray | memoryview
"""What :meth:`WebSocket.send` takes as a message or as a piece of one."""


class _Pong:
    """What :meth:`WebSocket.ping` waits for: the round trip, or why it will not come."""

    __slots__ = ("arrived", "error", "round_trip")

    def __init__(self) -> None:
        self.arrived = trio.Event()
        self.round_trip = 0.0
        self.error: Exception | None = None


class WebSocket:
    """One open WebSocket connection, client or server side; see the guides.

    Its reader task parses frames as they arrive (pings are answered, a
    close is seen while the application is busy) into a queue of at most
    ``max_queue`` messages; when it is full, parsing and then reading stop.
    Messages received before a protocol error are still delivered, and
    answers to them sent before the failure's close frame. The reader runs
    in the nursery of whoever opened the connection (:func:`connect`,
    :func:`serve`).

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
        self._changed = trio.Event()  # set and replaced whenever anything changes
        self._pings: dict[bytes, _Pong] = {}
        self._message_lock = trio.Lock()  # a fragmented message goes out whole
        self._receiving = False
        self._done = trio.Event()  # the connection has ended
        self._reader_done = trio.Event()  # ... and its transport is closed
        self._reading = trio.CancelScope()  # the reader's parsing, cancelled by _finish()

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
        if self._done.is_set():
            return self._core.close_code or 1006
        return self._core.close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code`."""
        return self._core.close_reason

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._done.is_set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The stream's extra information ``name`` (``"peername"`` ...), or ``default``."""
        return self._stream.get_extra_info(name, default)

    # -- the reader: a task parsing frames as they arrive ---------------------------

    async def _run(self) -> None:
        """The reader task: parse until the end, then close the transport."""
        try:
            with self._reading:
                await self._pump()
            self._finish()
            await self._end_transport()
        finally:
            self._finish()
            self._stream.abort()  # after aclose(), nothing; else (cancelled, broken) a hard end
            self._reader_done.set()

    async def _pump(self) -> None:
        stream, core, inbox = self._stream, self._core, self._inbox
        try:
            while not core.should_close_transport:
                while inbox.full and not core.should_close_transport:
                    await self._idle()
                event = await stream.receive()
                if isinstance(event, tw.WebSocketClosed):
                    return
                self._answered(inbox.put(event))
                self._wake()
        except RemoteProtocolError as error:
            logger.debug("WebSocket failed (%s): %s", core.close_code, error)
            if inbox.hold():  # receive() or close() releases it, or the core's deadline
                self._wake()
                while inbox.held and not await self._idle():
                    pass
            self._release()
        except StreamClosedError:
            pass

    async def _idle(self) -> bool:
        """Wait for a change, or act on the core's next deadline first (then True)."""
        changed, deadline = self._changed, self._core.get_timer()
        with trio.move_on_at(math.inf if deadline is None else deadline):
            await changed.wait()
            return False
        self._core.handle_timer(trio.current_time())
        self._stream.write_pending()
        await self._stream.drain()
        return True

    async def _end_transport(self) -> None:
        stream = self._stream
        if stream.closed or self._core.should_abort_transport:
            stream.write_pending()
            stream.abort()
            return
        try:
            await stream.aclose()
        except StreamClosedError:
            stream.abort()

    def _answered(self, pings: tuple[tuple[bytes, float], ...]) -> None:
        for payload, round_trip in pings:
            pong = self._pings.pop(payload, None)
            if pong is not None:
                pong.round_trip = round_trip
                pong.arrived.set()

    def _release(self) -> None:
        """A held protocol error takes effect: its close frame goes out, the connection ends."""
        self._inbox.held = False
        self._core.release_failure()
        self._finish()

    def _finish(self) -> None:
        """The connection is over: wake everyone; the reader closes the transport."""
        if self._done.is_set():
            return
        self._done.set()
        self._reading.cancel()
        error = self._closed_error()
        for pong in self._pings.values():
            pong.error = error
            pong.arrived.set()
        self._pings.clear()
        self._wake()

    def _closed_error(self) -> WebSocketClosedError:
        return WebSocketClosedError(self.close_code or 1006, self.close_reason)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- receiving ----------------------------------------------------------------

    async def _next_item(self) -> tw.DataEvent:
        if self._inbox.ready == 1 and self._stream.write_backlog:
            await self._drain()  # the burst's last message: the answers to the rest leave now
        while (item := self._inbox.pop()) is None:
            if self._inbox.held:
                self._release()
            if self._done.is_set() or self._core.close_code is not None:
                raise self._closed_error()
            if self._receiving:
                raise RuntimeError("another task is already receiving on this WebSocket")
            self._receiving = True
            try:
                await self._changed.wait()
            finally:
                self._receiving = False
        self._wake()  # room for the reader
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

    def receive_stream(self) -> AsyncIterator[Data]:
        """Yield the next message in pieces as they arrive (all ``str`` or all ``bytes``).

        Whole with ``streaming=False``. Leaving the loop early loses nothing:
        the next call goes on with the rest of the same message (and it is
        no generator to finalize, so trio does not warn).

        Raises:
            WebSocketClosedError: as :meth:`receive`.
            RuntimeError: another task is receiving.
        """
        return _Pieces(self)

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
        if self._done.is_set() or not self._core.can_send or self._inbox.closing:
            raise self._closed_error()

    async def send(
        self, message: Piece | Sequence[Piece] | Iterator[Piece] | AsyncIterable[Piece]
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        Returns once written, or, while more received messages of the burst
        it answers wait unread, once queued: the answers to a burst leave in
        one write before :meth:`receive` hands over the burst's last message
        (or with the next write, or the close).

        An iterable or async iterable of pieces is sent as one fragmented
        message; if it cannot be finished after part of it went out (an
        error, a cancellation), the connection fails with 1011.

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
        elif self._inbox.ready and self._stream.write_backlog < _HELD:
            # More of the burst this answers wait unread: the answers leave
            # together, before the burst's last message is handed over.
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing was queued
            await self._send_event(event, hold=True)
        else:
            await self._send_event(event)

    def _broken(self) -> WebSocketClosedError:
        """The stream broke (a write cancelled half-way ...): the reader must stop too."""
        self._finish()
        return self._closed_error()

    async def _drain(self) -> None:
        try:
            await self._stream.drain()
        except StreamClosedError:
            raise self._broken() from None

    async def _send_event(self, event: Any, *, hold: bool = False) -> None:
        self._check_open()
        try:
            if hold:
                self._stream.send_nowait(event)
            else:
                await self._stream.send(event)
        except StreamClosedError:
            raise self._broken() from None
        except LocalProtocolError:
            if self._core.can_send:
                raise
            raise self._closed_error() from None  # the close began while this waited

    async def _send_fragments(self, pieces: Any) -> None:
        async with self._message_lock:
            first: Any = None
            try:
                if isinstance(pieces, AsyncIterable):
                    async for piece in pieces:
                        first = await self._send_piece(piece, first)
                else:
                    for piece in pieces:
                        first = await self._send_piece(piece, first)
                if first is None:
                    raise TypeError("a fragmented message needs at least one piece")
                await self._send_event(type(first)(type(first.data)(), True))
            except BaseException:
                if first is not None and not self._done.is_set():
                    self._core.fail(1011, "a fragmented message could not be finished")
                    self._finish()
                raise

    async def _send_piece(self, piece: Any, first: Any) -> Any:
        """Send a piece of a fragmented message; return the message's first chunk."""
        chunk = tw.chunk_of(piece, first)
        await self._send_event(chunk)
        return first or chunk

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
        pong = self._pings[payload] = _Pong()
        try:
            await self._send_event(tw.Ping(payload))
        except BaseException:
            self._pings.pop(payload, None)
            raise
        await pong.arrived.wait()
        if pong.error is not None:
            raise pong.error
        return pong.round_trip

    # -- closing --------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (bounded by ``close_timeout``) and wait for the end.

        Unread messages are dropped. Calling it again just waits.

        Raises:
            LocalProtocolError: an invalid code or reason; nothing was sent.
        """
        if self._inbox.held:
            self._release()
        elif not self._done.is_set() and self._core.state is tw.State.OPEN:
            with contextlib.suppress(StreamClosedError):  # the reader is about to see it
                self._stream.send_nowait(tw.CloseConnection(code, reason))
        self._inbox.close()
        self._wake()
        with contextlib.suppress(StreamClosedError):
            await self._stream.drain()
        if self._stream.closed:
            self._finish()  # broken: nothing more will come
        await self.wait_closed()

    aclose = close

    async def wait_closed(self) -> None:
        """Wait until the connection has ended and its transport is closed."""
        await self._reader_done.wait()

    def abort(self) -> None:
        """Drop the connection at once, with no closing handshake (code 1006)."""
        self._stream.abort()
        self._finish()

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self.close(tw.exit_code(exc))

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._core.state.name
        return f"<WebSocket {self.request.target!r} {state}>"


class _Pieces:
    """What :meth:`WebSocket.receive_stream` returns: one message's pieces."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._ended = False

    def __aiter__(self) -> _Pieces:
        return self

    async def __anext__(self) -> Data:
        if self._ended:
            raise StopAsyncIteration
        websocket = self._websocket
        event = websocket._inbox.resume() or await websocket._next_item()
        self._ended = websocket._inbox.stream(event)
        return event.data


def _core_of(stream: EventStream[Any, Any]) -> tw.WebSocketConnection:
    core = stream.connection
    assert isinstance(core, tw.WebSocketConnection)
    return core
