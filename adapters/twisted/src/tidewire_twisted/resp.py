"""A Redis client on Twisted: automatic pipelining, cancel-safe Deferreds, RESP3 first.

:func:`connect` fires with a :class:`RedisConnection` that any number of
callers share; :class:`Client` keeps one and reconnects it. The policy is
the ``tidewire-resp`` core's; this is the Twisted glue (a reader coroutine,
Deferreds). Install with ``pip install "tidewire-twisted[resp]"``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.interfaces import IReactorTime

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
        "tidewire_twisted.resp needs the RESP core:"
        ' pip install "tidewire-twisted[resp]" (or tidewire-resp)'
    ) from exc

from tidewire import ConnectionClosed, LocalProtocolError, RemoteProtocolError

from ._endpoints import endpoint_for, tls_module
from ._waiting import wake
from .errors import ConnectionLostError, StreamClosedError
from .network import connect as _connect_stream
from .stream import EventStream, default_reactor

__all__ = [  # the core's error classes, then this module's own names
    *_errors.__all__,
    "Client",
    "Message",
    "Pipeline",
    "RedisConnection",
    "connect",
    "parse_url",
]

logger = logging.getLogger("tidewire_twisted.resp")


class RedisConnection(RedisConnectionBase[EventStream[Any, Any]]):
    """One connection to Redis, shared by any number of callers (made by :func:`connect`).

    Commands sent in one reactor turn leave in one write; cancelling a
    caller's Deferred abandons only its own request (the core reads and
    drops its reply). Once the connection breaks, waiting and later callers
    get :class:`~tidewire.ConnectionLostError`: no Deferred is left
    unfired.

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
        self._waiters: dict[int, Deferred[Reply]] = {}
        self._message_waiter: Deferred[None] | None = None  # get_message() waits here
        self._room: Deferred[None] | None = None  # the reader waits here while messages are full
        self._reader = Deferred.fromCoroutine(self._read())

    def execute(self, *args: Any, decode: bool | None = None) -> Deferred[Any]:
        """Send one command; the Deferred fires with its reply, decoded as the Redis guide says.

        ``decode``: strings as ``str`` or ``bytes``; ``None``: ``decode_responses``.
        Fails with ``ReplyError`` (the server's error reply, its subclass
        following the code), ``LocalProtocolError`` (an argument RESP cannot
        carry; nothing was sent), ``ConnectionLostError`` or ``StreamClosedError``.
        """
        encoding = self._encoding if (self._decode if decode is None else decode) else None
        return self.request(*args).addCallback(lambda reply: reply_value(reply.value, encoding))

    def request(self, *args: Any) -> Deferred[Reply]:
        """Send one command; the Deferred fires with the core's :class:`~tidewire_resp.Reply`."""
        if self._error is not None or self._stream.write_backlog > WRITE_LIMIT:
            return Deferred.fromCoroutine(self._request(args))  # waits for room, or fails
        try:  # the usual case, with no coroutine: a Deferred per call is all Twisted needs
            return self._send_request(args)
        except Exception:
            return fail()

    async def _request(self, args: tuple[Any, ...]) -> Reply:
        await self._ready()
        return await self._send_request(args)

    def _send_request(self, args: tuple[Any, ...]) -> Deferred[Reply]:
        self._stream.send_nowait(Command(args))  # written with this reactor turn's others
        request_id = self._core.last_request
        if not self._core.is_pending(request_id):  # CLIENT REPLY OFF/SKIP: no reply will come
            return succeed(Reply(None, None, request_id))
        return self._wait_for(request_id)

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """Start a batch of commands sent in one write (``MULTI``/``EXEC`` with ``transaction``)."""
        return Pipeline(self, transaction=transaction)

    async def _ready(self) -> None:
        """Wait while the peer is not keeping up (nothing is sent yet); refuse if broken."""
        if self._stream.write_backlog > WRITE_LIMIT:
            await self._stream.drain()
        if self._error is not None:
            raise failure(self._error)

    async def _batch(self, commands: list[tuple[Any, ...]], transaction: bool) -> list[Any]:
        await self._ready()
        core = self._core
        request_id = core.transaction(commands) if transaction else core.batch(commands)
        self._stream.write_pending()
        if not core.is_pending(request_id):  # CLIENT REPLY OFF: no reply at all
            return [None] * (len(commands) + 2 * transaction)
        values: list[Any] = (await self._wait_for(request_id)).value
        return values

    async def _send_all(self, commands: list[tuple[Any, ...]]) -> list[Reply]:
        await self._ready()
        ids = self._core.send_all(commands)
        self._stream.write_pending()
        return await self._replies(ids)

    async def _replies(self, ids: list[int]) -> list[Reply]:
        """The replies to ``ids`` (null for ``CLIENT REPLY OFF``); cancelling abandons the rest."""
        waiting = {i: self._wait_for(i) for i in ids if self._core.is_pending(i)}
        try:
            return [await waiting[i] if i in waiting else Reply(None, None, i) for i in ids]
        except BaseException:
            self._abandon(waiting)
            raise

    def _wait_for(self, request_id: int) -> Deferred[Reply]:
        waiter: Deferred[Reply] = Deferred(lambda _: self._abandon((request_id,)))
        self._waiters[request_id] = waiter
        wake(self._room)  # a reply is awaited: read on past the unread messages
        return waiter

    def _abandon(self, ids: Iterable[int]) -> None:
        for request_id in ids:
            if self._waiters.pop(request_id, None) is not None:
                self._core.cancel(request_id)  # still to come: the core reads and drops it

    async def _setup(self, options: dict[str, Any]) -> None:
        names = ("protocol", "username", "password", "client_name", "db")
        ids = self._core.setup(**{name: options[name] for name in names if name in options})
        self._stream.write_pending()
        error = self._core.setup_error(await self._replies(ids))
        if error is not None:
            raise reply_error(error)

    def subscribe(self, *channels: Any) -> Deferred[Any]:
        """Subscribe to channels; fires with the confirmations (``[kind, channel, count]`` each)."""
        return self.execute("SUBSCRIBE", *channels)

    def psubscribe(self, *patterns: Any) -> Deferred[Any]:
        """Subscribe to channel patterns (``news.*``); as :meth:`subscribe`."""
        return self.execute("PSUBSCRIBE", *patterns)

    def unsubscribe(self, *channels: Any) -> Deferred[Any]:
        """Unsubscribe from channels (all of them if none given); fires with the confirmations."""
        return self.execute("UNSUBSCRIBE", *channels)

    def punsubscribe(self, *patterns: Any) -> Deferred[Any]:
        """Unsubscribe from patterns (all of them if none given); fires with the confirmations."""
        return self.execute("PUNSUBSCRIBE", *patterns)

    def get_message(self) -> Deferred[Message]:
        """A Deferred firing with the next pub/sub message (decoded if replies are).

        Cancelling it takes nothing. Past ``max_queued_messages`` unread, the
        connection stops reading while no reply is awaited.
        """
        return Deferred.fromCoroutine(self._get_message())

    async def _get_message(self) -> Message:
        messages = self._messages
        while not messages:
            if self._error is not None:
                raise failure(self._error)
            self._message_waiter = Deferred()
            try:
                await self._message_waiter
            finally:
                self._message_waiter = None
        message = messages.take()
        if messages.has_room:
            wake(self._room)
        return message.decode(self._encoding) if self._decode else message

    async def messages(self) -> AsyncIterator[Message]:
        """``async for message in connection.messages():`` until closed on this side.

        Raises what :meth:`get_message` raises, but StreamClosedError.
        """
        while True:
            try:
                message = await self._get_message()
            except StreamClosedError as error:
                if isinstance(error, ConnectionLostError):
                    raise
                return
            yield message

    async def _read(self) -> None:
        """The reader: hands every reply, message and push to whoever waits for it."""
        stream, waiters, messages = self._stream, self._waiters, self._messages
        try:
            while True:
                while not waiters and messages.full:  # messages wait for room, unparsed
                    self._room = Deferred()
                    await self._room
                    self._room = None
                event: Any = await stream.receive()
                kind = type(event)
                if kind is Reply:
                    waiter = waiters.pop(event.request, None)
                    if waiter is not None and not waiter.called:
                        waiter.callback(event)
                elif kind is Message:
                    messages.put(event)  # decoded by get_message(): a bad one fails there
                    wake(self._message_waiter)
                elif kind is Push:
                    self._on_push(event)
                elif isinstance(event, ConnectionClosed):
                    raise ConnectionLostError("the server closed the connection")
        except Exception as exc:
            if not isinstance(exc, StreamClosedError | RemoteProtocolError | CancelledError):
                logger.exception("routing Redis replies failed")  # a bug: fail loudly, hang nobody
            self._fail(exc)
            stream.abort()

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
            if not waiter.called:
                waiter.errback(failure(self._error))
        wake(self._message_waiter)

    def aclose(self) -> Deferred[None]:
        """Close the connection; waiting callers get StreamClosedError. Harmless again."""
        if self._error is None:
            self._fail(StreamClosedError("the connection was closed on this side"))
        return self._stream.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else f"RESP{self.protocol}"
        return f"<RedisConnection {self._stream.get_extra_info('peername')!r} {state}>"


