"""The WebSocket object of :mod:`tidewire_anyio.websocket` (documented there)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc

import tidewire_websocket as tw
from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError, StreamClosedError
from tidewire_websocket import AcceptConnection, Request, WebSocketClosedError

from ._closing import Signal
from .stream import EventStream

logger = logging.getLogger("tidewire_anyio.websocket")

Data = str | bytes
"""A message: ``str`` for text, ``bytes`` for binary."""

Piece = str | bytes | bytearray | memoryview
"""What :meth:`WebSocket.send` takes as a message or as a piece of one."""


class _Pong:  # one ping waiting for its pong
    __slots__ = ("arrived", "error", "round_trip")

    def __init__(self) -> None:
        self.arrived = anyio.Event()
        self.round_trip = 0.0
        self.error: BaseException | None = None


class WebSocket(anyio.abc.ObjectStream[Data]):
    """One open WebSocket connection, client or server side; see the guides.

    Its core parses frames as they arrive, in the entered event stream's
    reader task (pings are answered, a close is seen while the application
    is busy), into a queue of at most ``max_queue`` messages; when it is
    full, parsing and then reading stop. Messages received before a protocol
    error are still delivered, and answers to them sent before the failure's
    close frame.

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
        self._arrived = Signal()  # receive() waits here
        self._receiving = False
        self._pings: dict[bytes, _Pong] = {}
        self._message_lock = anyio.Lock()  # a fragmented message goes out whole
        self._done = anyio.Event()
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

    @property
    def extra_attributes(self) -> Any:
        """Anyio's typed attributes of the byte stream underneath (``extra()`` reads them)."""
        transport = self._stream.transport
        return {} if transport is None else transport.extra_attributes

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra information ``name`` (``"peername"`` ...), or ``default``."""
        return self._stream.get_extra_info(name, default)

    # -- parsing: frames are parsed as they arrive, in the stream's listener ----------

    def _parse(self) -> None:
        """Move what the core can parse into the inbox, until it is full or input runs out."""
        if self._parsing or self._done.is_set() or self._inbox.held:
            return
        self._parsing = True  # what this calls (close_nowait ...) must not re-enter
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
                self._arrived.fire()
            else:
                self._stalled = True  # taking a message calls this again
                return
        except RemoteProtocolError as error:
            logger.debug("WebSocket failed (%s): %s", core.close_code, error)
            if inbox.hold():  # receive() or close() releases it
                self._arrived.fire()
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
            pong = self._pings.pop(payload, None)
            if pong is not None:
                pong.round_trip = round_trip
                pong.arrived.set()

    def _release(self) -> None:
        """A held protocol error takes effect: its close frame goes out, the connection ends."""
        self._inbox.held = False
        self._core.release_failure()
        self._stream.write_pending()
        self._finish()

    def _finish(self) -> None:
        """The connection is over: close TCP (abort after a timeout), wake everyone."""
        if self._done.is_set():
            return
        self._done.set()
        if self._core.should_abort_transport:
            self._stream.write_pending()
            self._stream.abort()
        else:
            self._stream.close_nowait()
        for pong in self._pings.values():
            pong.error = self._closed_error()
            pong.arrived.set()
        self._pings.clear()
        self._arrived.fire()

    def _closed_error(self) -> WebSocketClosedError:
        return WebSocketClosedError(self.close_code or 1006, self.close_reason)

    # -- receiving ----------------------------------------------------------------

    async def _next_item(self) -> tw.DataEvent:
        while (item := self._inbox.pop()) is None:
            if self._inbox.held:
                self._release()
            if self._done.is_set() or self._core.close_code is not None:
                raise self._closed_error()
            if self._receiving:
                raise RuntimeError("another task is already receiving on this WebSocket")
            self._receiving = True
            try:
                await self._arrived.wait()
            finally:
                self._receiving = False
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

    def __aiter__(self) -> Self:
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
        self, item: Piece | Sequence[Piece] | Iterator[Piece] | AsyncIterable[Piece]
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable or async iterable of pieces is sent as one fragmented
        message; if it cannot be finished after part of it went out, the
        connection fails with 1011. Waits while too much waits to be written.

        Raises:
            TypeError: not a message (a mapping included), or bad pieces.
            WebSocketClosedError: the connection is closing or closed.
        """
        event = tw.message_of(item)
        self._check_open()
        if event is None:
            await self._send_fragments(item)
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
                if isinstance(pieces, AsyncIterable):
                    async for piece in pieces:
                        first = await self._send_piece(piece, first)
                else:  # no async generator of ours: trio would warn if it were left unfinished
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
            await pong.arrived.wait()
        except BaseException:
            if self._pings.get(payload) is pong:
                del self._pings[payload]
            raise
        if pong.error is not None:
            raise pong.error
        return pong.round_trip

    # -- closing --------------------------------------------------------------------

    def _begin_close(self, code: int, reason: str) -> None:
        if self._inbox.held:
            self._release()
        elif not self._done.is_set() and self._core.state is tw.State.OPEN:
            with contextlib.suppress(StreamClosedError):  # _parse() is about to see it
                self._stream.send_nowait(tw.CloseConnection(code, reason))
        self._inbox.close()
        self._arrived.fire()
        self._parse()  # what waited for room in the inbox

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (bounded by ``close_timeout``) and wait for the end.

        Unread messages are dropped. Calling it again just waits.

        Raises:
            LocalProtocolError: an invalid code or reason; nothing was sent.
        """
        self._begin_close(code, reason)
        await self.wait_closed()

    async def aclose(self) -> None:
        """Close with 1000: :meth:`close`, under anyio's name."""
        await self.close()

    async def send_eof(self) -> None:
        """Begin the closing handshake with 1000 and return: anyio's ``ObjectStream`` end."""
        self._begin_close(1000, "")

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        await self._done.wait()

    def abort(self) -> None:
        """Drop the connection at once, with no closing handshake (code 1006)."""
        self._stream.abort()
        self._finish()

    async def __aenter__(self) -> Self:
        """Start the event stream's tasks (reading, writing, keepalive); return the WebSocket."""
        await self._stream.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close (1000, or 1011 after an exception), then end the stream's tasks."""
        try:
            await self.close(tw.exit_code(exc))
        finally:
            await self._stream.__aexit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._core.state.name
        return f"<WebSocket {self.request.target!r} {state}>"


def _core_of(stream: EventStream[Any, Any]) -> tw.WebSocketConnection:
    core = stream.connection
    assert isinstance(core, tw.WebSocketConnection)
    return core
