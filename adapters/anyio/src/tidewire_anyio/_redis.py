"""The pieces of :mod:`tidewire_anyio.resp` around a connection: waiters, pipelines, Client."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc

from tidewire import LocalProtocolError
from tidewire_resp import Message, Reply, raise_first_error, transaction_result
from tidewire_resp.sharing import batch_values

from . import errors
from .errors import ConnectionLostError, StreamClosedError

if TYPE_CHECKING:
    from .resp import DedicatedConnection, RedisConnection


class _Waiter:  # one request's reply, or why it will not come
    __slots__ = ("error", "ready", "reply")

    def __init__(self) -> None:
        self.ready = anyio.Event()
        self.reply: Reply | None = None
        self.error: BaseException | None = None

    async def get(self) -> Reply:
        await self.ready.wait()
        if self.reply is None:
            raise self.error  # type: ignore[misc]
        return self.reply


class _Messages:  # what RedisConnection.messages() returns
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


class _Opening:  # the shared connection a Client is opening, for the callers that wait
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: BaseException | None = None


class Client:
    """A Redis client that keeps one shared connection and reconnects it: ``async with`` it.

    The shared connection is opened on first use by a task in the client's
    task group (leaving the ``async with`` closes it). When it breaks, its
    waiting callers get :class:`~tidewire_anyio.ConnectionLostError`
    (nothing is retried) and the next command opens a fresh one.

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
        self._exit: AsyncExitStack | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._keeper: anyio.CancelScope | None = None  # of the task holding the shared one

    async def _connection(self) -> RedisConnection:
        if self._closed or self._tasks is None:
            raise errors.closed("the client was closed" if self._closed else "enter the client")
        shared = self._shared
        if shared is not None and not shared.closed:
            return shared
        opening = self._opening
        if opening is None:  # one task opens; concurrent callers wait for it
            opening = self._opening = _Opening()
            self._tasks.start_soon(self._keep, opening)
        await opening.done.wait()
        if opening.error is not None:
            raise opening.error
        if self._closed or self._shared is None:
            raise errors.closed("the client was closed")
        return self._shared

    async def _keep(self, opening: _Opening) -> None:
        """Open the shared connection and hold it open until it ends or the client closes."""
        try:
            with anyio.CancelScope() as self._keeper:  # aclose() cancels it (not the body's tasks)
                async with self.connection() as shared:
                    self._shared = shared
                    self._opening = None
                    opening.done.set()
                    await shared.wait_closed()
        except Exception as exc:
            if not opening.done.is_set():
                opening.error = exc
        finally:
            if self._opening is opening:
                self._opening = None
            opening.done.set()

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
        from .resp import connect  # resp imports this module

        return connect(self._url, **self._options)

    def pubsub(self) -> DedicatedConnection:
        """``async with client.pubsub() as conn:`` a connection of its own for pub/sub."""
        from .resp import connect  # resp imports this module

        return connect(self._url, **self._options)

    async def __aenter__(self) -> Self:
        """Start the client's task group; return the client."""
        async with AsyncExitStack() as stack:
            self._tasks = await stack.enter_async_context(anyio.create_task_group())
            self._exit = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the shared connection and end the client's tasks."""
        await self.aclose()
        stack, self._exit = self._exit, None
        if stack is not None:
            await stack.__aexit__(None, None, None)  # _keep() never fails

    async def aclose(self) -> None:
        """Close the shared connection (not dedicated ones) and end an opening one."""
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
        if self._shared is not None:
            await self._shared.aclose()
