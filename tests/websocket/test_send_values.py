"""Any value sent raises nothing but LocalProtocolError, and changes nothing (issue 12, item 12).

Events accept any field values; ``send()`` checks them all, in every state
of both roles, before the connection changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websocket_kit import REQUEST, frame, open_client, open_server

from tidewire import LocalProtocolError
from tidewire_websocket import (
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    ClientConnection,
    CloseConnection,
    ExtensionOffer,
    HTTPRequest,
    Opcode,
    PerMessageDeflate,
    Ping,
    Pong,
    RejectConnection,
    Request,
    ServerConnection,
    TextChunk,
    TextMessage,
    WebSocketClosed,
    WebSocketConnection,
)


def released() -> memoryview:
    view = memoryview(b"gone")
    view.release()
    return view


@pytest.mark.parametrize(
    "request_",
    [
        Request("example.com", subprotocols=(1,)),  # type: ignore[arg-type]
        Request("example.com", subprotocols=None),  # type: ignore[arg-type]
        Request("example.com", subprotocols="chat"),  # type: ignore[arg-type]
        Request("example.com", subprotocols=("a,b",)),
        Request("example.com", subprotocols=("\ud800",)),
        Request("example.com", extensions=None),  # type: ignore[arg-type]
        Request("example.com", extensions=("permessage-deflate",)),  # type: ignore[arg-type]
        Request("example.com", extensions=(PerMessageDeflate("yes"),)),  # type: ignore[arg-type]
        Request("example.com", extensions=(PerMessageDeflate(None, None, 10**5000),)),  # type: ignore[arg-type]
        Request("example.com", headers=None),  # type: ignore[arg-type]
        Request("example.com", headers=((b"x", 10**5000),)),  # type: ignore[arg-type]
        Request("example.com", headers=[10**5000]),  # type: ignore[list-item]
        Request("example.com", target=10**5000),  # type: ignore[arg-type]
        Request(10**5000),  # type: ignore[arg-type]
    ],
)
def test_bad_requests_are_local_errors(request_):
    client = ClientConnection()
    with pytest.raises(LocalProtocolError) as info:
        client.send(request_)
    assert info.value.message
    assert client.data_to_send() == b""
    client.send(Request("example.com"))  # nothing changed: the real request goes out


def server_with_request(subprotocols: bytes = b"") -> ServerConnection:
    server = ServerConnection()
    head = REQUEST[:-2]
    if subprotocols:
        head += b"Sec-WebSocket-Protocol: " + subprotocols + b"\r\n"
    server.receive_data(head + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    assert isinstance(server.next_event(), Request)
    return server


@pytest.mark.parametrize(
    "answer",
    [
        AcceptConnection(extensions=None),  # type: ignore[arg-type]
        AcceptConnection(extensions=PerMessageDeflate()),  # type: ignore[arg-type]
        AcceptConnection(extensions=(PerMessageDeflate(1),)),  # type: ignore[arg-type]
        AcceptConnection(subprotocol=["chat"]),  # type: ignore[arg-type]
        AcceptConnection(subprotocol=b"chat"),  # type: ignore[arg-type]
        AcceptConnection(headers=None),  # type: ignore[arg-type]
        AcceptConnection(headers=(("x", "y"),)),  # type: ignore[arg-type]
        RejectConnection(10**5000),
        RejectConnection(404, body="text"),  # type: ignore[arg-type]
        RejectConnection(404, body=released()),  # type: ignore[arg-type]
        RejectConnection(404, headers=b"x: y"),  # type: ignore[arg-type]
    ],
)
def test_bad_answers_are_local_errors(answer):
    server = server_with_request(b"chat")
    with pytest.raises(LocalProtocolError) as info:
        server.send(answer)
    assert info.value.message
    assert server.data_to_send() == b""
    server.send(AcceptConnection("chat", (PerMessageDeflate(),)))


@pytest.mark.parametrize(
    "event",
    [
        TextMessage("x", compress=None),  # type: ignore[arg-type]
        TextChunk("x", last="yes"),  # type: ignore[arg-type]
        BytesChunk(b"x", last=1),  # type: ignore[arg-type]
        BytesMessage(released()),  # type: ignore[arg-type]
        Ping(released()),  # type: ignore[arg-type]
        CloseConnection(10**5000),
        CloseConnection(1000, 10**5000),  # type: ignore[arg-type]
    ],
)
def test_bad_messages_are_local_errors(event):
    server = open_server()
    with pytest.raises(LocalProtocolError) as info:
        server.send(event)
    assert "type" in info.value.message or info.value.message
    assert server.data_to_send() == b""


# -- fuzzing: random values through every event type, in every state ------------------------

huge = st.integers(4400, 4500).map(lambda digits: 10**digits)  # repr() refuses these
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    huge,
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "chat", "/", "example.com", "€"]),
    st.binary(max_size=8),
    st.binary(max_size=8).map(bytearray),
    st.binary(max_size=8).map(memoryview),
    st.builds(released),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=3), inner, max_size=2),
        st.builds(PerMessageDeflate, inner, inner, inner, inner),
        st.builds(ExtensionOffer, inner, inner),
    ),
    max_leaves=6,
)
# Plausible values too, so that checks deeper than the first are reached.
plausible = {
    "data": st.one_of(st.text(max_size=20), st.binary(max_size=20)),
    "payload": st.binary(max_size=130),
    "code": st.sampled_from([1000, 1005, 1006, 3000, 999, 5000]),
    "reason": st.text(max_size=130),
    "host": st.sampled_from(["example.com", "", "a b", "\x00"]),
    "target": st.sampled_from(["/", "/chat?x=1", "no-slash", "/a b", "/é"]),
    "subprotocols": st.lists(st.sampled_from(["chat", "", "a b", "é"]), max_size=3).map(tuple),
    "subprotocol": st.sampled_from([None, "chat", "other"]),
    "extensions": st.lists(
        st.builds(
            PerMessageDeflate,
            st.booleans(),
            st.booleans(),
            st.sampled_from([None, 8, 9, 15, 16]),
            st.sampled_from([None, 8, 9, 15, 16]),
        ),
        max_size=2,
    ).map(tuple),
    "headers": st.lists(
        st.tuples(
            st.sampled_from([b"X-A", b"Upgrade", b"", b"Bad Name", b"Content-Length"]),
            st.sampled_from([b"1", b" x", b"a\r\nb", b"\x80"]),
        ),
        max_size=2,
    ).map(tuple),
    "status_code": st.sampled_from([101, 200, 404, 600]),
    "body": st.binary(max_size=4),
    "compress": st.booleans(),
    "last": st.booleans(),
}
event_classes = [
    Request,
    HTTPRequest,
    AcceptConnection,
    RejectConnection,
    TextMessage,
    BytesMessage,
    TextChunk,
    BytesChunk,
    Ping,
    Pong,
    CloseConnection,
    WebSocketClosed,
    ExtensionOffer,
    PerMessageDeflate,
]


@st.composite
def events(draw: st.DrawFn) -> Any:
    cls = draw(st.sampled_from(event_classes))
    fields = {}
    for name in cls._fields:
        strategy = plausible.get(name)
        fields[name] = draw(values if strategy is None else st.one_of(strategy, values))
    return cls(**fields)


def make(role: str, stage: str) -> WebSocketConnection:
    """A connection of ``role`` in ``stage``, its outgoing bytes drained."""
    deflate = PerMessageDeflate() if stage.endswith("+deflate") else None
    stage = stage.removesuffix("+deflate")
    auto_close = stage != "remote closing"
    if stage == "idle":
        connection: WebSocketConnection = (
            ServerConnection() if role == "server" else ClientConnection()
        )
    elif stage == "handshaking":
        if role == "server":
            connection = server_with_request(b"chat")
        else:
            connection = ClientConnection()
            connection.send(
                Request("example.com", subprotocols=("chat",), extensions=(PerMessageDeflate(),))
            )
    elif role == "server":
        connection = open_server(deflate=deflate, auto_close=auto_close)
    else:
        connection = open_client(deflate=deflate, auto_close=auto_close)
    key = b"abcd" if role == "server" else None
    if stage == "fragment":
        connection.send(TextChunk("a"))
    elif stage == "local closing":
        connection.send(CloseConnection())
    elif stage in ("remote closing", "closed"):
        connection.receive_data(frame(Opcode.CLOSE, b"\x03\xe8", key=key))
        list(connection.events())
    elif stage == "failed":
        connection.receive_data(frame(Opcode.TEXT, b"\xff", key=key))
        with pytest.raises(Exception, match="UTF-8"):
            list(connection.events())
    connection.data_to_send()
    return connection


stages = st.sampled_from(
    [
        "idle",
        "handshaking",
        "open",
        "open+deflate",
        "fragment",
        "fragment+deflate",
        "local closing",
        "remote closing",
        "closed",
        "failed",
    ]
)


def snapshot(connection: WebSocketConnection) -> tuple:
    return (
        connection.state,
        connection.receive_state,
        connection.subprotocol,
        connection.extensions,
        connection.should_close_transport,
    )


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(["server", "client"]), stages, st.lists(events(), min_size=1, max_size=4))
def test_fuzz_sent_values_raise_only_local_errors(role, stage, sent):
    connection = make(role, stage)
    twin = make(role, stage)  # receives only the events that were accepted
    for event in sent:
        before = snapshot(connection)
        try:
            connection.send(event)
        except LocalProtocolError as error:
            assert error.message
            assert connection.data_to_send() == b""
            assert snapshot(connection) == before
            continue
        twin.send(event)
        out, expected = connection.data_to_send(), twin.data_to_send()
        # Servers write the same bytes; clients mask with random keys.
        assert len(out) == len(expected) if role == "client" else out == expected
        assert snapshot(connection) == snapshot(twin)
