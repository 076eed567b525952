"""Helpers shared by the WebSocket tests: open connections and raw frames."""

from __future__ import annotations

from typing import Any

from tidewire.testing import Loopback
from tidewire_websocket import (
    AcceptConnection,
    BytesChunk,
    ClientConnection,
    PerMessageDeflate,
    Request,
    ServerConnection,
    TextChunk,
    apply_mask,
)

KEY = b"\x37\xfa\x21\x3d"
REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def open_server(*, deflate: PerMessageDeflate | None = None, **options: Any) -> ServerConnection:
    """A server past the handshake, its outgoing bytes drained."""
    server = ServerConnection(**options)
    request = REQUEST
    if deflate is not None:
        request = request[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    server.receive_data(request)
    assert isinstance(server.next_event(), Request)
    server.send(AcceptConnection(extensions=(deflate,) if deflate else ()))
    server.data_to_send()
    return server


def open_client(*, deflate: PerMessageDeflate | None = None, **options: Any) -> ClientConnection:
    """A client past the handshake (with a server of ours), its outgoing bytes drained."""
    client = ClientConnection(**options)
    server = ServerConnection()
    client.send(Request("example.com", extensions=(deflate,) if deflate else ()))
    pair = Loopback(client, server)
    pair.pump()
    server.send(AcceptConnection(extensions=(deflate,) if deflate else ()))
    pair.pump()
    client.data_to_send()
    return client


def open_pair(**options: Any) -> tuple[ClientConnection, ServerConnection, Loopback]:
    """A client and a server of ours, past the handshake, wired by a Loopback."""
    deflate = options.pop("deflate", None)
    client = ClientConnection(**options)
    server = ServerConnection(**options)
    pair = Loopback(client, server)
    client.send(Request("example.com", extensions=(deflate,) if deflate else ()))
    pair.pump()
    server.send(AcceptConnection(extensions=(deflate,) if deflate else ()))
    pair.pump()
    return client, server, pair


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: bytes | None = KEY,
    length: int | None = None,
) -> bytes:
    """A raw frame, masked with ``key`` (None: unmasked), any bits, any length encoding.

    ``length`` forces the 7-bit length field (126 or 127 for the extended forms).
    """
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    code = length if length is not None else size if size < 126 else 126 if size < 65536 else 127
    bit = 0x80 if key is not None else 0
    header = bytes([first, bit | code])
    if code == 126:
        header += size.to_bytes(2, "big")
    elif code == 127:
        header += size.to_bytes(8, "big")
    if key is None:
        return header + payload
    return header + key + apply_mask(payload, key)


def merge_chunks(events: list[Any]) -> list[Any]:
    """Join consecutive streamed chunks of one message, so chunkings compare equal."""
    merged: list[Any] = []
    for event in events:
        if (
            isinstance(event, TextChunk | BytesChunk)
            and merged
            and type(merged[-1]) is type(event)
            and not merged[-1].last
        ):
            previous = merged.pop()
            event = type(event)(previous.data + event.data, event.last)
        merged.append(event)
    return merged
