"""A Redis client on asyncio: automatic pipelining, cancel-safe, RESP3 first.

:func:`connect` opens one :class:`RedisConnection`; :class:`Client` keeps one
shared connection, reconnects it when it breaks, and opens dedicated ones for
pub/sub and ``WATCH``. The protocol work is done by the ``tidewire-resp``
core, which matches every reply to the request it answers, so:

- any number of tasks may share a connection: commands issued in the same
  event-loop turn go out in one write (a command on an idle connection goes
  at once), and each caller gets its own reply;
- a caller cancelled while waiting (or timed out) abandons only its own
  request: the reply is read and dropped when it comes, and the connection
  stays usable and in sync;
- RESP3 pushes (pub/sub messages, client-side caching invalidations) never
  reach a caller as a reply, even when Redis 7.0 nests one inside ``EXEC``.
- pub/sub messages wait in a bounded queue: a subscriber that reads slowly
  stops the connection reading, so the server holds the flood back, and
  replies are never held up behind unread messages.

Install with ``pip install "tidewire-asyncio[resp]"``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

try:
    from tidewire_resp import (
        ERROR_CLASSES,
        AskError,
        BusyError,
        BusyGroupError,
        BusyLoadingError,
        ClientConnection,
        ClusterDownError,
        CrossSlotError,
        ErrorReply,
        ExecAbortError,
        MasterDownError,
        Message,
        MisconfError,
        MovedError,
        NoAuthError,
        NoGroupError,
        NoPermError,
        NoProtoError,
        NoScriptError,
        OutOfMemoryError,
        Push,
        ReadOnlyError,
        Reply,
        ReplyError,
        TryAgainError,
        WatchError,
        WrongPassError,
        WrongTypeError,
        parse_url,
        reply_error,
    )
    from tidewire_resp import decode_value as _convert
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_asyncio.resp needs the RESP core:"
        ' pip install "tidewire-asyncio[resp]" (or tidewire-resp)'
    ) from exc

from tidewire import NEED_DATA, ConnectionClosed, LocalProtocolError, RemoteProtocolError

from ._closing import AsyncClosing
from ._pubsub import DEFAULT_MAX_QUEUED_MESSAGES, MessageQueue, check_max_queued_messages
from .errors import ConnectionLostError, StreamClosedError
from .network import connect as _connect_stream
from .stream import EventStream

__all__ = [
    "ERROR_CLASSES",
    "AskError",
    "BusyError",
    "BusyGroupError",
    "BusyLoadingError",
    "Client",
    "ClusterDownError",
    "CrossSlotError",
    "DedicatedConnection",
    "ExecAbortError",
    "MasterDownError",
    "Message",
    "MisconfError",
    "MovedError",
    "NoAuthError",
    "NoGroupError",
    "NoPermError",
    "NoProtoError",
    "NoScriptError",
    "OutOfMemoryError",
    "Pipeline",
    "ReadOnlyError",
    "RedisConnection",
    "ReplyError",
    "TryAgainError",
    "WatchError",
    "WrongPassError",
    "WrongTypeError",
    "connect",
    "parse_url",
    "reply_error",
]

logger = logging.getLogger("tidewire_asyncio.resp")

# Deep enough for any real reply; shallow enough for the recursive value
# conversion below to stay far from Python's recursion limit.
_MAX_DEPTH = 200
# Wait for the transport to drain once this many bytes wait to be written.
_WRITE_LIMIT = 1024 * 1024

PushHandler = Callable[[Push], object]
# Reply values that _convert() returns as they are (the second set: when not decoding).
_AS_IS = frozenset((int, float, bool, type(None)))
_AS_IS_BYTES = _AS_IS | {bytes}
_NO_REPLY = Reply(None)


class _Batch:
    """The replies of a pipeline, collected by the reader as they come."""

    __slots__ = ("first", "future", "left", "replies")

    def __init__(self, first: int, count: int, future: asyncio.Future[list[Reply]]) -> None:
        self.first = first
        self.left = count
        self.replies: list[Reply] = [_NO_REPLY] * count
        self.future = future


class RedisConnection(AsyncClosing):
    """One connection to a Redis server, shared by as many tasks as you like.

    Made by :func:`connect`. One reader task reads every reply and hands it
    to the caller that sent the request; commands issued during one turn of
    the event loop are written together (automatic pipelining), except that
    a command on an idle connection, with no other caller waiting, is
    written at once.

    Use it with ``async with`` or call :meth:`aclose`. After the connection
    breaks, every waiting caller gets
    :class:`~tidewire_asyncio.ConnectionLostError` and later calls raise it
    too; :class:`Client` reconnects for you.

    Blocking commands (``BLPOP``...) hold up the replies queued behind them,
    as on any Redis connection: give them a connection of their own
    (:meth:`Client.connection`).

    Args:
        stream: An event stream around a fresh
            :class:`~tidewire_resp.ClientConnection` (:func:`connect` makes
            one; build your own for transports it does not open). The
            connection takes it over and starts reading at once; it sends
            no set-up commands.
        decode_responses: As for :func:`connect`.
        encoding: As for :func:`connect`.
        push_handler: See :attr:`push_handler`.
        max_queued_messages: As for :func:`connect`.

    Raises:
        TypeError: the stream's core is not a ``ClientConnection``.
        ValueError: ``max_queued_messages`` is not a positive int.
    """

    def __init__(
        self,
        stream: EventStream[Any, Any],
        *,
        decode_responses: bool = False,
        encoding: str = "utf-8",
        push_handler: PushHandler | None = None,
        max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
    ) -> None:
        core = stream.connection
        if not isinstance(core, ClientConnection):
            raise TypeError(
                f"a RedisConnection needs a ClientConnection, not {type(core).__name__}"
            )
        self._stream = stream
        self._core: ClientConnection = core
        self._decode = decode_responses
        self._encoding = encoding
        self.push_handler = push_handler
        self._loop = asyncio.get_running_loop()
        self._waiters: dict[int, asyncio.Future[Reply] | _Batch] = {}
        self._flush_scheduled = False
        self._error: BaseException | None = None
        self._messages: MessageQueue[Message] = MessageQueue(max_queued_messages)
        self._reader = self._loop.create_task(self._read_loop())

    # -- state ----------------------------------------------------------------

    push_handler: PushHandler | None
    """Called with every RESP3 push that is not a pub/sub message (client-side
    caching ``invalidate`` pushes, unsolicited ``unsubscribe`` ...), from the
    reader task; it must not block. ``None`` drops them. A push that arrives
    behind unread pub/sub messages waits with them (see :meth:`get_message`)."""

    @property
    def protocol(self) -> int:
        """The protocol in use, 3 or 2 (2 when the server refused ``HELLO 3``)."""
        return self._core.protocol

    @property
    def connection(self) -> ClientConnection:
        """The RESP core (its :attr:`~tidewire_resp.ClientConnection.subscriptions`, limits ...)."""
        return self._core

    @property
    def events(self) -> EventStream[Any, Any]:
        """The underlying event stream (``get_extra_info`` and the like)."""
        return self._stream

    @property
    def closed(self) -> bool:
        """True once the connection is closed or broken; it cannot be used again."""
        return self._error is not None

    @property
    def pending(self) -> int:
        """How many requests await their reply, abandoned ones included."""
        return self._core.pending

    @property
    def queued_messages(self) -> int:
        """How many pub/sub messages were received and wait for :meth:`get_message`.

        At most ``max_queued_messages`` while no reply is awaited (see
        :meth:`get_message`).
        """
        return len(self._messages)

    # -- commands -------------------------------------------------------------

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        """Send one command and return its reply.

        Arguments may be ``bytes``, ``str`` (UTF-8), ``int``, ``float``,
        ``bytearray`` or ``memoryview``. The reply is converted: bulk
        strings are ``bytes`` and simple strings
        :class:`~tidewire_resp.SimpleString`, a ``bytes`` subclass equal to
        ``b"OK"`` (both ``str`` when decoding), integers ``int`` (big numbers
        :class:`~tidewire_resp.BigNumber`, an ``int`` subclass), doubles
        ``float``, nulls ``None``, arrays ``list``, maps ``dict`` and sets
        ``set`` (:class:`~tidewire_resp.MapPairs` and
        :class:`~tidewire_resp.SetMembers` where a ``dict`` or ``set`` would
        lose something or hash keys a peer chooses), verbatim strings their
        text; an error inside an array (an ``EXEC`` result) is a
        :class:`ReplyError` instance in its place.

        Cancelling the call (or a timeout around it) abandons this request
        only: the connection stays in sync. The command may still have run.

        Args:
            args: The command name and its arguments.
            decode: Decode strings to ``str`` with the connection's encoding
                (``True``) or not (``False``); ``None`` follows the
                connection (:func:`connect`'s ``decode_responses``).

        Raises:
            ReplyError: the server answered with an error (the subclass
                follows the code).
            LocalProtocolError: an argument RESP cannot carry (``None``,
                ``bool``...); nothing was sent.
            ConnectionLostError: the connection broke before the reply came.
            StreamClosedError: the connection was closed on this side.
        """
        reply = await self.request(*args)
        value = reply.value
        kind = type(value)
        if decode is None:
            decode = self._decode
        if kind is bytes and not decode:
            return value  # the common case, without the walk
        if kind is ErrorReply:
            raise reply_error(value.message)
        return _convert(value, self._encoding if decode else None)

    async def request(self, *args: Any) -> Reply:
        """Send one command and return the core's :class:`~tidewire_resp.Reply`, unconverted.

        For what :meth:`execute` hides: RESP3 attributes
        (``reply.attributes``), verbatim formats, error replies as
        :class:`~tidewire_resp.ErrorReply` values (not raised).

        Raises:
            LocalProtocolError: an argument RESP cannot carry; nothing sent.
            ConnectionLostError: the connection broke before the reply came.
            StreamClosedError: the connection was closed on this side.
        """
        if self._write_backlog() > _WRITE_LIMIT:
            # The peer is not keeping up: wait before queuing more (nothing sent yet).
            await self._stream.flush()
        if self._error is not None:
            raise self._failure()
        core = self._core
        request_id = core.command(*args)
        if not core.is_pending(request_id):
            # CLIENT REPLY OFF/SKIP: the server will not answer this one.
            self._schedule_flush()
            return Reply(None, None, request_id)
        future: asyncio.Future[Reply] = self._loop.create_future()
        waiters = self._waiters
        waiters[request_id] = future
        # A reader paused on unread messages must now read on to this reply.
        self._messages.wake_producer()
        try:
            if not self._flush_scheduled:
                if len(waiters) == 1:
                    # Nobody else is waiting, so no batch is forming: write
                    # now, one loop turn less per round trip for a lone caller.
                    self._flush()
                else:
                    self._flush_scheduled = True
                    self._loop.call_soon(self._flush)
            return await future
        except BaseException:
            # Cancelled or broken: if the reply has not come, abandon it so
            # the core reads and drops it, and nobody else ever gets it.
            if waiters.pop(request_id, None) is not None:
                core.cancel(request_id)
            raise

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """Start a batch of commands sent in one write; see :class:`Pipeline`.

        With ``transaction=True`` the batch runs as ``MULTI``/``EXEC``.
        """
        return Pipeline(self, transaction=transaction)

    async def _send_as_one(
        self, commands: list[tuple[Any, ...]], *, transaction: bool
    ) -> list[Any]:
        """Send commands as one core request; return the values of their replies in order.

        One request, one future and one reply for the whole batch: see
        :meth:`tidewire_resp.ClientConnection.batch` and, with
        ``transaction``, :meth:`~tidewire_resp.ClientConnection.transaction`
        (``MULTI``'s reply first, ``EXEC``'s last). The core encodes all of
        it before writing any, so a refused command leaves nothing behind.

        Raises:
            LocalProtocolError: the core refused the batch; nothing was sent.
        """
        if self._write_backlog() > _WRITE_LIMIT:
            await self._stream.flush()  # as in request(): nothing sent yet
        if self._error is not None:
            raise self._failure()
        core = self._core
        request_id = core.transaction(commands) if transaction else core.batch(commands)
        if not core.is_pending(request_id):
            # CLIENT REPLY OFF: the server answers none of them.
            self._schedule_flush()
            return [None] * (len(commands) + 2 if transaction else len(commands))
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._waiters[request_id] = future
        self._messages.wake_producer()  # as in request()
        self._schedule_flush()
        try:
            reply = await future
        except BaseException:
            # As in request(): abandon the batch if its reply has not come.
            if self._waiters.pop(request_id, None) is not None:
                core.cancel(request_id)
            raise
        values: list[Any] = reply.value
        return values

    async def _send_one_by_one(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Send commands the core will not batch (``MULTI``, ``SUBSCRIBE``...) back to back.

        Nothing is sent unless every command can be: each is first encoded
        by a scratch core, which raises what ours would. Should sending
        still fail part-way, what was queued is abandoned and a ``MULTI``
        it opened is discarded, so no reply reaches the wrong caller.
        """
        scratch = ClientConnection()
        for args in commands:
            scratch.command(*args)  # raises for an argument RESP cannot carry
        if self._write_backlog() > _WRITE_LIMIT:
            await self._stream.flush()  # as in request(): nothing sent yet
        if self._error is not None:
            raise self._failure()
        core = self._core
        before = core.pending
        was_in_transaction = core.in_transaction
        queued: list[int] = []
        try:
            for args in commands:
                queued.append(core.command(*args))
        except BaseException:
            # Abandon what was queued, and end a MULTI this batch left open.
            if core.in_transaction and not was_in_transaction:
                queued.append(core.command("DISCARD"))
            for request_id in queued:
                core.cancel(request_id)
            self._schedule_flush()
            raise
        return await self._wait_for(queued[0], len(queued), core.pending - before)

    async def _wait_for(self, first: int, count: int, pending: int) -> list[Reply]:
        """Wait for the replies to requests ``first`` .. ``first + count - 1``.

        ``pending`` is how many of them expect a reply; the others (under
        ``CLIENT REPLY OFF``/``SKIP``) get a null reply at once.
        """
        core = self._core
        future: asyncio.Future[list[Reply]] = self._loop.create_future()
        batch = _Batch(first, count, future)
        waiters = self._waiters
        ids = range(first, first + count)
        if pending == count:
            for request_id in ids:
                waiters[request_id] = batch
        else:
            for request_id in ids:
                if core.is_pending(request_id):
                    waiters[request_id] = batch
                else:
                    batch.left -= 1
                    batch.replies[request_id - first] = Reply(None, None, request_id)
            if batch.left == 0:
                future.set_result(batch.replies)
        self._messages.wake_producer()  # as in request()
        self._schedule_flush()
        try:
            return await future
        except BaseException:
            for request_id in ids:
                if waiters.pop(request_id, None) is not None:
                    core.cancel(request_id)
            raise

    async def _setup(
        self,
        *,
        protocol: int,
        username: str | None,
        password: str | None,
        client_name: str | None,
        db: int | None,
    ) -> None:
        """Write the set-up commands together, read their replies together."""
        core = self._core
        before = core.pending
        ids = core.setup(
            protocol=protocol,
            username=username if password is not None else None,
            password=password,
            client_name=client_name,
            db=db,
        )
        if not ids:
            return
        replies = await self._wait_for(ids[0], len(ids), core.pending - before)
        error = core.setup_error(replies)
        if error is not None:
            raise reply_error(error)

    # -- pub/sub --------------------------------------------------------------

    async def subscribe(self, *channels: Any) -> list[Any]:
        """Subscribe to channels; return the confirmations (``[kind, channel, count]`` each).

        Messages then come from :meth:`messages` / :meth:`get_message`. On a
        RESP2 connection, only (un)subscribe commands and ``PING`` are
        allowed while subscribed; RESP3 allows every command.
        """
        return await self._subscription("SUBSCRIBE", channels)

    async def psubscribe(self, *patterns: Any) -> list[Any]:
        """Subscribe to channel patterns (``news.*``); as :meth:`subscribe`."""
        return await self._subscription("PSUBSCRIBE", patterns)

    async def unsubscribe(self, *channels: Any) -> list[Any]:
        """Unsubscribe from channels (all of them if none given); return the confirmations."""
        return await self._subscription("UNSUBSCRIBE", channels)

    async def punsubscribe(self, *patterns: Any) -> list[Any]:
        """Unsubscribe from patterns (all of them if none given); return the confirmations."""
        return await self._subscription("PUNSUBSCRIBE", patterns)

    async def _subscription(self, name: str, targets: tuple[Any, ...]) -> list[Any]:
        result: list[Any] = await self.execute(name, *targets)
        return result

    async def get_message(self) -> Message:
        """Return the next pub/sub message, waiting for one.

        Cancelling the call loses nothing. At most ``max_queued_messages``
        (:func:`connect`) messages wait here: while that many do, the
        connection stops reading until the application has taken half of
        them, and the rest waits in the socket and at the server. Nothing
        is dropped on this side; the server applies its
        ``client-output-buffer-limit pubsub`` (by default, Redis drops a
        subscriber for which over 32 MB wait, or over 8 MB for a minute),
        which shows
        here as :class:`~tidewire_asyncio.ConnectionLostError` after the
        messages received before.

        Unread messages never hold up a reply: while a caller awaits one,
        the connection reads on to it, queuing the messages in front of it
        past the bound, and stops again once no reply is awaited. So the
        task that reads messages may also (un)subscribe or run commands. A
        blocking command (``BLPOP`` ...) keeps the connection reading for
        as long as it blocks: keep those off subscribed connections. Pushes
        for :attr:`push_handler` that arrive behind unread messages wait
        with them.

        On a connection that decodes replies, a message is decoded here, as
        it is returned. One that is not valid text in the encoding raises
        :class:`UnicodeDecodeError` (its ``object`` holds the raw bytes)
        and is consumed: the next call returns the next message, and the
        connection and its other callers are not affected.

        Raises:
            UnicodeDecodeError: this message could not be decoded, as above.
            ConnectionLostError: the connection broke (messages received
                before the break are returned first).
            StreamClosedError: the connection was closed on this side.
        """
        messages = self._messages
        while not messages:
            if self._error is not None:
                raise self._failure()
            await messages.wait_for_item()
        message = messages.take()
        return message.decode(self._encoding) if self._decode else message

    async def messages(self) -> AsyncIterator[Message]:
        """``async for message in connection.messages():`` every pub/sub message.

        Ends when the connection is closed on this side; raises
        :class:`~tidewire_asyncio.ConnectionLostError` if it breaks, and
        :class:`UnicodeDecodeError` for a message that cannot be decoded
        (see :meth:`get_message`), after which a new loop goes on with the
        next message.
        """
        while True:
            try:
                message = await self.get_message()
            except StreamClosedError:
                return
            yield message

    # -- the reader -----------------------------------------------------------

    async def _read_loop(self) -> None:
        stream = self._stream
        next_event = self._core.next_event
        waiters = self._waiters
        messages = self._messages
        try:
            while True:
                event: Any = await stream.receive()
                # Then take every event already parsable straight from the
                # core, without a coroutine per event: the stream feeds the
                # core one chunk at a time and keeps no protocol state, and
                # this client core writes nothing on its own.
                while event is not NEED_DATA:
                    kind = type(event)
                    if kind is Reply:
                        waiter = waiters.pop(event.request, None)
                        if isinstance(waiter, _Batch):
                            waiter.replies[event.request - waiter.first] = event
                            waiter.left -= 1
                            if waiter.left == 0 and not waiter.future.done():
                                waiter.future.set_result(waiter.replies)
                        elif waiter is not None and not waiter.done():
                            waiter.set_result(event)
                    elif kind is Message:
                        # Kept as bytes here and decoded by get_message(): a payload
                        # that is not valid text fails the one who reads it only.
                        self._messages.put(event)
                    elif kind is Push:
                        self._on_push(event)
                    elif isinstance(event, ConnectionClosed):
                        raise ConnectionLostError("the server closed the connection")
                    # MonitorOutput: MONITOR is not supported here; its lines are dropped.
                    # Checked before every parse, not only after a message: once
                    # the last awaited reply came, the next message must wait.
                    if not waiters and messages.full:
                        await self._wait_for_room()
                    event = next_event()
        except asyncio.CancelledError:
            self._fail(StreamClosedError("the connection was closed on this side"))
            raise
        except (ConnectionLostError, StreamClosedError, RemoteProtocolError) as exc:
            self._fail(exc)
            stream.abort()
        except Exception as exc:  # a bug: fail loudly rather than leave callers hanging
            logger.exception("the Redis reader failed")
            self._fail(exc)
            stream.abort()

    async def _wait_for_room(self) -> None:
        """Read nothing more while the messages queue is full and no reply is awaited.

        The bytes behind stay in the stream, which stops reading the socket
        once they pass its high-water mark; the server holds back the rest.
        A caller that starts waiting for a reply wakes this (see
        :meth:`request`), because its reply can only be reached by reading.
        """
        messages = self._messages
        while messages.full and not self._waiters and self._error is None:
            await messages.wait_for_room()

    def _on_push(self, push: Push) -> None:
        handler = self.push_handler
        if handler is not None:
            try:
                handler(push)
            except Exception:
                logger.exception("the push handler failed on %r", push)

    def _fail(self, exc: BaseException) -> None:
        """The connection is over: every waiting caller gets a clear exception."""
        if self._error is None:
            self._error = exc
        waiters = list(self._waiters.values())
        self._waiters.clear()
        for waiter in waiters:
            future: asyncio.Future[Any] = waiter.future if isinstance(waiter, _Batch) else waiter
            if not future.done():
                future.set_exception(self._failure())
        self._messages.wake()

    def _failure(self) -> Exception:
        error = self._error
        if type(error) is StreamClosedError:  # not a subclass: those mean the peer's end
            return StreamClosedError("the Redis connection was closed on this side")
        if isinstance(error, RemoteProtocolError):
            lost = ConnectionLostError(f"the Redis connection broke the protocol: {error}")
        else:
            lost = ConnectionLostError(
                f"the Redis connection was lost ({error});"
                " a command that was waiting may or may not have run"
            )
        lost.__cause__ = error
        return lost

    # -- writing --------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        # Everything the callers of this loop turn queued goes out in one write.
        self._flush_scheduled = False
        data = self._core.data_to_send()
        transport = self._stream.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _write_backlog(self) -> int:
        transport = self._stream.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    # -- closing --------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection; waiting callers get :class:`~tidewire_asyncio.StreamClosedError`.

        Calling it again is harmless.
        """
        if self._error is None:
            self._fail(StreamClosedError("the connection was closed on this side"))
        self._reader.cancel()
        await asyncio.wait([self._reader])
        await self._stream.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else f"RESP{self.protocol}"
        peer = self._stream.get_extra_info("peername")
        return f"<RedisConnection {peer!r} {state}>"


class Pipeline:
    """A batch of commands sent in one write, their replies returned together.

    Add commands with :meth:`add` (it returns the pipeline, to chain), then
    ``await`` :meth:`execute`. Other tasks sharing the connection never get
    between the commands of a batch. With ``transaction=True`` the batch is
    wrapped in ``MULTI``/``EXEC`` and runs atomically.

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
        """Send the queued commands and return their replies, converted as by ``execute``.

        The queue is emptied, so the pipeline can be reused. Cancelling
        abandons the replies still to come; the connection stays in sync.

        Args:
            raise_on_error: Raise the first error reply after every reply
                was read (``True``), or return errors as :class:`ReplyError`
                instances in their places (``False``).

        Raises:
            ReplyError: with ``raise_on_error``, the first command that
                failed; in a transaction, also :class:`ExecAbortError` when
                ``EXEC`` refused to run a transaction with a bad command.
            WatchError: a transaction did not run because a watched key changed.
            LocalProtocolError: a command the core refuses (an argument RESP
                cannot carry; in a transaction, a command that changes the
                connection's state); nothing was sent.
            ConnectionLostError: the connection broke.
        """
        commands, self._commands = self._commands, []
        if not commands:
            return []
        connection = self._connection
        encoding = connection._encoding if connection._decode else None
        if not self._transaction:
            try:
                batched = await connection._send_as_one(commands, transaction=False)
            except LocalProtocolError:
                # The core batches ordinary commands only: send the others
                # one by one (which raises if an argument is the trouble).
                replies = await connection._send_one_by_one(commands)
                batched = [reply.value for reply in replies]
            kinds = set(map(type, batched))
            if kinds <= _AS_IS or (encoding is None and kinds <= _AS_IS_BYTES):
                return batched  # nothing to convert, no error: no walk over the values
            values = [_convert(value, encoding) for value in batched]
        else:
            replies_values = await connection._send_as_one(commands, transaction=True)
            exec_value = replies_values[-1]
            if exec_value is None:
                raise WatchError("the transaction did not run: a watched key changed")
            if type(exec_value) is ErrorReply:
                # EXECABORT: report the queued command's own error if there is one.
                for value in replies_values[1:-1]:
                    if type(value) is ErrorReply:
                        raise reply_error(exec_value.message) from reply_error(value.message)
                raise reply_error(exec_value.message)
            values = _convert(exec_value, encoding)
        if raise_on_error:
            for value in values:
                if isinstance(value, ReplyError):
                    raise value
        return values


async def connect(
    url: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    path: str | None = None,
    db: int | None = None,
    username: str | None = None,
    password: str | None = None,
    ssl: _ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    client_name: str | None = None,
    protocol: int | None = None,
    decode_responses: bool = False,
    encoding: str = "utf-8",
    push_handler: PushHandler | None = None,
    connect_timeout: float | None = None,
    max_bulk_length: int = 512 * 1024 * 1024,
    max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
) -> RedisConnection:
    """Open a connection to Redis and set it up in one round trip.

    ``connect("redis://user:secret@host:6379/2")``, ``rediss://`` for TLS,
    ``unix:///run/redis.sock?db=1``; or keyword arguments, which override
    what the URL says. The set-up commands (``AUTH``, ``HELLO 3``,
    ``CLIENT SETNAME``, ``SELECT``) are written together and their replies
    read together. A server that refuses ``HELLO 3`` (before Redis 6) leaves
    the connection on RESP2; :attr:`RedisConnection.protocol` says which.

    Args:
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL (see
            :func:`parse_url`).
        host: The server's host name (default ``localhost``).
        port: The server's port (default 6379).
        path: A Unix socket path (instead of host and port).
        db: The database to ``SELECT``.
        username: The ACL user (with ``password``).
        password: The password to ``AUTH`` with.
        ssl: ``True`` for TLS with default settings, or an
            :class:`ssl.SSLContext`.
        server_hostname: The name to check the certificate against.
        client_name: Sent with ``CLIENT SETNAME``.
        protocol: 3 (RESP3, the default) or 2.
        decode_responses: Return strings as ``str`` rather than ``bytes``.
        encoding: The encoding for ``decode_responses`` (also for messages).
        push_handler: See :attr:`RedisConnection.push_handler`.
        connect_timeout: Seconds allowed to connect and set up.
        max_bulk_length: The longest string reply accepted (Redis's own
            limit, 512 MiB, by default).
        max_queued_messages: How many pub/sub messages may wait unread
            (1000 by default) before the connection stops reading; see
            :meth:`RedisConnection.get_message`.

    Raises:
        ReplyError: a set-up command failed (``WrongPassError`` ...).
        OSError: the connection could not be made.
        TimeoutError: ``connect_timeout`` passed.
        ValueError: a bad URL, ``protocol`` or ``max_queued_messages``.
    """
    options: dict[str, Any] = parse_url(url) if url is not None else {}
    given = {
        "host": host,
        "port": port,
        "path": path,
        "db": db,
        "username": username,
        "password": password,
        "ssl": ssl,
        "client_name": client_name,
        "protocol": protocol,
    }
    for name, value in given.items():
        if value is not None:
            options[name] = value
    chosen = options.get("protocol", 3)
    if chosen not in (2, 3):
        raise ValueError(f"protocol must be 2 or 3, not {chosen!r}")
    check_max_queued_messages(max_queued_messages)  # before connecting

    def factory() -> ClientConnection:
        return ClientConnection(max_depth=_MAX_DEPTH, max_bulk_length=max_bulk_length)

    async with asyncio.timeout(connect_timeout):
        if options.get("path") is not None:
            stream: EventStream[Any, Any] = EventStream(factory())
            await asyncio.get_running_loop().create_unix_connection(
                lambda: stream.protocol, options["path"]
            )
        else:
            stream = await _connect_stream(
                factory,
                options.get("host", "localhost"),
                options.get("port", 6379),
                ssl=options.get("ssl"),
                server_hostname=server_hostname,
            )
        connection = RedisConnection(
            stream,
            decode_responses=decode_responses,
            encoding=encoding,
            push_handler=push_handler,
            max_queued_messages=max_queued_messages,
        )
        try:
            await connection._setup(
                protocol=chosen,
                username=options.get("username"),
                password=options.get("password"),
                client_name=options.get("client_name"),
                db=options.get("db"),
            )
        except BaseException:
            await connection.aclose()
            raise
    return connection


class Client(AsyncClosing):
    """A Redis client that keeps one shared connection and reconnects it.

    Every command goes through one multiplexed :class:`RedisConnection`,
    opened on first use. The policy when it breaks: the callers waiting
    on it get :class:`~tidewire_asyncio.ConnectionLostError` (their commands
    may or may not have run, so nothing is retried behind your back), and
    the next command opens a fresh connection. Pub/sub, ``WATCH``
    transactions and blocking commands get dedicated connections from
    :meth:`pubsub` and :meth:`connection`, closed when their block ends.

    One multiplexed connection replaces a pool for ordinary commands: it
    pipelines concurrent callers, which is faster than spreading them over
    many connections.

    Args:
        url: As for :func:`connect`.
        options: Any other :func:`connect` keyword argument.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self._url = url
        self._options = options
        self._shared: RedisConnection | None = None
        self._opening: asyncio.Task[RedisConnection] | None = None
        self._closed = False

    async def _connection(self) -> RedisConnection:
        if self._closed:
            raise StreamClosedError("the client was closed")
        shared = self._shared
        if shared is not None and not shared.closed:
            return shared
        if self._opening is None:
            # One task opens; concurrent callers wait for the same connection.
            self._opening = asyncio.get_running_loop().create_task(
                connect(self._url, **self._options)
            )
        opening = self._opening
        try:
            self._shared = await asyncio.shield(opening)
        finally:
            if opening.done():
                self._opening = None
        return self._shared

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        """Run one command on the shared connection; see :meth:`RedisConnection.execute`."""
        connection = await self._connection()
        return await connection.execute(*args, decode=decode)

    async def pipeline_execute(
        self, commands: list[tuple[Any, ...]], *, transaction: bool = False
    ) -> list[Any]:
        """Run a batch on the shared connection; the same as a :class:`Pipeline`'s ``execute``."""
        connection = await self._connection()
        pipeline = connection.pipeline(transaction=transaction)
        for args in commands:
            pipeline.add(*args)
        return await pipeline.execute()

    def connection(self) -> DedicatedConnection:
        """``async with client.connection() as conn:`` a dedicated connection.

        For ``WATCH``/``MULTI``/``EXEC``, blocking commands and anything that
        must not share a connection. It is closed when the block ends.
        """
        return DedicatedConnection(self)

    def pubsub(self) -> DedicatedConnection:
        """``async with client.pubsub() as conn:`` a dedicated connection for pub/sub.

        Call :meth:`~RedisConnection.subscribe` on it and iterate over
        :meth:`~RedisConnection.messages`.
        """
        return DedicatedConnection(self)

    async def aclose(self) -> None:
        """Close the shared connection.

        Later calls raise :class:`~tidewire_asyncio.StreamClosedError`.
        Dedicated connections close with their own ``async with`` blocks.
        """
        self._closed = True
        if self._shared is not None:
            await self._shared.aclose()


class DedicatedConnection:
    """A connection of its own for an ``async with`` block (:meth:`Client.connection`).

    Entering opens a fresh :class:`RedisConnection` with the client's
    settings and returns it; leaving closes it.

    Args:
        client: The client whose settings to use.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._connection: RedisConnection | None = None

    async def __aenter__(self) -> RedisConnection:
        self._connection = await connect(self._client._url, **self._client._options)
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        await self._connection.aclose()
