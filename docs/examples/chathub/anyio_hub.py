"""The hub on trio, or on anyio: one module, because the adapters mirror each other.

``tidewire_trio`` and ``tidewire_anyio`` have the same names as
``tidewire_asyncio`` (``websocket.serve``, ``lines.serve``, ``resp.connect``
...), and anyio runs on trio, so the hub's own tasks are anyio's and the
adapter is picked at start: ``--framework trio`` serves with tidewire_trio
under ``trio.run``, ``--framework anyio`` with tidewire_anyio on asyncio.
Unlike the asyncio hub, nothing here outlives its owner: a client's outbox
tasks belong to its session, the servers and the Redis connections to the
hub's ``async with`` blocks.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import anyio

from tidewire import StreamClosedError

from .anyio_outbox import Outbox
from .redis_bus import RedisBus
from .room import Member, Room
from .web import (
    GOODBYE_TIMEOUT,
    LINE_DELIMITERS,
    MAX_LINE,
    MAX_MESSAGE,
    NOT_READING,
    SHUTTING_DOWN,
    STALL_TIMEOUT,
    chat_only,
    keep_send_buffer_small,
    line_texts,
    page,
    websocket_texts,
)

ADAPTERS = {"trio": ("tidewire_trio", "trio"), "anyio": ("tidewire_anyio", "asyncio")}
"""``--framework`` -> (the adapter, the backend anyio runs on)."""


async def session(
    room: Room,
    where: str,
    texts: Callable[[Member], AsyncIterator[str]],
    send: Callable[[str], Awaitable[None]],
    goodbye: Callable[[], Awaitable[None]],
    stall_timeout: float,
) -> None:
    """Run one client: the room reads ``texts``; an outbox owned by this session writes."""
    async with anyio.create_task_group() as group:
        outbox = Outbox(group, send, goodbye, stall_timeout)
        group.start_soon(outbox.run)
        try:
            member = Member(outbox.deliver, where)
            await room.chat(member, texts(member))
        finally:
            with anyio.CancelScope(shield=True):
                await outbox.aclose()


async def websocket_client(room: Room, stall_timeout: float, websocket: Any) -> None:
    """A browser (or any WebSocket client): one text message per chat line."""

    async def goodbye() -> None:
        await websocket.close(1008, NOT_READING)  # gives up after the close timeout

    keep_send_buffer_small(websocket.get_extra_info("socket"))
    await session(
        room, "web", partial(websocket_texts, websocket), websocket.send, goodbye, stall_timeout
    )


async def line_client(room: Room, stall_timeout: float, stream: Any) -> None:
    """An ``nc``/``telnet`` user: one line per chat line, UTF-8."""

    async def send(text: str) -> None:
        await stream.send_line(text.encode())

    async def goodbye() -> None:
        try:
            with anyio.fail_after(GOODBYE_TIMEOUT):
                await stream.send_line(f"! {NOT_READING}".encode())
                await stream.aclose()  # once the client has read it all
        except (TimeoutError, StreamClosedError):
            stream.abort()

    keep_send_buffer_small(stream.get_extra_info("socket"))
    await session(room, "line", partial(line_texts, stream), send, goodbye, stall_timeout)


class Hub:
    """The room, served on a WebSocket port (with the page) and a line port."""

    def __init__(
        self,
        framework: str,
        host: str,
        http_port: int,
        line_port: int,
        redis: str | None,
        *,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        adapter = ADAPTERS[framework][0]
        self.websocket, self.lines, self.resp = (
            importlib.import_module(f"{adapter}.{name}") for name in ("websocket", "lines", "resp")
        )
        self.host, self.http_port, self.line_port = host, http_port, line_port
        self.redis = redis
        self.stall_timeout = stall_timeout
        self.room = Room()
        self.bus: RedisBus | None = None

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Connect to Redis (if asked) and start listening; ``stack`` owns it all."""
        if self.redis:
            self.bus = RedisBus(self.room, anyio.Event)
            publisher = await stack.enter_async_context(self.resp.connect(self.redis))
            subscriber = await stack.enter_async_context(self.resp.connect(self.redis))
            await self.bus.start(publisher, subscriber)
            self.room.bus = self.bus
        web = self.websocket.serve(
            partial(websocket_client, self.room, self.stall_timeout),
            self.host,
            self.http_port,
            process_request=chat_only,
            process_http=page,
            max_message_size=MAX_MESSAGE,
            close_timeout=GOODBYE_TIMEOUT,
        )
        self.web = await stack.enter_async_context(web)
        line = self.lines.serve(
            partial(line_client, self.room, self.stall_timeout),
            self.host,
            self.line_port,
            delimiter=LINE_DELIMITERS,
            max_line_length=MAX_LINE,
        )
        self.line = await stack.enter_async_context(line)
        self.http_port, self.line_port = self.web.port, self.line.port

    async def wait(self) -> None:
        """Return when the Redis subscription ends (never, in memory)."""
        if self.bus is None:
            await anyio.sleep_forever()  # the embedded room only stops when asked to
        else:
            await self.bus.listen()

    async def shut_down(self) -> None:
        """Say goodbye, close WebSockets with 1001 and line clients."""
        await self.room.deliver(f"* {SHUTTING_DOWN}")  # this hub's members only
        await self.web.aclose(SHUTTING_DOWN)
        await anyio.sleep(0.1)  # let line clients' writers send the notice
        await self.line.aclose()


async def serve(
    framework: str, host: str, http_port: int, line_port: int, redis: str | None
) -> int:
    """Run the hub until SIGINT or SIGTERM; return the exit status (as the asyncio hub's)."""
    hub = Hub(framework, host, http_port, line_port, redis)
    async with contextlib.AsyncExitStack() as stack:
        try:
            await hub.start(stack)
        except OSError as exc:  # a port in use, Redis unreachable ...
            print(f"chathub: cannot start: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"chathub: browser   http://{host}:{hub.http_port}/", flush=True)
        print(f"chathub: websocket ws://{host}:{hub.http_port}/chat", flush=True)
        print(f"chathub: line      nc {host} {hub.line_port}", flush=True)
        print(f"chathub: room      {redis or 'in memory'}  (Ctrl-C stops)", flush=True)
        lost = await _until_signal_or(hub.wait)
        if lost:
            print("chathub: lost the Redis connection; stopping", file=sys.stderr, flush=True)
        await hub.shut_down()
    print("chathub: stopped", flush=True)
    return 1 if lost else 0


async def _until_signal_or(running: Callable[[], Awaitable[None]]) -> bool:
    """Wait for SIGINT/SIGTERM or for ``running()`` to return; True if it returned first."""
    returned = False
    async with anyio.create_task_group() as group:

        async def run() -> None:
            nonlocal returned
            await running()
            returned = True
            group.cancel_scope.cancel()

        group.start_soon(run)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                group.cancel_scope.cancel()
    return returned


def main(framework: str, host: str, http_port: int, line_port: int, redis: str | None) -> int:
    """Run the hub on ``framework`` ("trio" or "anyio"); return the exit status."""
    backend = ADAPTERS[framework][1]
    return anyio.run(serve, framework, host, http_port, line_port, redis, backend=backend)
