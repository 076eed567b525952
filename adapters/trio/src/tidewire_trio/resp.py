"""A Redis client on trio: automatic pipelining, cancel-safe, RESP3 first.

``async with connect(url) as redis:`` opens a :class:`RedisConnection` that
tasks share; its reader (routing replies, messages and pushes) and writer
(one write for what the tasks ready together sent) live in a nursery the
``async with`` owns. :class:`Client` keeps one and reconnects it. The policy
is the ``tidewire-resp`` core's; this is the trio glue. Install with
``pip install "tidewire-trio[resp]"``; the Redis guide says the rest.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import trio

try:
    import tidewire_resp.errors as _errors
    from tidewire_resp import ClientConnection, Message, connection_options, parse_url
    from tidewire_resp.errors import *  # noqa: F403 - the error classes, re-exported as they are
    from tidewire_resp.sharing import (
        DEFAULT_MAX_QUEUED_MESSAGES,
        MAX_DEPTH,
        PushHandler,
        check_max_queued_messages,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_trio.resp needs the RESP core:"
        ' pip install "tidewire-trio[resp]" (or tidewire-resp)'
    ) from exc


from ._owned import Owning, open_owned_nursery
from ._redis import Pipeline, RedisConnection
from .errors import StreamClosedError
from .network import connect as _connect_stream

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
) -> Owning[RedisConnection]:
    """Open a connection to Redis and set it up in one round trip; use it with ``async with``.

    ``connect("redis://user:secret@host:6379/2")``, ``rediss://`` for TLS,
    ``unix:///run/redis.sock?db=1`` (see :func:`~tidewire_resp.parse_url`); keyword options
    override what the URL says: ``host``, ``port``, ``path``, ``db``,
    ``username``, ``password``, ``ssl``, ``server_hostname``,
    ``client_name``, ``protocol`` (3, or 2). The set-up (``AUTH``, ``HELLO
    3``, ``CLIENT SETNAME``, ``SELECT``) is one write; a server that refuses
    ``HELLO 3`` leaves RESP2 (:attr:`RedisConnection.protocol` says). The
    connection's reader and writer live in a nursery the ``async with``
    opens; leaving the block closes the connection.

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
        ValueError: a bad URL, ``protocol`` or ``max_queued_messages`` (at once).
    """
    merged = connection_options(url, **options)
    check_max_queued_messages(max_queued_messages)  # before connecting
    connection = {
        "decode_responses": decode_responses,
        "encoding": encoding,
        "push_handler": push_handler,
        "max_queued_messages": max_queued_messages,
    }
    opened = _connected(merged, connection, connect_timeout, max_bulk_length)
    return Owning(opened, "resp.connect")


@contextlib.asynccontextmanager
async def _connected(
    options: dict[str, Any],
    connection: dict[str, Any],
    timeout: float | None,
    max_bulk_length: int,
) -> AsyncIterator[RedisConnection]:
    async with open_owned_nursery() as nursery:
        opened = await _open(nursery, options, connection, timeout, max_bulk_length)
        try:
            yield opened
        finally:
            await opened.aclose()


async def _open(
    nursery: trio.Nursery,
    options: dict[str, Any],
    connection: dict[str, Any],
    timeout: float | None,
    max_bulk_length: int,
) -> RedisConnection:
    def core() -> ClientConnection:
        return ClientConnection(max_depth=MAX_DEPTH, max_bulk_length=max_bulk_length)

    with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
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
        nursery.start_soon(opened._run)
        try:
            await opened._setup(options)
        except BaseException:
            with trio.CancelScope(shield=True):
                await opened.aclose()
            raise
    if deadline.cancelled_caught:
        raise TimeoutError("the Redis connection was not set up within connect_timeout")
    return opened


class _Opening:
    """The shared connection a :class:`Client` is opening, or why it could not."""

    __slots__ = ("connection", "done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.connection: RedisConnection | None = None
        self.error: BaseException | None = None


class Client:
    """A Redis client that keeps one shared connection and reconnects it: ``async with`` it.

    The connection is opened on first use by a task of the client's own
    nursery (leaving the block, or :meth:`aclose`, ends it). When it
    breaks, its waiting callers get
    :class:`~tidewire_trio.ConnectionLostError` (nothing is retried) and the
    next command opens a fresh one.

    Args:
        url: As for :func:`connect`.
        options: Any other :func:`connect` keyword argument.
    """

    def __init__(self, url: str | None = None, **options: Any) -> None:
        self._url = url
        self._options = options
        self._shared: RedisConnection | None = None
        self._opening: _Opening | None = None
        self._closed = False
        self._stack = contextlib.AsyncExitStack()
        self._tasks: trio.Nursery | None = None  # where the shared connection lives
        self._hosted = trio.Event()

    async def __aenter__(self) -> Client:
        nursery = await self._stack.enter_async_context(open_owned_nursery())
        self._tasks = await nursery.start(self._host)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self.aclose()
        return await self._stack.__aexit__(*exc_info)

    async def _host(self, *, task_status: trio.TaskStatus[trio.Nursery]) -> None:
        try:
            async with trio.open_nursery() as tasks:
                task_status.started(tasks)
                await trio.sleep_forever()
        finally:
            self._hosted.set()

    async def _connection(self) -> RedisConnection:
        if self._closed:
            raise StreamClosedError("the client was closed")
        shared = self._shared
        if shared is not None and not shared.closed:
            await trio.lowlevel.checkpoint()
            return shared
        if self._tasks is None:
            raise RuntimeError("open the client first: async with resp.Client(...) as client:")
        opening = self._opening
        if opening is None:  # one task opens; concurrent callers wait for it
            opening = self._opening = _Opening()
            self._tasks.start_soon(self._keep, opening)
        await opening.done.wait()
        if opening.error is not None:
            raise opening.error
        assert opening.connection is not None
        return opening.connection

    async def _keep(self, opening: _Opening) -> None:
        """Open the shared connection and keep it until it breaks or the client closes."""
        try:
            async with self.connection() as connection:
                self._shared = opening.connection = connection
                self._opening = None
                opening.done.set()
                await connection._stopped_or_failed()
        except BaseException as exc:
            if not opening.done.is_set():
                self._opening = None
                closed = isinstance(exc, trio.Cancelled)
                opening.error = StreamClosedError("the client was closed") if closed else exc
                opening.done.set()
            if not isinstance(exc, Exception):
                raise

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
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
            await self._hosted.wait()
        else:
            await trio.lowlevel.checkpoint()


class DedicatedConnection(Owning[RedisConnection]):
    """A connection of its own, with a client's settings: ``async with`` it.

    Args:
        client: The client whose settings to use.
    """

    def __init__(self, client: Client) -> None:
        opening = connect(client._url, **client._options)
        super().__init__(opening._manager, "client.connection")
