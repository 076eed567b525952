"""What every hub serves the same way: the page, the paths, the limits and the names.

No framework here: the hubs pass these hooks and constants to their
adapter's ``websocket.serve`` and ``lines.serve``, and read what clients type
with :func:`websocket_texts` and :func:`line_texts` (every adapter's
WebSocket and LineStream have the same names and errors).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tidewire import RemoteProtocolError, StreamClosedError
from tidewire_websocket import HTTPRequest, RejectConnection, Request

from .room import Member

PAGE = RejectConnection(
    200,
    ((b"Content-Type", b"text/html; charset=utf-8"),),
    (Path(__file__).parent / "page.html").read_bytes(),
)
NOT_FOUND = RejectConnection(
    404, ((b"Content-Type", b"text/plain"),), b"the page is at /, the WebSocket at /chat\n"
)
CHAT_PATH = "/chat"
"""Where the WebSocket is; the page is at ``/``."""
MAX_LINE = 4096
"""Bytes a line may have on the line port; a longer one ends the connection."""
MAX_MESSAGE = 64 * 1024
"""Bytes a WebSocket message may have; a larger one closes with 1009."""
NOT_READING = "you are not reading what the room says; disconnecting you"
"""Why a client is dropped: a WebSocket's close reason (code 1008), a line user's last line."""
SHUTTING_DOWN = "the hub is shutting down"
"""The close reason of every WebSocket (code 1001) when the hub stops."""
SEND_BUFFER = 64 * 1024
"""Bytes the kernel may hold for one client's socket."""
MAX_PENDING = 256
"""Texts that may wait for one client; past that, delivering to it waits."""
STALL_TIMEOUT = 10.0
"""Seconds a client may take nothing while its outbox is full before it is dropped."""
GOODBYE_TIMEOUT = 5.0
"""Seconds a client gets to take its last texts, or the goodbye of a dropped one."""
CHANNEL = "tidewire-chathub"
"""The Redis channel anything may publish on to talk to the room; each hub adds ``.<id>``."""
LINE_DELIMITERS = (b"\r\n", b"\n")
"""What ends a line on the line port (telnet sends CRLF, nc LF)."""


def keep_send_buffer_small(sock: socket.socket | None) -> None:
    """Cap the kernel's share of what waits for a client (Linux grows it to megabytes).

    So a client that reads nothing fills its outbox, and is noticed, soon.
    """
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


def page(request: HTTPRequest) -> RejectConnection | None:
    """The WebSocket port's plain-HTTP hook: ``GET /`` gets the page.

    A plain ``GET /chat`` is left to the server, which answers ``426 Upgrade
    Required``; any other path is a 404.
    """
    if request.target in ("/", "/index.html"):
        return PAGE
    return None if _path(request.target) == CHAT_PATH else NOT_FOUND


def chat_only(request: Request) -> RejectConnection | None:
    """The upgrade hook: the WebSocket is at ``/chat`` only, whatever the query."""
    return None if _path(request.target) == CHAT_PATH else NOT_FOUND


def _path(target: str) -> str:
    return target.partition("?")[0]


async def websocket_texts(websocket: Any, member: Member) -> AsyncIterator[str]:
    """A browser's chat lines: its text messages, until it goes."""
    try:
        async for message in websocket:
            if isinstance(message, bytes):
                await member.deliver("! send text messages, not binary")
            else:
                yield message
    except StreamClosedError:
        pass  # closed uncleanly, dropped, or a message over MAX_MESSAGE (1009 said why)


async def line_texts(stream: Any, member: Member) -> AsyncIterator[str]:
    """An ``nc`` user's chat lines, UTF-8, until they go."""
    try:
        async for line in stream:
            yield line.decode("utf-8", "replace")
    except RemoteProtocolError:
        # The core refused a line over MAX_LINE bytes; the stream cannot
        # resynchronise, so say why and end the session.
        await member.deliver(f"! line too long (over {MAX_LINE} bytes); closing the connection")
    except StreamClosedError:
        pass  # the client reset the connection, or was dropped
