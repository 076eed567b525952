"""A Redis client on anyio: automatic pipelining, cancel-safe, RESP3 first, asyncio or trio.

:func:`connect` opens a :class:`RedisConnection` that tasks share; :class:`Client`
keeps one and reconnects it. The policy is the ``tidewire-resp`` core's; this is
the anyio glue (routing in the entered event stream's reader task, waiters,
the ``async with`` that owns those tasks). Install with ``pip install "tidewire-anyio[resp]"``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Generator, Iterable
from types import TracebackType
from typing import Any, Self, cast

import anyio
import anyio.abc

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
    )
    from tidewire_resp.errors import *  # noqa: F403 - the error classes, re-exported as they are
    from tidewire_resp.errors import reply_error
    from tidewire_resp.sharing import (
        DEFAULT_MAX_QUEUED_MESSAGES,
        MAX_DEPTH,
        WRITE_LIMIT,
        PushHandler,
        RedisConnectionBase,
        check_max_queued_messages,
        failure,
        reply_value,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_anyio.resp needs the RESP core:"
        ' pip install "tidewire-anyio[resp]" (or tidewire-resp)'
    ) from exc

from tidewire import NEED_DATA, ConnectionClosed, RemoteProtocolError

from . import errors
from ._closing import Signal
from ._redis import Client, Pipeline, _Messages, _Waiter
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

logger = logging.getLogger("tidewire_anyio.resp")

Client.__module__ = Pipeline.__module__ = __name__  # documented here, where they are imported from


class RedisConnection(RedisConnectionBase[EventStream[Any, Any]]):
    """One connection to Redis, shared by any number of tasks (made by :func:`connect`).

    Commands queued before the writer task runs leave in one write; a caller
    cancelled while waiting abandons only its own request. Replies, messages
    and pushes are routed as they arrive, from the entered event stream's
    reader task (as asyncio's are from its data callback); ``async with``
    owns those tasks: leaving it ends them. Once
    the connection breaks, waiting and later callers get
    :class:`~tidewire_anyio.ConnectionLostError`.

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
    """Called from the stream's reader with every push that is not a pub/sub message
    (``invalidate``...); it must not block. ``None`` drops them."""

    def _start(self) -> None:
        self._waiters: dict[int, _Waiter] = {}
        self._ended = anyio.Event()
        self._message_arrived = Signal()
        self._routing = False
        self._stalled = False  # routing stopped at unread messages, with no reply awaited
        self._entered = False
        self._stream.set_listener(self._route)  # replies are routed from the stream's reader task
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
        self._stream.send_nowait(Command(args))  # written with the others queued before
        core = self._core
        request_id = core.last_request
        if not core.is_pending(request_id):  # CLIENT REPLY OFF/SKIP: no reply will come
            return Reply(None, None, request_id)
        try:
            return await self._wait_for(request_id).get()
        except BaseException:
            self._abandon((request_id,))
            raise

    def pipeline(self, *, transaction: bool = False) -> Pipeline:
        """Start a batch of commands sent in one write (``MULTI``/``EXEC`` with ``transaction``)."""
        return Pipeline(self, transaction=transaction)

    async def _room(self) -> None:
        """Wait while the peer is not keeping up (nothing is sent yet); refuse if broken."""
        if self._error is None and self._stream.write_backlog > WRITE_LIMIT:
            with contextlib.suppress(StreamClosedError):  # the reader is about to say why
                await self._stream.drain()
        if self._error is not None:
            raise self._failure()

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
        waiters = {i: self._wait_for(i) for i in ids if is_pending(i)}
        try:
            return [await waiters[i].get() if i in waiters else Reply(None, None, i) for i in ids]
        except BaseException:
            self._abandon(waiters)
            raise

    def _wait_for(self, request_id: int) -> _Waiter:
        waiter = self._waiters[request_id] = _Waiter()
        if self._stalled:
            self._resume()  # a reply is awaited: read on past the unread messages
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
                raise self._failure()
            await self._message_arrived.wait()
        message = messages.take()
        if self._stalled and messages.has_room:
            self._resume()
        return message.decode(self._encoding) if self._decode else message

    def messages(self) -> AsyncIterator[Message]:
        """``async for message in connection.messages():`` until closed on this side.

        Raises what :meth:`get_message` raises, but StreamClosedError.
        """
        return _Messages(self)  # not an async generator: trio warns about unfinished ones

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
                    if waiter is not None:
                        waiter.reply = event
                        waiter.ready.set()
                elif kind is Message:
                    messages.put(event)  # decoded by get_message(): a bad one fails there
                    self._message_arrived.fire()
                elif kind is Push:
                    self._on_push(event)
                elif event is NEED_DATA:
                    return
                elif isinstance(event, ConnectionClosed):
                    raise errors.lost("the server closed the connection")
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
            waiter.error = self._failure()
            waiter.ready.set()
        self._message_arrived.fire()
        self._ended.set()

    def _failure(self) -> Exception:
        error = failure(cast(BaseException, self._error))  # the core's words, anyio's classes too
        if isinstance(error, ConnectionLostError):
            return errors.lost(str(error), cause=error.__cause__)
        return errors.closed(str(error))

    async def wait_closed(self) -> None:
        """Wait until the connection is closed or broken."""
        await self._ended.wait()

    async def __aenter__(self) -> Self:
        """Start the event stream's tasks (its reader routes the replies); return the connection."""
        if self._entered:
            raise RuntimeError("the connection was already entered")
        self._entered = True
        await self._stream.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection and end the event stream's tasks."""
        if self._error is None:
            self._fail(StreamClosedError("the connection was closed on this side"))
        await self._stream.__aexit__(exc_type, exc, tb)

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


class DedicatedConnection:
    """What :func:`connect` returns: ``async with`` it (the reader task lives there).

    Args:
        opening: The arguments of :func:`connect`, checked.
    """

    def __init__(self, opening: tuple[dict[str, Any], dict[str, Any], float | None, int]) -> None:
        self._opening: tuple[Any, ...] | None = opening
        self._opened: RedisConnection | None = None

    def __await__(self) -> Generator[Any, None, RedisConnection]:
        raise TypeError(
            "use async with resp.connect(...) as connection: on anyio the connection's"
            " reader task lives in a task group the async with owns"
        )

    async def __aenter__(self) -> RedisConnection:
        if self._opening is None:
            raise RuntimeError("this connect() was already entered; call connect() again")
        options, connection, timeout, max_bulk_length = self._opening
        self._opening = None
        self._opened = await _open(options, connection, timeout, max_bulk_length)
        return self._opened

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.__aexit__(exc_type, exc, tb)


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
) -> DedicatedConnection:
    """Open a connection to Redis and set it up in one round trip: ``async with`` it.

    ``connect("redis://user:secret@host:6379/2")``, ``rediss://`` for TLS,
    ``unix:///run/redis.sock?db=1`` (see :func:`~tidewire_resp.parse_url`); keyword options
    override what the URL says: ``host``, ``port``, ``path``, ``db``,
    ``username``, ``password``, ``ssl``, ``server_hostname``,
    ``client_name``, ``protocol`` (3, or 2). The set-up (``AUTH``, ``HELLO
    3``, ``CLIENT SETNAME``, ``SELECT``) is one write; a server that refuses
    ``HELLO 3`` leaves RESP2 (:attr:`RedisConnection.protocol` says). Unlike
    asyncio's, it cannot be awaited.

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
        TypeError: an option of another name; or awaited instead of entered.
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
    return DedicatedConnection((merged, connection, connect_timeout, max_bulk_length))


async def _open(
    options: dict[str, Any],
    connection: dict[str, Any],
    timeout: float | None,
    max_bulk_length: int,
) -> RedisConnection:
    def core() -> ClientConnection:
        return ClientConnection(max_depth=MAX_DEPTH, max_bulk_length=max_bulk_length)

    deadline = math.inf if timeout is None else anyio.current_time() + timeout
    with anyio.fail_after(timeout):
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
    await opened.__aenter__()  # its task group outside the timeout's cancel scope
    try:
        with anyio.fail_after(deadline - anyio.current_time()):
            await opened._setup(options)
    except BaseException as exc:
        await opened.__aexit__(type(exc), exc, exc.__traceback__)  # no scope may wrap it
        raise
    return opened
