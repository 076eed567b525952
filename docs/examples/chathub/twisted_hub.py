"""The hub on Twisted: the room in a ``twisted.web`` site, a line port and Redis pub/sub.

The page and the WebSocket share one port as Twisted does it: a ``Site``
whose root serves the page and hands ``/chat`` to a
:class:`~tidewire_twisted.resource.WebSocketResource`. The line port is
:func:`tidewire_twisted.lines.serve`, Redis :mod:`tidewire_twisted.resp`.
Every wait is a Deferred (the room's coroutines run under
``Deferred.fromCoroutine``), timers are the reactor's, and the hub runs
under ``reactor.run()``: Ctrl-C stops the reactor, whose "before shutdown"
trigger closes the hub cleanly first.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tidewire import StreamClosedError
from tidewire_twisted import lines, resp
from tidewire_twisted.resource import WebSocketResource
from tidewire_twisted.websocket import HTTPRequest, WebSocket

from .redis_bus import RedisBus
from .room import Member, Room
from .twisted_outbox import Event, Outbox, within
from .web import (
    CHAT_PATH,
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

CANNOT_START = (OSError, error.ConnectError, error.CannotListenError, TimeoutError)
"""What starting fails with when a port is in use or Redis is unreachable."""


async def session(
    room: Room, where: str, texts: Callable[[Member], AsyncIterator[str]], outbox: Outbox
) -> None:
    """Run one client: the room reads ``texts`` and writes to ``outbox``."""
    try:
        member = Member(outbox.deliver, where)
        await room.chat(member, texts(member))
    finally:
        await outbox.aclose()


async def websocket_client(
    room: Room, clock: Any, stall_timeout: float, websocket: WebSocket
) -> None:
    """A browser (or any WebSocket client): one text message per chat line."""

    async def goodbye() -> None:
        await websocket.close(1008, NOT_READING)  # gives up after the close timeout

    keep_send_buffer_small(websocket.get_extra_info("socket"))
    await session(
        room,
        "web",
        partial(websocket_texts, websocket),
        Outbox(clock, websocket.send, goodbye, stall_timeout),
    )


async def line_client(
    room: Room, clock: Any, stall_timeout: float, stream: lines.LineStream[bytes]
) -> None:
    """An ``nc``/``telnet`` user: one line per chat line, UTF-8."""

    async def send(text: str) -> None:
        await stream.send_line(text.encode())

    async def last_line() -> None:
        await stream.send_line(f"! {NOT_READING}".encode())
        await stream.aclose()  # once the client has read it all

    async def goodbye() -> None:
        try:
            await within(clock, GOODBYE_TIMEOUT, Deferred.fromCoroutine(last_line()))
        except (TimeoutError, StreamClosedError):
            stream.abort()

    keep_send_buffer_small(stream.get_extra_info("socket"))
    await session(
        room, "line", partial(line_texts, stream), Outbox(clock, send, goodbye, stall_timeout)
    )


class Front(Resource):
    """The site's root: ``/`` is the page, ``/chat`` the WebSocket, the rest 404 (as ``web.page``).

    Every upgrade request goes to the WebSocket resource, whose ``chat_only``
    hook refuses any path but ``/chat`` with the same 404 as the other hubs.
    """

    isLeaf = True

    def __init__(self, sockets: WebSocketResource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sockets = sockets

    def render_GET(self, request: Request) -> bytes | int:
        """The page, a 404, or the WebSocket resource's answer."""
        target = request.uri.decode("latin-1")
        upgrade = b"websocket" in (request.getHeader(b"upgrade") or b"").lower()
        if upgrade or target.partition("?")[0] == CHAT_PATH:
            return self.sockets.render_GET(request)
        answer = page(HTTPRequest(host="", target=target))
        assert answer is not None  # page() leaves only /chat to the WebSocket
        request.setResponseCode(answer.status_code)
        for name, value in answer.headers:
            request.setHeader(name, value)  # type: ignore[no-untyped-call]
        return answer.body


