"""The hub on asyncio: the room served over WebSocket and a line port.

Each connection becomes a :class:`~chathub.room.Member` whose ``deliver``
queues text in an :class:`~chathub.outbox.Outbox` (bounded; a client that
reads nothing is dropped with a goodbye). With ``--redis`` the room's bus
is Redis pub/sub instead of memory.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from functools import partial

from tidewire_asyncio import lines, resp, websocket
from tidewire_asyncio.websocket import WebSocket

from .outbox import CLOSED, Outbox
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


async def session(
    room: Room, where: str, texts: Callable[[Member], AsyncIterator[str]], outbox: Outbox
) -> None:
    """Run one client: the room reads ``texts`` and writes to ``outbox``."""
    try:
        member = Member(outbox.deliver, where)
        await room.chat(member, texts(member))
    finally:
        await outbox.aclose()


async def websocket_client(room: Room, stall_timeout: float, websocket: WebSocket) -> None:
    """A browser (or any WebSocket client): one text message per chat line."""

    async def goodbye() -> None:
        await websocket.close(1008, NOT_READING)  # gives up after the close timeout

    keep_send_buffer_small(websocket.get_extra_info("socket"))
    await session(
        room,
        "web",
        partial(websocket_texts, websocket),
        Outbox(websocket.send, goodbye, stall_timeout),
    )


async def line_client(room: Room, stall_timeout: float, stream: lines.LineStream[bytes]) -> None:
    """An ``nc``/``telnet`` user: one line per chat line, UTF-8."""

    async def send(text: str) -> None:
        await stream.send_line(text.encode())

    async def goodbye() -> None:
        try:
            async with asyncio.timeout(GOODBYE_TIMEOUT):
                await stream.send_line(f"! {NOT_READING}".encode())
                await stream.aclose()  # once the client has read it all
        except (TimeoutError, *CLOSED):
            stream.abort()

    keep_send_buffer_small(stream.get_extra_info("socket"))
    await session(room, "line", partial(line_texts, stream), Outbox(send, goodbye, stall_timeout))


class Hub:
    """The room, served on a WebSocket port (with the page) and a line port."""

    def __init__(
        self,
        host: str,
        http_port: int,
        line_port: int,
        redis: str | None,
        *,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.host = host
        self.redis = redis
        self.room = Room()
        self.web = websocket.serve(
            partial(websocket_client, self.room, stall_timeout),
            host,
            http_port,
            process_request=chat_only,
            process_http=page,
            max_message_size=MAX_MESSAGE,
            close_timeout=GOODBYE_TIMEOUT,
        )
        self.lines = lines.serve(
            partial(line_client, self.room, stall_timeout),
            host,
            line_port,
            delimiter=LINE_DELIMITERS,
            max_line_length=MAX_LINE,
        )
        self.bus: RedisBus | None = None

    async def start(self) -> None:
        """Connect to Redis (if asked) and start listening."""
        if self.redis:
            self.bus = RedisBus(self.room, asyncio.Event)
            await self.bus.start(await resp.connect(self.redis), await resp.connect(self.redis))
            self.room.bus = self.bus
        await self.web.start()
        await self.lines.start()

    @property
    def http_port(self) -> int:
        """The port of the page and the WebSocket."""
        return self.web.port

    @property
    def line_port(self) -> int:
        """The port of the line protocol."""
        return self.lines.port

    async def wait(self) -> None:
        """Return when the Redis subscription ends (never, in memory)."""
        if self.bus is None:
            await asyncio.Future()  # the embedded room only stops when asked to
        else:
            await self.bus.listen()

    async def aclose(self) -> None:
        """Say goodbye, close WebSockets with 1001 and line clients, then Redis."""
        await self.room.deliver(f"* {SHUTTING_DOWN}")  # this hub's members only
        await self.web.aclose(SHUTTING_DOWN)
        await asyncio.sleep(0.1)  # let line clients' writers send the notice
        await self.lines.aclose()
        if self.bus is not None:
            await self.bus.aclose()


async def serve(host: str, http_port: int, line_port: int, redis: str | None) -> int:
    """Run the hub until SIGINT or SIGTERM; return the exit status.

    The status is 0 after a signal, 1 if the hub could not start or lost
    its Redis connection.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    hub = Hub(host, http_port, line_port, redis)
    try:
        await hub.start()
    except OSError as exc:  # a port in use, Redis unreachable ...
        print(f"chathub: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"chathub: browser   http://{host}:{hub.http_port}/", flush=True)
    print(f"chathub: websocket ws://{host}:{hub.http_port}/chat", flush=True)
    print(f"chathub: line      nc {host} {hub.line_port}", flush=True)
    print(f"chathub: room      {redis or 'in memory'}  (Ctrl-C stops)", flush=True)
    stopping = asyncio.create_task(stop.wait())
    running = asyncio.create_task(hub.wait())
    await asyncio.wait([stopping, running], return_when=asyncio.FIRST_COMPLETED)
    lost = running.done()
    if lost:
        print("chathub: lost the Redis connection; stopping", file=sys.stderr, flush=True)
    running.cancel()
    stopping.cancel()
    await hub.aclose()
    print("chathub: stopped", flush=True)
    return 1 if lost else 0


def main(host: str, http_port: int, line_port: int, redis: str | None) -> int:
    """Run the hub on asyncio; return the exit status (see :func:`serve`)."""
    return asyncio.run(serve(host, http_port, line_port, redis))
