"""One port for the page and the WebSocket: plain HTTP ``GET`` or an upgrade.

``tidewire_asyncio.websocket.serve`` answers a request that is not a
WebSocket upgrade with ``400`` before ``process_request`` sees it, so it
cannot also serve the page. This listener reads each request's head itself:
a plain ``GET /`` gets the page; an upgrade request is handed, with the
bytes already read, to a fresh ``tidewire-websocket`` core, and from there
on it is an ordinary :class:`~tidewire_asyncio.websocket.WebSocket`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import Awaitable, Callable

import tidewire_asyncio
from tidewire import ProtocolError
from tidewire_asyncio import ConnectionLostError
from tidewire_asyncio.websocket import AcceptConnection, Request, WebSocket
from tidewire_websocket import PerMessageDeflate, ServerConnection

MAX_HEAD = 16 * 1024
UPGRADE = re.compile(rb"^upgrade:[ \t]*websocket", re.IGNORECASE | re.MULTILINE)


def http_response(status: str, content_type: str, body: bytes) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class FrontDoor:
    """Serve ``page`` at ``GET /`` and run ``handler(websocket)`` for upgrades."""

    def __init__(
        self,
        handler: Callable[[WebSocket], Awaitable[None]],
        page: bytes,
        *,
        max_message_size: int,
        close_timeout: float = 5.0,
    ) -> None:
        self.handler = handler
        self.page = http_response("200 OK", "text/html; charset=utf-8", page)
        self.not_found = http_response("404 Not Found", "text/plain", b"only / is here\n")
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.websockets: set[WebSocket] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (``0``: a free port, see :attr:`port`)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, port), family=family)
        self.listener.setblocking(False)
        self.accepting = asyncio.create_task(self.accept())

    @property
    def port(self) -> int:
        """The port we listen on."""
        port: int = self.listener.getsockname()[1]
        return port

    async def accept(self) -> None:
        """Accept connections for ever, one task each."""
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self.listener)
            task = asyncio.create_task(self.connection(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def connection(self, conn: socket.socket) -> None:
        """Answer one connection: the page, a 404, or a WebSocket session."""
        loop = asyncio.get_running_loop()
        head = b""
        try:
            async with asyncio.timeout(10):
                while b"\r\n\r\n" not in head:
                    chunk = await loop.sock_recv(conn, 4096)
                    if not chunk or len(head) > MAX_HEAD:
                        conn.close()  # gone, or a head too large to be a browser's
                        return
                    head += chunk
            if not UPGRADE.search(head):
                wanted = head.startswith((b"GET / ", b"GET /index.html "))
                await loop.sock_sendall(conn, self.page if wanted else self.not_found)
                conn.close()
                return
        except (TimeoutError, OSError):
            conn.close()
            return
        # The core parses the request from the bytes we already read.
        core = ServerConnection(max_message_size=self.max_message_size)
        core.receive_data(head)
        stream = await tidewire_asyncio.connect(lambda: core, sock=conn)
        async with stream:
            try:
                request = await stream.receive()
                assert isinstance(request, Request)
                answer = AcceptConnection(None, (PerMessageDeflate(),))
                await stream.send(answer)
            except (ProtocolError, ConnectionLostError):
                return  # a bad request (the core answered it with an HTTP error), or gone
            websocket = WebSocket(stream, request, answer, close_timeout=self.close_timeout)
            self.websockets.add(websocket)
            try:
                await self.handler(websocket)
            finally:
                self.websockets.discard(websocket)
                await websocket.close()

    async def aclose(self) -> None:
        """Stop listening, close every WebSocket with 1001 (going away), wait for handlers."""
        self.accepting.cancel()
        self.listener.close()
        closing = [ws.close(1001, "the hub is shutting down") for ws in list(self.websockets)]
        await asyncio.gather(*closing, return_exceptions=True)
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=self.close_timeout)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