class Hub:
    """The room, served on a web port (the page and the WebSocket) and a line port."""

    def __init__(
        self,
        host: str,
        http_port: int,
        line_port: int,
        redis: str | None,
        *,
        stall_timeout: float = STALL_TIMEOUT,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self.host = host.replace(":", "\\:")  # an IPv6 address in an endpoint description
        self.http_port, self.line_port = http_port, line_port
        self.redis = redis
        self.room = Room()
        self.sockets = WebSocketResource(
            partial(websocket_client, self.room, reactor, stall_timeout),
            reactor=reactor,
            process_request=chat_only,
            max_message_size=MAX_MESSAGE,
            close_timeout=GOODBYE_TIMEOUT,
        )
        self.line_handler = partial(line_client, self.room, reactor, stall_timeout)
        self.bus: RedisBus | None = None
        self.web: Any = None  # the site's IListeningPort, once listening
        self.lines: Any = None  # the line Server, once listening

    async def start(self) -> None:
        """Connect to Redis (if asked) and start listening."""
        if self.redis:
            self.bus = RedisBus(self.room, Event)
            await self.bus.start(await resp.connect(self.redis), await resp.connect(self.redis))
            self.room.bus = self.bus
        site = Site(Front(self.sockets))  # type: ignore[no-untyped-call]
        site.noisy = False
        endpoint = serverFromString(self.reactor, f"tcp:{self.http_port}:interface={self.host}")  # type: ignore[no-untyped-call]
        self.web = await endpoint.listen(site)
        self.http_port = self.web.getHost().port
        self.lines = await lines.serve(
            self.line_handler,
            f"tcp:{self.line_port}:interface={self.host}",
            delimiter=LINE_DELIMITERS,
            max_line_length=MAX_LINE,
        )
        self.line_port = self.lines.port

    async def wait(self) -> None:
        """Return when the Redis subscription ends (never, in memory)."""
        if self.bus is None:
            await Deferred()  # the embedded room only stops when asked to
        else:
            await self.bus.listen()

    async def aclose(self) -> None:
        """Say goodbye, close WebSockets with 1001 and line clients, then Redis.

        A line session's outbox sends what it holds (the goodbye included)
        when the line server cancels the session, so no pause is needed here.
        """
        await self.room.deliver(f"* {SHUTTING_DOWN}")  # this hub's members only
        if self.web is not None:
            await self.web.stopListening()
        await self.sockets.aclose(SHUTTING_DOWN)
        if self.lines is not None:
            await self.lines.aclose()
        if self.bus is not None:
            await self.bus.aclose()


class Runner:
    """Runs a hub under the reactor: starts it, stops it on Ctrl-C or when Redis goes."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.started = False
        self.stopping = False
        self.status = 0

    async def run(self) -> None:
        """Start the hub, print where it is, and wait until it stops or loses Redis."""
        hub, host = self.hub, self.hub.host.replace("\\:", ":")
        try:
            await hub.start()
        except CANNOT_START as exc:  # a port in use, Redis unreachable ...
            print(f"chathub: cannot start: {exc}", file=sys.stderr, flush=True)
            self.status = 1
            hub.reactor.stop()
            return
        self.started = True
        hub.reactor.addSystemEventTrigger("before", "shutdown", self.stop)
        print(f"chathub: browser   http://{host}:{hub.http_port}/", flush=True)
        print(f"chathub: websocket ws://{host}:{hub.http_port}/chat", flush=True)
        print(f"chathub: line      nc {host} {hub.line_port}", flush=True)
        print(f"chathub: room      {hub.redis or 'in memory'}  (Ctrl-C stops)", flush=True)
        await hub.wait()
        if not self.stopping:  # the subscription ended by itself
            print("chathub: lost the Redis connection; stopping", file=sys.stderr, flush=True)
            self.status = 1
            hub.reactor.stop()

    def failed(self, failure: Failure) -> None:
        """A bug, not a network error: say it, and stop with status 1 rather than hang."""
        print(f"chathub: failed: {failure.getTraceback()}", file=sys.stderr, flush=True)
        self.status = 1
        if not self.stopping:
            self.hub.reactor.stop()

    def stop(self) -> Deferred[None]:
        """The reactor's "before shutdown" trigger: it waits for the hub to close."""
        self.stopping = True
        return Deferred.fromCoroutine(self.hub.aclose())


def main(
    host: str,
    http_port: int,
    line_port: int,
    redis: str | None,
    *,
    stall_timeout: float = STALL_TIMEOUT,
) -> int:
    """Run the hub under the global reactor until SIGINT or SIGTERM; return the exit status.

    The status is 0 after a signal, 1 if the hub could not start or lost
    its Redis connection (as the asyncio hub's).
    """
    from twisted.internet import reactor as global_reactor

    reactor: Any = global_reactor  # zope interfaces' methods do not type-check as methods
    hub = Hub(host, http_port, line_port, redis, stall_timeout=stall_timeout, reactor=reactor)
    runner = Runner(hub)
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(runner.run()).addErrback(runner.failed))
    reactor.run()  # SIGINT and SIGTERM stop it
    if runner.started:
        print("chathub: stopped", flush=True)
    return runner.status