class Pipeline:
    """A batch of commands sent in one write, their replies returned together.

    Other callers never get between its commands. With ``transaction=True``
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

    def execute(self, *, raise_on_error: bool = True) -> Deferred[list[Any]]:
        """Send the queued commands (emptying the queue); fires with their replies, decoded.

        Cancelling abandons the replies still to come; the connection stays
        in sync. Fails with the first error reply (``raise_on_error``), with
        ``EXECABORT`` (a transaction refused) or ``WatchError`` (a watched
        key changed; the transaction did not run).
        """
        return Deferred.fromCoroutine(self._execute(raise_on_error))

    async def _execute(self, raise_on_error: bool) -> list[Any]:
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
    reactor: IReactorTime | None = None,
    decode_responses: bool = False,
    encoding: str = "utf-8",
    push_handler: PushHandler | None = None,
    connect_timeout: float | None = None,
    max_bulk_length: int = 512 * 1024 * 1024,
    max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
    **options: Any,
) -> Deferred[RedisConnection]:
    """Open a connection to Redis and set it up in one round trip; fires with it.

    The URL and options are ``tidewire_asyncio.resp.connect``'s
    (``redis://``, ``rediss://``, ``unix://``; ``host``, ``port``, ``path``,
    ``db``, ``username``, ``password``, ``ssl`` (an
    ``IOpenSSLClientConnectionCreator`` here), ``client_name``,
    ``protocol``). A server refusing ``HELLO 3`` leaves RESP2.

    Raises:
        TypeError: an option of another name (at once).
        ValueError: a bad URL, ``protocol`` or ``max_queued_messages`` (at once).
    """
    merged = connection_options(url, **options)
    check_max_queued_messages(max_queued_messages)  # before connecting
    clock = reactor if reactor is not None else default_reactor()
    settings = {
        "decode_responses": decode_responses,
        "encoding": encoding,
        "push_handler": push_handler,
        "max_queued_messages": max_queued_messages,
    }
    opening = Deferred.fromCoroutine(_open(merged, settings, clock, max_bulk_length))
    if connect_timeout is not None:
        opening.addTimeout(connect_timeout, clock, onTimeoutCancel=_timed_out)
    return opening


def _timed_out(result: Any, timeout: float) -> Any:
    raise TimeoutError(f"connecting to Redis took longer than {timeout} s")


async def _open(
    options: dict[str, Any], settings: dict[str, Any], clock: IReactorTime, max_bulk_length: int
) -> RedisConnection:
    def core() -> ClientConnection:
        return ClientConnection(max_depth=MAX_DEPTH, max_bulk_length=max_bulk_length)

    path = options.get("path")
    host = options.get("host", "localhost")
    endpoint: Any
    if path:
        endpoint = UNIXClientEndpoint(clock, path)  # type: ignore[no-untyped-call]
    else:
        endpoint = endpoint_for(clock, host, options.get("port", 6379))
    tls = options.get("ssl")
    if tls is True:  # rediss://: the system's roots, checked against the host name
        tls = tls_module("twisted.internet.ssl").optionsForClientTLS(
            options.get("server_hostname") or host
        )
    stream = await _connect_stream(core, endpoint, reactor=clock, ssl=tls or None)
    opened = RedisConnection(stream, **settings)
    try:
        await opened._setup(options)
    except BaseException:
        await opened.aclose()
        raise
    return opened


class Client:
    """A Redis client that keeps one shared connection and reconnects it.

    The connection is opened on first use. When it breaks, its waiting
    callers get :class:`~tidewire.ConnectionLostError` (nothing is
    retried, no Deferred stays unfired) and the next command opens a fresh one.

    Args:
        url: As for :func:`connect`.
        options: Any other :func:`connect` keyword argument.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self._url = url
        self._options = options
        self._shared: RedisConnection | None = None
        self._opening: Deferred[RedisConnection] | None = None
        self._waiting: list[Deferred[RedisConnection]] = []
        self._closed = False

    def _connection(self) -> Deferred[RedisConnection]:
        """The shared connection, opened once for every caller waiting for it."""
        if self._closed:
            return _failed(StreamClosedError("the client was closed"))
        if self._shared is not None and not self._shared.closed:
            return Deferred.fromCoroutine(_value(self._shared))
        waiter: Deferred[RedisConnection] = Deferred(self._waiting.remove)
        self._waiting.append(waiter)
        if self._opening is None:
            self._opening = connect(self._url, **self._options)
            self._opening.addBoth(self._opened)
        return waiter

    def _opened(self, result: Any) -> None:
        self._opening = None
        waiting, self._waiting = self._waiting, []
        if isinstance(result, RedisConnection):
            self._shared = result
            if self._closed:
                result.aclose()
        for waiter in waiting:  # every caller hears how it went: none is left unfired
            waiter.callback(result) if isinstance(result, RedisConnection) else waiter.errback(
                result
            )

    def execute(self, *args: Any, decode: bool | None = None) -> Deferred[Any]:
        """Run one command on the shared connection; see :meth:`RedisConnection.execute`."""
        return self._connection().addCallback(lambda c: c.execute(*args, decode=decode))

    def pipeline_execute(
        self, commands: list[tuple[Any, ...]], *, transaction: bool = False
    ) -> Deferred[list[Any]]:
        """Run a batch on the shared connection, as a :class:`Pipeline` would."""

        def run(connection: RedisConnection) -> Deferred[list[Any]]:
            pipeline = connection.pipeline(transaction=transaction)
            for args in commands:
                pipeline.add(*args)
            return pipeline.execute()

        return self._connection().addCallback(run)

    def connection(self) -> Deferred[RedisConnection]:
        """A connection of its own with the client's settings (``WATCH``, pub/sub); close it."""
        return connect(self._url, **self._options)

    pubsub = connection

    def aclose(self) -> Deferred[None]:
        """Close the shared connection (not dedicated ones) and stop an opening one."""
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
        shared, self._shared = self._shared, None
        return shared.aclose() if shared is not None else Deferred.fromCoroutine(_value(None))


async def _value(value: Any) -> Any:
    return value


def _failed(error: Exception) -> Deferred[Any]:
    failed: Deferred[Any] = Deferred()
    failed.errback(error)
    return failed
