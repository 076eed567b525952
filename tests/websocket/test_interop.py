"""Interoperability, in memory, with the sans-IO layer of the websockets library."""

from __future__ import annotations

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State as TheirState
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tidewire_websocket import (
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    ClientConnection,
    CloseConnection,
    PerMessageDeflate,
    Ping,
    Pong,
    Request,
    ServerConnection,
    State,
    TextMessage,
    WebSocketClosed,
)

DEFLATE_CASES = [
    None,
    ({}, PerMessageDeflate()),
    ({"client_max_window_bits": 10, "server_max_window_bits": 11}, PerMessageDeflate()),
    (
        {"client_no_context_takeover": True, "server_no_context_takeover": True},
        PerMessageDeflate(client_max_window_bits=9),
    ),
]


def frames(protocol) -> list:
    return [(f.opcode, bytes(f.data), f.fin) for f in protocol.events_received()]


@pytest.mark.parametrize("case", DEFLATE_CASES)
def test_their_client_our_server(case):
    extensions = [ClientPerMessageDeflateFactory(**case[0])] if case else []
    theirs = ClientProtocol(
        parse_uri("ws://example.com/x"), extensions=extensions, subprotocols=["v1"]
    )
    theirs.send_request(theirs.connect())
    ours = ServerConnection()
    ours.receive_data(b"".join(theirs.data_to_send()))
    [request] = list(ours.events())
    assert request.subprotocols == ("v1",)
    ours.send(AcceptConnection("v1", extensions=(case[1],) if case else ()))
    theirs.receive_data(ours.data_to_send())
    [response] = theirs.events_received()
    assert isinstance(response, Response)
    assert theirs.state is TheirState.OPEN
    assert bool(theirs.extensions) == bool(case)

    texts = ["", "héllo", "x" * 70_000]
    for text in texts:
        theirs.send_text(text.encode())
    theirs.send_binary(b"\x00" * 100, fin=False)
    theirs.send_continuation(b"\x01", fin=True)
    theirs.send_ping(b"ping")
    ours.receive_data(b"".join(theirs.data_to_send()))
    events = list(ours.events())
    assert events == [
        *(TextMessage(t) for t in texts),
        BytesMessage(b"\x00" * 100 + b"\x01"),
        Ping(b"ping"),
    ]

    for text in texts:
        ours.send(TextMessage(text))
    ours.send(BytesChunk(b"a" * 300))
    ours.send(BytesChunk(b"b", last=True))
    theirs.receive_data(ours.data_to_send())
    received = frames(theirs)
    assert received[0] == (Opcode.PONG, b"ping", True)
    assert received[1:4] == [(Opcode.TEXT, t.encode(), True) for t in texts]
    assert received[4:] == [(Opcode.BINARY, b"a" * 300, False), (Opcode.CONT, b"b", True)]

    theirs.send_close(1001, "bye")
    ours.receive_data(b"".join(theirs.data_to_send()))
    assert list(ours.events()) == [CloseConnection(1001, "bye")]
    assert ours.state is State.CLOSED and ours.should_close_transport
    theirs.receive_data(ours.data_to_send())
    theirs.receive_eof()
    assert theirs.state is TheirState.CLOSED
    assert theirs.close_code == 1001


@pytest.mark.parametrize("case", DEFLATE_CASES)
def test_our_client_their_server(case):
    extensions = [ServerPerMessageDeflateFactory(**case[0])] if case else []
    theirs = ServerProtocol(extensions=extensions, subprotocols=["v2"])
    ours = ClientConnection()
    ours.send(Request("example.com", "/", ("v2",), (case[1],) if case else ()))
    theirs.receive_data(ours.data_to_send())
    [request] = theirs.events_received()
    theirs.send_response(theirs.accept(request))
    theirs.send_text(b"welcome")
    ours.receive_data(b"".join(theirs.data_to_send()))
    accepted, welcome = list(ours.events())
    assert isinstance(accepted, AcceptConnection)
    assert accepted.subprotocol == "v2"
    assert len(accepted.extensions) == (1 if case else 0)
    assert welcome == TextMessage("welcome")

    messages = [TextMessage("x" * 5000), TextMessage("x" * 5000), BytesMessage(bytes(70_000))]
    for message in messages:
        ours.send(message)
    ours.send(Ping(b"1"))
    theirs.receive_data(ours.data_to_send())
    received = frames(theirs)
    assert [data for _, data, _ in received[:3]] == [b"x" * 5000, b"x" * 5000, bytes(70_000)]
    assert received[3] == (Opcode.PING, b"1", True)

    theirs.send_binary(b"z" * 3000)
    theirs.send_ping(b"2")
    theirs.send_close(1000, "done")
    ours.receive_data(b"".join(theirs.data_to_send()))
    assert list(ours.events()) == [
        Pong(b"1"),
        BytesMessage(b"z" * 3000),
        Ping(b"2"),
        CloseConnection(1000, "done"),
    ]
    theirs.receive_data(ours.data_to_send())
    [pong, close] = frames(theirs)
    assert pong == (Opcode.PONG, b"2", True)
    assert close[0] == Opcode.CLOSE
    out = theirs.data_to_send()
    assert out[-1] == b""  # their server closes TCP first
    ours.receive_eof()
    assert list(ours.events()) == [WebSocketClosed(1000, "done")]


def test_their_protocol_error_reaches_us_as_a_close():
    theirs = ServerProtocol()
    ours = ClientConnection()
    ours.send(Request("example.com"))
    theirs.receive_data(ours.data_to_send())
    [request] = theirs.events_received()
    theirs.send_response(theirs.accept(request))
    ours.receive_data(b"".join(theirs.data_to_send()))
    list(ours.events())
    theirs.receive_data(b"\x81\x02ab")  # unmasked from a client: their server fails 1002
    ours.receive_data(b"".join(theirs.data_to_send()))
    [close] = list(ours.events())
    assert close.code == 1002
