"""A single-frame binary message awaited whole, unmasked once (issue 16)."""

from __future__ import annotations

import os
import zlib

import pytest
from websocket_kit import frame, open_server

from tidewire import NEED_DATA, RemoteProtocolError
from tidewire_websocket import (
    AcceptConnection,
    BytesMessage,
    ClientConnection,
    PerMessageDeflate,
    Request,
    ServerConnection,
    TextMessage,
)
from tidewire_websocket.frames import Opcode

TEXT, BINARY = Opcode.TEXT, Opcode.BINARY


def _pair(**server_options: object) -> tuple[ClientConnection, ServerConnection]:
    client = ClientConnection(max_message_size=None, max_frame_size=None)
    server = ServerConnection(**server_options)  # type: ignore[arg-type]
    client.send(Request("example.com"))
    server.receive_data(client.data_to_send())
    list(server.events())
    server.send(AcceptConnection())
    client.receive_data(server.data_to_send())
    list(client.events())
    return client, server


@pytest.mark.parametrize("piece", [1000, 65536])
def test_a_message_bigger_than_max_buffer_size_arrives_whole(piece):
    """max_buffer_size caps the handshake, not a frame awaited whole within the message limits."""
    client, server = _pair(max_message_size=None, max_frame_size=None, max_buffer_size=4096)
    payload = os.urandom(20_000)
    client.send(BytesMessage(payload))
    client.send(TextMessage("after"))
    wire = client.data_to_send()
    events = []
    for i in range(0, len(wire), piece):
        server.receive_data(wire[i : i + piece])
        while (event := server.next_event()) is not NEED_DATA:
            events.append(event)
    assert events == [BytesMessage(payload), TextMessage("after")]


def _deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


BAD_COMPRESSED = {  # what is wrong: (opcode, payload, the error says)
    "too big once inflated": (TEXT, _deflated(b"x" * 5000), "once decompressed"),
    "invalid deflate data": (BINARY, b"\xff\xff\xff\xff", "invalid compressed data"),
    "invalid UTF-8": (TEXT, _deflated(b"ok \xff"), "invalid UTF-8"),
}


def _feed(server: ServerConnection, wire: bytes, piece: int) -> None:
    for i in range(0, len(wire), piece):
        server.receive_data(wire[i : i + piece])
        while server.next_event() is not NEED_DATA:
            pass


@pytest.mark.parametrize("case", BAD_COMPRESSED, ids=str)
def test_a_bad_compressed_message_fails_alike_whole_or_in_pieces(case):
    """Taken whole at once or piece by piece: the same code, message and offset."""
    opcode, payload, says = BAD_COMPRESSED[case]
    wire = frame(TEXT, b"fine") + frame(opcode, payload, rsv=4)
    errors = []
    for piece in (len(wire), 1):
        server = open_server(deflate=PerMessageDeflate(), max_message_size=4096)
        with pytest.raises(RemoteProtocolError, match=says) as caught:
            _feed(server, wire, piece)
        errors.append((caught.value.code, str(caught.value), caught.value.offset))
    assert errors[0] == errors[1]
