"""A Redis client on asyncio: automatic pipelining, cancel-safe, RESP3 first.

:func:`connect` opens a :class:`RedisConnection` that tasks share; :class:`Client`
keeps one and reconnects it. The policy is the ``tidewire-resp`` core's; this is
the asyncio glue (a reader task, futures, a bounded message queue). Install with
``pip install "tidewire-asyncio[resp]"``; the Redis guide says the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

try:
    import tidewire_resp.errors as _errors
    from tidewire_resp import (
        ClientConnection,
        Command,
        Message,
        Push,
        Reply,
        connection_options,
        parse_url,
        raise_first_error,
        transaction_result,
    )
    from tidewire_resp.errors import *  # noqa: F403 - the error classes, re-exported as they are
    from tidewire_resp.errors import reply_error
    from tidewire_resp.sharing import (
        DEFAULT_MAX_QUEUED_MESSAGES,
        MAX_DEPTH,
        WRITE_LIMIT,
        PushHandler,
        RedisConnectionBase,
        batch_values,
        check_max_queued_messages,
        failure,
        reply_value,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_asyncio.resp needs the RESP core:"
        ' pip install "tidewire-asyncio[resp]" (or tidewire-resp)'
    ) from exc

from tidewire import NEED_DATA, ConnectionClosed, LocalProtocolError, RemoteProtocolError

from ._closing import AsyncClosing, Connecting
from .errors import ConnectionLostError, StreamClosedError
from .network import connect as _connect_stream
from .stream import EventStream

__all__ = [  # the core's error classes, then this module's own names
    *_errors.__all__,
    "Client",
    "DedicatedConnection",
    "Message",
    "Pipeline",
    "RedisConnection",
    "connect",
    "parse_url",
]

logger = logging.getLogger("tidewire_asyncio.resp")


class RedisConnection(RedisConnectionBase[EventStream[Any, Any]], AsyncClosing):
    """One connection to Redis, shared by any number of tasks (made by :func:`connect`).

    Commands sent in one loop turn leave in one write; a caller cancelled
    while waiting abandons only its own request. Replies are routed to
    their callers as they arrive, in the stream's data callback (no task).
    Once the connection breaks, waiting and later callers get
    :class:`~tidewire_asyncio.ConnectionLostError`.

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
    """Called as they arrive with every push that is not a pub/sub message
    (``invalidate``...); it must not block. ``None`` drops them."""

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiters: dict[int, asyncio.Future[Reply]] = {}
        self._message_waiter: asyncio.Future[None] | None = None  # get_message() waits here
        self._routing = False
        self._stalled = False  # routing stopped: messages are full and no reply is awaited
        self._stream.set_listener(self._route)
        self._route()

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
        if self._error is not None or self._stream.write_backlog > WRITE_LIMIT:
            await self._room()
        self._stream.send_nowait(Command(args))  # written with this loop turn's others
        core = self._core
        request_id = core.last_request
        if not core.is_pending(request_id):  # CLIENT REPLY OFF/SKIP: no reply will come
            return Reply(None, None, request_id)
        try:  # _replies() without its lists: the hot path
            return await self._wait_for(request_id)
        except BaseException:
            self._abandon((request_id,))
            raise

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """Start a batch of commands sent in one write (``MULTI``/``EXEC`` with ``transaction``)."""
        return Pipeline(self, transaction=transaction)

    async def _room(self) -> None:
        """Wait while the peer is not keeping up (nothing is sent yet); refuse if broken."""
        if self._stream.write_backlog > WRITE_LIMIT:
            await self._stream.drain()
        if self._error is not None:
            raise failure(self._error)

    async def _batch(self, commands: list[tuple[Any, ...]], transaction: bool) -> list[Any]:
        """Send commands as one core request (``batch()`` or ``transaction()``); its values."""
        await self._room()
        core = self._core
        request_id = core.transaction(commands) if transaction else core.batch(commands)
        self._stream.write_pending()
        if not core.is_pending(request_id):  # CLIENT REPLY OFF: no reply at all
            return [None] * (len(commands) + 2 * transaction)
        values: list[Any] = (await self._replies([request_id]))[0].value
        return values

    async def _send_all(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        """Send any commands (``MULTI``, ``SUBSCRIBE``...), checked as a whole; their replies."""
        await self._room()
        ids = self._core.send_all(commands)
        self._stream.write_pending()
        return await self._replies(ids)

    async def _replies(self, ids: list[int]) -> list[Reply]:
        """The replies to ``ids`` (null for ``CLIENT REPLY OFF``); cancelling abandons the rest."""
        is_pending = self._core.is_pending
        futures = {i: self._wait_for(i) for i in ids if is_pending(i)}
        try:
            return [await futures[i] if i in futures else Reply(None, None, i) for i in ids]
        except BaseException:
            self._abandon(futures)
            raise

    def _wait_for(self, request_id: int) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = self._loop.create_future()
        self._waiters[request_id] = future
        if self._stalled:
            self._resume()  # a reply is awaited: read on past the unread messages
        return future

    def _abandon(self, ids: Iterable[int]) -> None:
        for request_id in ids:
            if self._waiters.pop(request_id, None) is not None:
                self._core.cancel(request_id)  # still to come: the core reads and drops it

    async def _setup(self, options: dict[str, Any]) -> None:
        """Write the set-up commands together, read their replies together."""
        core = self._core
        names = ("protocol", "username", "password", "client_name", "db")
        ids = core.setup(**{name: options[name] for name in names if name in options})
        self._stream.write_pending()
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
        while not messages:
            if self._error is not None:
                raise failure(self._error)
            self._message_waiter = self._loop.create_future()
            try:
                await self._message_waiter
            finally:
                self._message_waiter = None
        message = messages.take()
        if self._stalled and messages.has_room:
            self._resume()
        return message.decode(self._encoding) if self._decode else message

    async def messages(self) -> AsyncIterator[Message]:
        """``async for message in connection.messages():`` until closed on this side.

        Raises what :meth:`get_message` raises, but StreamClosedError.
        """
        while True:
            try:
                message = await self.get_message()
            except StreamClosedError as error:
                if isinstance(error, ConnectionLostError):
                    raise
                return
            yield message

    def _route(self) -> None:
        """Hand every parsed reply, message and push to whoever waits for it."""
        if self._routing or self._error is not None:
            return
        self._routing = True  # what this calls may call the stream, which may call us
        stream, waiters, messages = self._stream, self._waiters, self._messages
        try:
            while waiters or not messages.full:  # else messages wait for room, unparsed
                event: Any = stream.receive_nowait()
                kind = type(event)
                if kind is Reply:
                    waiter = waiters.pop(event.request, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(event)
                elif kind is Message:
                    messages.put(event)  # decoded by get_message(): a bad one fails there
                    _wake(self._message_waiter)
                elif kind is Push:
                    self._on_push(event)
                elif event is NEED_DATA:
                    return
                elif isinstance(event, ConnectionClosed):
                    raise ConnectionLostError("the server closed the connection")
            self._stalled = True
        except Exception as exc:
            if not isinstance(exc, (StreamClosedError, RemoteProtocolError)):
                logger.exception("routing Redis replies failed")  # a bug: fail loudly, hang nobody
            self._fail(exc)
            stream.abort()
        finally:
            self._routing = False

    def _resume(self) -> None:
        self._stalled = False
        self._route()

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
            if not waiter.done():
                waiter.set_exception(failure(self._error))
        _wake(self._message_waiter)

    async def aclose(self) -> None:
        """Close the connection; waiting callers get StreamClosedError.

        Calling it again is harmless.
        """
        if self._error is None:
            self._fail(StreamClosedError("the connection was closed on this side"))
        await self._stream.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else f"RESP{self.protocol}"
        return f"<RedisConnection {self._stream.get_extra_info('peername')!r} {state}>"


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


def connect(
    url: str | None = None,
    *,
    decode_responses: bool = False,
    encoding: str = "utf-8",
    push_handler: PushHandler | None = None,
    connect_timeout: float | None = None,
    max_bulk_length: int = 512 * 1024 * 1024,
    max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
    **options: Any,
) -> Connecting[RedisConnection]:
    """Open a connection to Redis and set it up in one round trip: ``await`` or ``async with`` it.

    ``connect("redis://user:secret@host:6379/2")``, ``rediss://`` for TLS,
    ``unix:///run/redis.sock?db=1`` (see :func:`~tidewire_resp.parse_url`); keyword options
    override what the URL says: ``host``, ``port``, ``path``, ``db``,
    ``username``, ``password``, ``ssl``, ``server_hostname``,
    ``client_name``, ``protocol`` (3, or 2). The set-up (``AUTH``, ``HELLO
    3``, ``CLIENT SETNAME``, ``SELECT``) is one write; a server that refuses
    ``HELLO 3`` leaves RESP2 (:attr:`RedisConnection.protocol` says).

    Args:
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL.
        decode_responses: Return strings as ``str`` rather than ``bytes``.
        encoding: The encoding for ``decode_responses`` (also for messages).
        push_handler: See :attr:`RedisConnection.push_handler`.
        connect_timeout: Seconds allowed to connect and set up.
        max_bulk_length: The longest string reply accepted (512 MiB).
        max_queued_messages: How many pub/sub messages may wait unread
            (1000) before the connection stops reading.
        **options: The connection options above.

    Raises:
        ReplyError: a set-up command failed (``WrongPassError`` ...).
        OSError: the connection could not be made.
        TimeoutError: ``connect_timeout`` passed.
        TypeError: an option of another name.
        ValueError: a bad URL, ``protocol`` or ``max_queued_messages``.
    """
    merged = connection_options(url, **options)
    check_max_queued_messages(max_queued_messages)  # before connecting
    connection = {
        "decode_responses": decode_responses,
        "encoding": encoding,
        "push_handler": push_handler,
        "max_queued_messages": max_queued_messages,
    }
    return Connecting(_open(merged, connection, connect_timeout, max_bulk_length))


async def _open(
    options: dict[str, Any],
    connection: dict[str, Any],
    timeout: float | None,
    max_bulk_length: int,
) -> RedisConnection:
    def core() -> ClientConnection:
        return ClientConnection(max_depth=MAX_DEPTH, max_bulk_length=max_bulk_length)

    async with asyncio.timeout(timeout):
        path = options.get("path")
        stream = await _connect_stream(
            core,
            None if path else options.get("host", "localhost"),
            None if path else options.get("port", 6379),
            path=path,
            ssl=options.get("ssl"),
            server_hostname=options.get("server_hostname"),
        )
        opened = RedisConnection(stream, **connection)
        try:
            await opened._setup(options)
        except BaseException:
            await opened.aclose()
            raise
    return opened


class Client(AsyncClosing):
    """A Redis client that keeps one shared connection and reconnects it.

    The connection is opened on first use by a task the client owns
    (:meth:`aclose` ends it). When it breaks, its waiting callers get
    :class:`~tidewire_asyncio.ConnectionLostError` (nothing is retried) and
    the next command opens a fresh one.

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
        if self._opening is None:  # one task opens; concurrent callers wait for it
            self._opening = asyncio.get_running_loop().create_task(self._open())
        opening = self._opening
        try:
            self._shared = await asyncio.shield(opening)
        finally:
            if opening.done():
                self._opening = None
        return self._shared

    async def _open(self) -> RedisConnection:
        return await connect(self._url, **self._options)

    async def execute(self, *args: Any, decode: bool | None = None) -> Any:
        """Run one command on the shared connection; see :meth:`RedisConnection.execute`."""
        connection = await self._connection()
        return await connection.execute(*args, decode=decode)

    async def pipeline_execute(
        self, commands: list[tuple[Any, ...]], *, transaction: bool = False
    ) -> list[Any]:
        """Run a batch on the shared connection, as a :class:`Pipeline` would."""
        pipeline = (await self._connection()).pipeline(transaction=transaction)
        for args in commands:
            pipeline.add(*args)
        return await pipeline.execute()

    def connection(self) -> DedicatedConnection:
        """``async with client.connection() as conn:`` a connection of its own (``WATCH``...)."""
        return DedicatedConnection(self)

    def pubsub(self) -> DedicatedConnection:
        """``async with client.pubsub() as conn:`` a connection of its own for pub/sub."""
        return DedicatedConnection(self)

    async def aclose(self) -> None:
        """Close the shared connection (not dedicated ones) and end an opening one."""
        self._closed = True
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.cancel()
            await asyncio.wait([opening])
            if not opening.cancelled() and opening.exception() is None:
                self._shared = opening.result()
        if self._shared is not None:
            await self._shared.aclose()


class DedicatedConnection(Connecting[RedisConnection]):
    """A connection of its own, with a client's settings: ``async with`` (or ``await``) it.

    Args:
        client: The client whose settings to use.
    """

    def __init__(self, client: Client) -> None:
        super().__init__(client._open())


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
