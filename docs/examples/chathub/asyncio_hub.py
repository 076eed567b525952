"""The hub on asyncio: the room served over WebSocket and a line port.

Each connection becomes a :class:`~chathub.room.Member` whose ``deliver``
queues text in an :class:`Outbox`; a writer task sends it, so one slow
client never holds up the room. With ``--redis`` the room's bus is Redis
pub/sub instead of memory.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

from tidewire import RemoteProtocolError
from tidewire_asyncio import ConnectionLostError, StreamClosedError, lines, resp, websocket
from tidewire_asyncio.websocket import (
    HTTPRequest,
    RejectConnection,
    WebSocket,
    WebSocketClosedError,
)

from .room import Member, Room

PAGE = RejectConnection(
    200,
    ((b"Content-Type", b"text/html; charset=utf-8"),),
    (Path(__file__).parent / "page.html").read_bytes(),
)
NOT_FOUND = RejectConnection(404, ((b"Content-Type", b"text/plain"),), b"only / is here\n")
MAX_LINE = 4096
"""Bytes a line may have on the line port; a longer one ends the connection."""
MAX_MESSAGE = 64 * 1024
"""Bytes a WebSocket message may have; a larger one closes with 1009."""
MAX_PENDING = 256
"""Messages that may wait for a client; a client that lets more pile up is dropped."""
CHANNEL = "tidewire-chathub"


class Outbox:
    """What waits to be sent to one client, and the task that sends it."""

    def __init__(self, send: Callable[[str], Awaitable[None]], abort: Callable[[], None]) -> None:
        self.send = send
        self.abort = abort
        self.pending: collections.deque[str] = collections.deque()
        self.wakeup = asyncio.Event()
        self.open = True

    def deliver(self, text: str) -> None:
        """Queue ``text``; never blocks."""
        if not self.open:
            return
        if len(self.pending) >= MAX_PENDING:
            self.open = False
            self.abort()  # it reads nothing: drop it rather than hold messages for ever
            return
        self.pending.append(text)
        self.wakeup.set()

    def finish(self) -> None:
        """Send what is queued, then stop."""
        self.open = False
        self.wakeup.set()

    async def run(self) -> None:
        """Send queued text as it comes, until :meth:`finish` and the queue is empty."""
        while self.open or self.pending:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                await self.send(self.pending.popleft())


async def session(
    room: Room,
    where: str,
    texts: Callable[[Member], AsyncIterator[str]],
    send: Callable[[str], Awaitable[None]],
    abort: Callable[[], None],
) -> None:
    """Run one client: the room reads ``texts``, the outbox writes with ``send``."""
    outbox = Outbox(send, abort)
    member = Member(outbox.deliver, where)
    writer = asyncio.create_task(outbox.run())
    try:
        await room.chat(member, texts(member))
    finally:
        outbox.finish()
        with contextlib.suppress(Exception):  # the client may be gone already
            async with asyncio.timeout(2):
                await writer
        writer.cancel()


def page(request: HTTPRequest) -> RejectConnection:
    """The WebSocket port's plain-HTTP hook: ``GET /`` gets the page, the rest a 404."""
    return PAGE if request.target in ("/", "/index.html") else NOT_FOUND


async def websocket_client(room: Room, websocket: WebSocket) -> None:
    """A browser (or any WebSocket client): one text message per chat line."""

    async def texts(member: Member) -> AsyncIterator[str]:
        try:
            async for message in websocket:
                if isinstance(message, bytes):
                    member.deliver("! send text messages, not binary")
                else:
                    yield message
        except WebSocketClosedError:
            pass  # closed uncleanly, or a message over MAX_MESSAGE (1009 told the client why)

    await session(room, "web", texts, websocket.send, websocket.abort)


async def line_client(room: Room, stream: lines.LineStream[bytes]) -> None:
    """An ``nc``/``telnet`` user: one line per chat line, UTF-8."""

    async def texts(member: Member) -> AsyncIterator[str]:
        try:
            async for line in stream:
                yield line.decode("utf-8", "replace")
        except RemoteProtocolError:
            # The core refused a line over MAX_LINE bytes; the stream cannot
            # resynchronise, so say why and end the session.
            member.deliver(f"! line too long (over {MAX_LINE} bytes); closing the connection")

    async def send(text: str) -> None:
        await stream.send_line(text.encode())

    await session(room, "line", texts, send, stream.abort)


class RedisBus:
    """Shares the room with every hub subscribed to the same Redis channel."""

    def __init__(self, room: Room, url: str) -> None:
        self.room = room
        self.url = url

    async def start(self) -> None:
        """Connect and subscribe."""
        # Two connections: the subscriber only waits for messages.
        self.publisher = await resp.connect(self.url)
        self.subscriber = await resp.connect(self.url)
        await self.subscriber.subscribe(CHANNEL)

    async def listen(self) -> None:
        """Deliver every message of the channel to this hub's members, until Redis goes."""
        with contextlib.suppress(ConnectionLostError):
            async for message in self.subscriber.messages():
                self.room.deliver(message.data.decode("utf-8", "replace"))

    async def publish(self, text: str) -> None:
        """Send ``text`` to every hub, this one included."""
        # If Redis is gone, listen() has seen it too and the hub is stopping.
        with contextlib.suppress(ConnectionLostError, StreamClosedError):
            await self.publisher.execute("PUBLISH", CHANNEL, text)

    async def aclose(self) -> None:
        """Close both connections."""
        await self.subscriber.aclose()
        await self.publisher.aclose()


class Hub:
    """The room, served on a WebSocket port (with the page) and a line port."""

    def __init__(self, host: str, http_port: int, line_port: int, redis: str | None) -> None:
        self.host = host
        self.redis = redis
        self.room = Room()
        self.web = websocket.serve(
            partial(websocket_client, self.room),
            host,
            http_port,
            process_http=page,
            max_message_size=MAX_MESSAGE,
            close_timeout=5.0,
        )
        self.lines = lines.serve(
            partial(line_client, self.room),
            host,
            line_port,
            delimiter=(b"\r\n", b"\n"),
            max_line_length=MAX_LINE,
        )
        self.bus: RedisBus | None = None

    async def start(self) -> None:
        """Connect to Redis (if asked) and start listening."""
        if self.redis:
            self.bus = RedisBus(self.room, self.redis)
            await self.bus.start()
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
        self.room.deliver("* the hub is shutting down")  # this hub's members only
        await self.web.aclose("the hub is shutting down")
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
