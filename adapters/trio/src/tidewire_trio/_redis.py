"""The shared Redis connection object: its reader and writer tasks, requests, pub/sub.

:mod:`tidewire_trio.resp` opens them (``connect``) and is where users import
:class:`RedisConnection` from; this module is the object alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import trio

from tidewire import NEED_DATA, ConnectionClosed, LocalProtocolError, RemoteProtocolError
from tidewire_resp import (
    Command,
    Message,
    Push,
    Reply,
    raise_first_error,
    transaction_result,
)
from tidewire_resp.errors import reply_error
from tidewire_resp.sharing import (
    WRITE_LIMIT,
    PushHandler,
    RedisConnectionBase,
    batch_values,
    failure,
    reply_value,
)

from .errors import ConnectionLostError, StreamClosedError
from .stream import EventStream

logger = logging.getLogger("tidewire_trio.resp")


class _Waiter:
    """One request's reply, or the error that came instead."""

    __slots__ = ("done", "error", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: Reply | None = None
        self.error: Exception | None = None

    def result(self) -> Reply:
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


class RedisConnection(RedisConnectionBase[EventStream[Any, Any]]):
    """One connection to Redis, shared by any number of tasks (made by :func:`connect`).

    Commands sent by the tasks ready together leave in one write; a caller
    cancelled while waiting abandons only its own request. Once the
    connection breaks, waiting and later callers get
    :class:`~tidewire_trio.ConnectionLostError`. Its reader and writer run
    in the nursery of :func:`connect`'s ``async with``.

    Args:
        stream: An event stream around a fresh
            :class:`~tidewire_resp.ClientConnection`; it sends no set-up.
        decode_responses: As for :func:`connect`.
        encoding: As for :func:`connect`.
        push_handler: See :attr:`push_handler`.
        max_queued_messages: As for :func:`connect`.

    Raises:
        TypeError: the stream's core is not a ``ClientConnection``.
        ValueError: ``max_queued_messages`` is not a positive int.
    """

    push_handler: PushHandler | None
    """Called from the reader with every push that is not a pub/sub message
    (``invalidate``...); it must not block. ``None`` drops them."""

    def _start(self) -> None:
        self._waiters: dict[int, _Waiter] = {}
        self._paused = False  # the reader waits for room for messages
        self._changed = trio.Event()  # set and replaced: a message, room, a waiter, the end
        self._queued = trio.Event()  # the writer has bytes to write
        self._written = trio.Event()  # set and replaced after each write
        self._tasks = trio.CancelScope()
        self._stopped: trio.Event | None = None  # set once the tasks have ended

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        """Send one command and return its reply, decoded as the Redis guide's table says.

        Args:
            args: The command name and its arguments (``bytes``, ``str``, ``int``...).
            decode: Strings as ``str`` or ``bytes``; ``None``: ``decode_responses``.

        Raises:
            ReplyError: the server's error reply (the subclass follows its code).
            LocalProtocolError: an argument RESP cannot carry; nothing was sent.
            ConnectionLostError: the connection broke before the reply came.
            StreamClosedError: the connection was closed on this side.
        """
        value = (await self.request(*args)).value
        if decode is None:
            decode = self._decode
        return reply_value(value, self._encoding if decode else None)

    async def request(self, *args: Any) -> Reply:
        """Send one command and return the core's :class:`~tidewire_resp.Reply`, undecoded.

        Raises:
            LocalProtocolError: an argument RESP cannot carry; nothing was sent.
            ConnectionLostError: the connection broke before the reply came.
            StreamClosedError: the connection was closed on this side.
        """
        await self._room()
        self._stream.send_nowait(Command(args))  # written with what the other tasks send
        self._queued.set()
        request_id = self._core.last_request
        if not self._core.is_pending(request_id):  # CLIENT REPLY OFF/SKIP: no reply will come
            return Reply(None, None, request_id)
        waiter = self._wait_for(request_id)  # _replies() without its lists: the hot path
        try:
            await waiter.done.wait()
        except BaseException:
            self._abandon((request_id,))
            raise
        return waiter.result()

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """Start a batch of commands sent in one write (``MULTI``/``EXEC`` with ``transaction``)."""
        return Pipeline(self, transaction=transaction)

    async def _room(self) -> None:
        """Wait while the peer is not keeping up (nothing is sent yet); refuse if broken."""
        while self._error is None and self._stream.write_backlog > WRITE_LIMIT:
            await self._written.wait()
        if self._error is not None:
            raise failure(self._error)

    async def _batch(self, commands: list[tuple[Any, ...]], transaction: bool) -> list[Any]:
        """Send commands as one core request (``batch()`` or ``transaction()``); its values."""
        await self._room()
        core = self._core
        request_id = core.transaction(commands) if transaction else core.batch(commands)
        self._write_pending()
        if not core.is_pending(request_id):  # CLIENT REPLY OFF: no reply at all
            return [None] * (len(commands) + 2 * transaction)
        values: list[Any] = (await self._replies([request_id]))[0].value
        return values

    async def _send_all(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Send any commands (``MULTI``, ``SUBSCRIBE``...), checked as a whole; their replies."""
        await self._room()
        ids = self._core.send_all(commands)
        self._write_pending()
        return await self._replies(ids)

    def _write_pending(self) -> None:
        self._stream.write_pending()
        self._queued.set()

    async def _replies(self, ids: list[int]) -> list[Reply]:
        """The replies to ``ids`` (null for ``CLIENT REPLY OFF``); cancelling abandons the rest."""
        is_pending = self._core.is_pending
        waiters = {i: self._wait_for(i) for i in ids if is_pending(i)}
        try:
            replies = []
            for i in ids:
                waiter = waiters.get(i)
                if waiter is None:
                    replies.append(Reply(None, None, i))
                    continue
                await waiter.done.wait()
                replies.append(waiter.result())
            return replies
        except BaseException:
            self._abandon(waiters)
            raise

    def _wait_for(self, request_id: int) -> _Waiter:
        waiter = self._waiters[request_id] = _Waiter()
        if self._paused:
            self._wake()  # the reader waits for room for messages: a reply is awaited now
        return waiter

    def _abandon(self, ids: Iterable[int]) -> None:
        for request_id in ids:
            if self._waiters.pop(request_id, None) is not None:
                self._core.cancel(request_id)  # still to come: the core reads and drops it

    async def _setup(self, options: dict[str, Any]) -> None:
        """Write the set-up commands together, read their replies together."""
        core = self._core
        names = ("protocol", "username", "password", "client_name", "db")
        ids = core.setup(**{name: options[name] for name in names if name in options})
        self._write_pending()
        error = core.setup_error(await self._replies(ids))
        if error is not None:
            raise reply_error(error)

    async def subscribe(self, *channels: Any) -> list[Any]:
        """Subscribe to channels; return the confirmations (``[kind, channel, count]`` each)."""
        return await self.execute("SUBSCRIBE", *channels)  # type: ignore[no-any-return]

    async def psubscribe(self, *patterns: Any) -> list[Any]:
        """Subscribe to channel patterns (``news.*``); as :meth:`subscribe`."""
        return await self.execute("PSUBSCRIBE", *patterns)  # type: ignore[no-any-return]

    async def unsubscribe(self, *channels: Any) -> list[Any]:
        """Unsubscribe from channels (all of them if none given); return the confirmations."""
        return await self.execute("UNSUBSCRIBE", *channels)  # type: ignore[no-any-return]

    async def punsubscribe(self, *patterns: Any) -> list[Any]:
        """Unsubscribe from patterns (all of them if none given); return the confirmations."""
        return await self.execute("PUNSUBSCRIBE", *patterns)  # type: ignore[no-any-return]

    async def get_message(self) -> Message:
        """Return the next pub/sub message (decoded if replies are), waiting; cancel-safe.

        Past ``max_queued_messages`` unread, the connection stops reading
        while no reply is awaited (the guide says more).

        Raises:
            UnicodeDecodeError: this message is not text (it is consumed).
            ConnectionLostError: the connection broke (after the messages before).
            StreamClosedError: the connection was closed on this side.
        """
        messages = self._messages
        while not len(messages):
            if self._error is not None:
                raise failure(self._error)
            await self._changed.wait()
        message = messages.take()
        if messages.has_room:
            self._wake()
        return message.decode(self._encoding) if self._decode else message

    def messages(self) -> AsyncIterator[Message]:
        """``async for message in connection.messages():`` until closed on this side.

        Raises what :meth:`get_message` raises, but StreamClosedError. Leaving
        the loop early is harmless (it is no generator to finalize).
        """
        return _Messages(self)

    # -- the tasks: a reader routing what arrives, a writer coalescing requests -----

    async def _run(self) -> None:
        """The reader and the writer; :meth:`aclose` ends them."""
        self._stopped = trio.Event()
        try:
            with self._tasks:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write_loop)
                    await self._read_loop()
                    nursery.cancel_scope.cancel()
        finally:
            self._stopped.set()

    async def _write_loop(self) -> None:
        stream = self._stream
        while True:
            await self._queued.wait()
            self._queued = trio.Event()
            try:
                await stream.drain()  # everything the tasks queued meanwhile: one write
            except StreamClosedError as exc:
                self._fail(exc)
                stream.abort()  # the reader sees it too
                return
            self._written.set()
            self._written = trio.Event()

    async def _read_loop(self) -> None:
        stream, waiters, messages = self._stream, self._waiters, self._messages
        try:
            while True:
                event: Any = await stream.receive()
                while event is not NEED_DATA:
                    kind = type(event)
                    if kind is Reply:
                        waiter = waiters.pop(event.request, None)
                        if waiter is not None:
                            waiter.reply = event
                            waiter.done.set()
                    elif kind is Message:
                        messages.put(event)  # decoded by get_message(): a bad one fails there
                        self._wake()
                    elif kind is Push:
                        self._on_push(event)
                    elif isinstance(event, ConnectionClosed):
                        raise ConnectionLostError("the server closed the connection")
                    # Before every parse: once no reply is awaited, messages wait for room.
                    while not waiters and messages.full and self._error is None:
                        self._paused = True
                        await self._changed.wait()
                    self._paused = False
                    event = stream.receive_nowait()
        except trio.Cancelled:
            self._fail(StreamClosedError("the connection was closed on this side"))
            raise
        except Exception as exc:
            if not isinstance(exc, (StreamClosedError, RemoteProtocolError)):
                logger.exception("the Redis reader failed")  # a bug: fail loudly, hang nobody
            self._fail(exc)
            stream.abort()

    def _on_push(self, push: Push) -> None:
        handler = self.push_handler
        if handler is not None:
            try:
                handler(push)
            except Exception:
                logger.exception("the push handler failed on %r", push)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _fail(self, exc: BaseException) -> None:
        """The connection is over: every waiting caller gets a clear exception."""
        if self._error is None:
            self._error = exc
        waiters = list(self._waiters.values())
        self._waiters.clear()
        for waiter in waiters:
            waiter.error = failure(self._error)
            waiter.done.set()
        self._written.set()  # callers waiting for room see the end
        self._wake()

    async def aclose(self) -> None:
        """Close the connection and end its tasks; waiting callers get StreamClosedError.

        Calling it again is harmless.
        """
        if self._error is None:
            self._fail(StreamClosedError("the connection was closed on this side"))
        self._tasks.cancel()
        try:
            if self._stopped is not None:
                await self._stopped.wait()
            await self._stream.aclose()
        except BaseException:
            self._stream.abort()
            raise

    async def _stopped_or_failed(self) -> None:
        """Wait until the connection has failed or been closed."""
        while self._error is None:
            await self._changed.wait()

    async def __aenter__(self) -> RedisConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else f"RESP{self.protocol}"
        return f"<RedisConnection {self._stream.get_extra_info('peername')!r} {state}>"


class _Messages:
    """What :meth:`RedisConnection.messages` returns."""

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self._connection.get_message()
        except StreamClosedError as error:
            if isinstance(error, ConnectionLostError):
                raise
            raise StopAsyncIteration from None


class Pipeline:
    """A batch of commands sent in one write, their replies returned together.

    Other tasks never get between its commands. With ``transaction=True``
    it runs as ``MULTI``/``EXEC``, atomically.

    Args:
        connection: The connection to send on.
        transaction: Wrap the batch in ``MULTI``/``EXEC``.
    """

    def __init__(self, connection: RedisConnection, *, transaction: bool = False) -> None:
        self._connection = connection
        self._transaction = transaction
        self._commands: list[tuple[Any, ...]] = []

    def add(self, *args: Any) -> Pipeline:
        """Queue a command (nothing is sent yet); return the pipeline."""
        self._commands.append(args)
        return self

    def __len__(self) -> int:
        """How many commands are queued."""
        return len(self._commands)

    async def execute(self, *, raise_on_error: bool = True) -> list[Any]:
        """Send the queued commands (emptying the queue); return their replies, decoded.

        Cancelling abandons the replies still to come; the connection stays in sync.

        Args:
            raise_on_error: Raise the first error reply, or leave errors in place.

        Raises:
            ReplyError: the first command that failed (with ``raise_on_error``),
                or ``EXECABORT`` (a transaction refused).
            WatchError: a watched key changed; the transaction did not run.
            LocalProtocolError: a command the core refuses; nothing was sent.
            ConnectionLostError: the connection broke.
        """
        commands, self._commands = self._commands, []
        if not commands:
            await trio.lowlevel.checkpoint()
            return []
        connection = self._connection
        encoding = connection._encoding if connection._decode else None
        if self._transaction:
            values = transaction_result(await connection._batch(commands, True), encoding)
        else:
            try:
                values = await connection._batch(commands, False)
            except LocalProtocolError:  # MULTI, SUBSCRIBE...: not batched, sent as they are
                values = [reply.value for reply in await connection._send_all(commands)]
            values = batch_values(values, encoding)
        return raise_first_error(values) if raise_on_error else values
