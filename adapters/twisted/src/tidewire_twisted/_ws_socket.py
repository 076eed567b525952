"""The Twisted WebSocket: one open connection over an EventStream, Deferreds for every wait."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from typing import Any, cast

from twisted.internet.defer import CancelledError, Deferred, DeferredLock, fail
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

import tidewire_websocket as tw
from tidewire import LocalProtocolError, RemoteProtocolError, StreamClosedError
from tidewire_websocket import AcceptConnection, Request, WebSocketClosedError

from ._waiting import Signal, wake
from .stream import EventStream

logger = logging.getLogger("tidewire_twisted.websocket")

Data = str | bytes
"""A message: ``str`` for text, ``bytes`` for binary."""

Piece = str | bytes | bytearray | memoryview
"""What :meth:`WebSocket.send` takes as a message or as a piece of one."""


class WebSocket:
    """One open WebSocket connection, client or server side; see the guides.

    Its core parses frames as they arrive (pings are answered, a close is
    seen while the application is busy) into a queue of at most
    ``max_queue`` messages; when it is full, parsing and then reading stop.
    Every waiting method returns a Deferred; cancelling it loses nothing.

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
        self._stream, self._core = stream, core_of(stream)
        self.request = request
        """The opening request, with its ``target``, ``headers`` and offers."""
        self.response = response
        """The accepting answer, with the chosen ``subprotocol`` and ``extensions``."""
        self._wakeup: Deferred[None] | None = None  # receive() waits here
        self._room: Deferred[None] | None = None  # the pump waits here
        self._pings: dict[bytes, Deferred[float]] = {}
        self._message_lock = DeferredLock()  # a fragmented message goes out whole
        self._done = Signal()
        self._pumped = Signal()
        self._pump = Deferred.fromCoroutine(self._run_pump())
        self._pump.addErrback(_pump_failed)

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
        if self._done.is_set:
            return self._core.close_code or 1006
        return self._core.close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code`."""
        return self._core.close_reason

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._done.is_set

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's extra information ``name`` (``"peername"`` ...), or ``default``."""
        return self._stream.get_extra_info(name, default)

    # -- the pump: parses frames as they arrive, a coroutine on the reactor --------

    async def _run_pump(self) -> None:
        try:
            await self._parse()
        finally:
            self._pumped.set()

    async def _parse(self) -> None:
        stream, core, inbox = self._stream, self._core, self._inbox
        try:
            while not core.should_close_transport:
                while inbox.full:
                    self._room = Deferred()
                    await self._room
                event = await stream.receive()
                if isinstance(event, tw.WebSocketClosed):
                    break
                self._answered(inbox.put(event))
                self._wake()
        except RemoteProtocolError as error:
            logger.debug("WebSocket failed (%s): %s", core.close_code, error)
            if inbox.hold():  # receive() or close() releases it
                self._wake()
            else:
                self._release()
            return
        except StreamClosedError:
            pass
        self._finish()

    def _answered(self, pings: tuple[tuple[bytes, float], ...]) -> None:
        for payload, round_trip in pings:
            waiter = self._pings.pop(payload, None)
            if waiter is not None and not waiter.called:
                waiter.callback(round_trip)

    def _release(self) -> None:
        """A held protocol error takes effect: its close frame goes out, the connection ends."""
        self._inbox.held = False
        self._core.release_failure()
        self._stream.write_pending()
        self._finish()

    def _finish(self) -> None:
        """The connection is over: close TCP (abort after a timeout), wake everyone."""
        if self._done.is_set:
            return
        self._done.set()
        if self._core.should_abort_transport:
            self._stream.write_pending()
            self._stream.abort()
        else:
            self._stream.close_nowait()
        pings, self._pings = self._pings, {}
        for waiter in pings.values():
            if not waiter.called:
                waiter.errback(self._closed_error())
        self._wake()

    def _closed_error(self) -> WebSocketClosedError:
        return WebSocketClosedError(self.close_code or 1006, self.close_reason)

    def _wake(self) -> None:
        wakeup, room = self._wakeup, self._room
        wake(wakeup)
        wake(room)

    # -- receiving ----------------------------------------------------------------

    async def _next_item(self) -> tw.DataEvent:
        while (item := self._inbox.pop()) is None:
            if self._inbox.held:
                self._release()
            if self._done.is_set or self._core.close_code is not None:
                raise self._closed_error()
            if self._wakeup is not None:
                raise RuntimeError("another receive() is already waiting on this WebSocket")
            self._wakeup = Deferred()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
        self._wake()  # room for the pump
        return item

    def receive(self) -> Deferred[Data]:
        """Return a Deferred firing with the next message: ``str`` for text, ``bytes`` for binary.

        Cancelling it loses nothing, also between the chunks of a message.
        Fails with :class:`~tidewire_websocket.WebSocketClosedError` once the connection closed
        (every message received before was delivered first), with
        ``RuntimeError`` if another call is waiting.
        """
        return Deferred.fromCoroutine(self._receive())

    async def _receive(self) -> Data:
        self._inbox.check_whole()
        while (message := self._inbox.take(await self._next_item())) is None:
            pass
        return message

    async def receive_stream(self) -> AsyncIterator[Data]:
        """Yield the next message in pieces as they arrive (in ``async def`` code).

        Whole with ``streaming=False``. Leaving the loop early loses nothing:
        the next call goes on with the rest of the same message.

        Raises:
            WebSocketClosedError: as :meth:`receive`.
            RuntimeError: another call is receiving.
        """
        while True:
            event = self._inbox.resume() or await self._next_item()
            last = self._inbox.stream(event)
            yield event.data
            if last:
                return

    def __aiter__(self) -> WebSocket:
        """Iterate over messages (in ``async def`` code) until the connection closes."""
        return self

    async def __anext__(self) -> Data:
        """The next message; stops at a clean close (1000 or 1001), else raises."""
        try:
            return await self._receive()
        except WebSocketClosedError as exc:
            if exc.clean:
                raise StopAsyncIteration from None
            raise

    # -- sending --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._done.is_set or not self._core.can_send or self._inbox.closing:
            raise self._closed_error()

    def send(
        self, message: Piece | Sequence[Piece] | Iterator[Piece] | AsyncIterable[Piece]
    ) -> Deferred[None]:
        """Send a message: ``str`` as text, bytes-like as binary; fires once written.

        An iterable or async iterable of pieces is sent as one fragmented
        message; if it cannot be finished after part of it went out (an
        error, a cancelled Deferred), the connection fails with 1011. Waits
        while the transport is full. Fails with ``TypeError`` (not a
        message), :class:`~tidewire_websocket.WebSocketClosedError` (closing or closed).
        """
        try:
            event = tw.message_of(message)
            if event is not None and not self._message_lock.locked:
                return self._send_whole(event)  # the usual case, with no coroutine
        except Exception:
            return fail()
        return Deferred.fromCoroutine(self._send(message))

    async def _send(self, message: Any) -> None:
        """A fragmented message, or a whole one after the fragmented one being sent."""
        event = tw.message_of(message)
        self._check_open()
        if event is None:
            await self._send_fragments(message)
            return
        await self._message_lock.acquire()
        try:
            await self._send_whole(event)
        finally:
            self._message_lock.release()

    def _send_whole(self, event: Any) -> Deferred[None]:
        """Send one event through the stream; its failures say the WebSocket is closed."""
        self._check_open()
        return self._stream.send(event).addErrback(self._send_failed)

    def _send_failed(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, StreamClosedError) or (
            isinstance(error, LocalProtocolError) and not self._core.can_send
        ):
            raise self._closed_error() from None  # closed, or the close began while this waited
        failure.raiseException()

    async def _send_fragments(self, pieces: Any) -> None:
        await self._message_lock.acquire()
        first: Any = None
        try:
            if not isinstance(pieces, AsyncIterable):
                pieces = _aiter(pieces)
            async for piece in pieces:
                chunk = tw.chunk_of(piece, first)
                await self._send_whole(chunk)
                first = first or chunk
            if first is None:
                raise TypeError("a fragmented message needs at least one piece")
            await self._send_whole(type(first)(type(first.data)(), True))
        except BaseException:
            if first is not None and not self._done.is_set:
                self._core.fail(1011, "a fragmented message could not be finished")
                self._finish()
            raise
        finally:
            self._message_lock.release()

    def ping(self, data: bytes | None = None) -> Deferred[float]:
        """Send a ping; the Deferred fires with the round-trip time in seconds when its pong comes.

        Fails with :class:`~tidewire_websocket.WebSocketClosedError` if the connection closes
        first, ``ValueError`` if a ping with the same payload is waiting.
        """
        return Deferred.fromCoroutine(self._ping(data))

    async def _ping(self, data: bytes | None) -> float:
        self._check_open()
        payload = os.urandom(4) if data is None else bytes(data)
        if payload in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        pong: Deferred[float] = Deferred()
        self._pings[payload] = pong
        try:
            await self._send_whole(tw.Ping(payload))
        except BaseException:
            self._pings.pop(payload, None)
            raise
        return await pong

    # -- closing --------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> Deferred[None]:
        """Run the closing handshake (bounded by ``close_timeout``); fires at the end.

        Unread messages are dropped. Calling it again just waits. An invalid
        code or reason fails it with ``LocalProtocolError``; nothing was sent.
        """
        return Deferred.fromCoroutine(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._inbox.held:
            self._release()
        elif not self._done.is_set and self._core.state is tw.State.OPEN:
            with contextlib.suppress(StreamClosedError):  # the pump is about to see it
                self._stream.send_nowait(tw.CloseConnection(code, reason))
        self._inbox.close()
        self._wake()
        await self._wait_closed()

    aclose = close

    def wait_closed(self) -> Deferred[None]:
        """A Deferred firing once the connection has ended and its reader stopped."""
        return Deferred.fromCoroutine(self._wait_closed())

    async def _wait_closed(self) -> None:
        await self._done.wait()
        await self._pumped.wait()

    def abort(self) -> None:
        """Drop the connection at once, with no closing handshake (code 1006)."""
        self._stream.abort()
        self._pump.cancel()
        self._finish()

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        await self._close(tw.exit_code(exc), "")

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._core.state.name
        return f"<WebSocket {self.request.target!r} {state}>"


def _pump_failed(failure: Failure) -> None:
    if not isinstance(failure.value, CancelledError):  # abort() stops the pump on purpose
        logger.error("the WebSocket reader failed", exc_info=failure.value)


def core_of(stream: EventStream[Any, Any]) -> tw.WebSocketConnection:
    core = stream.connection
    assert isinstance(core, tw.WebSocketConnection)
    return core


async def _aiter(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def core_factory(
    role: type[tw.WebSocketConnection], options: dict[str, Any], clock: IReactorTime
) -> Callable[[], tw.WebSocketConnection]:
    """A core factory taking the core's options out of ``options``; the reactor's clock."""
    core = tw.connection_options(options)
    seconds: Callable[[], float] = cast(Any, clock).seconds

    def make() -> tw.WebSocketConnection:
        return role(clock=seconds, hold_failures=True, **core)

    return make
