"""The server's opening handshake (RFC 6455 section 4.2) and the contract suite."""

from __future__ import annotations

import pytest
from websocket_kit import REQUEST, frame, merge_chunks, open_server

from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError
from tidewire.testing import ConnectionContract, assert_split_invariant
from tidewire_websocket import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    ExtensionOffer,
    HTTPRequest,
    Opcode,
    PerMessageDeflate,
    Ping,
    RejectConnection,
    Request,
    ServerConnection,
    State,
    TextChunk,
    TextMessage,
    WebSocketClosed,
)


def request(*extra: bytes, drop: bytes = b"", first_line: bytes = b"GET /chat HTTP/1.1") -> bytes:
    lines = [first_line] + [
        line
        for line in REQUEST.split(b"\r\n")[1:-2]
        if not (drop and line.lower().startswith(drop.lower()))
    ]
    return b"\r\n".join(lines + list(extra)) + b"\r\n\r\n"


def test_request_event_carries_everything():
    server = ServerConnection()
    server.receive_data(
        request(
            b"Sec-WebSocket-Protocol: chat, superchat",
            b"Sec-WebSocket-Protocol: v2",
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo",
            b"Origin: http://example.com",
        )
    )
    event = server.next_event()
    assert isinstance(event, Request)
    assert event.host == "example.com"
    assert event.target == "/chat"
    assert event.subprotocols == ("chat", "superchat", "v2")
    assert event.extensions == (
        ExtensionOffer("permessage-deflate", (("client_max_window_bits", None),)),
        ExtensionOffer("x-foo"),
    )
    assert (b"origin", b"http://example.com") in event.headers
    assert server.state is State.CONNECTING
    assert server.next_event() is NEED_DATA  # waiting for the application


def test_accept_writes_the_rfc_response():
    server = ServerConnection()
    server.receive_data(request(b"Sec-WebSocket-Protocol: chat"))
    server.next_event()
    server.send(AcceptConnection("chat", headers=((b"X-Extra", b"1"),)))
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    # The sample key and answer of RFC 6455 section 1.3.
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"Upgrade: websocket\r\n" in response
    assert b"Connection: Upgrade\r\n" in response
    assert b"Sec-WebSocket-Protocol: chat\r\n" in response
    assert response.endswith(b"X-Extra: 1\r\n\r\n")
    assert server.state is State.OPEN
    assert server.subprotocol == "chat"


def test_frames_in_the_same_chunk_as_the_request_follow_in_order():
    data = REQUEST + frame(Opcode.TEXT, b"one") + frame(Opcode.PING, b"two")
    for cut in range(len(data) + 1):
        server = ServerConnection()
        events = []
        for chunk in (data[:cut], data[cut:]):
            server.receive_data(chunk)
            for event in server.events():
                events.append(event)
                if isinstance(event, Request):
                    server.send(AcceptConnection())
        assert events[1:] == [TextMessage("one"), Ping(b"two")], cut
        assert isinstance(events[0], Request)


def test_error_offsets_count_the_handshake():
    server = open_server()
    server.receive_data(frame(5))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.offset == len(REQUEST)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (request(first_line=b"POST /chat HTTP/1.1"), 405, "not GET"),
        (request(first_line=b"GET /chat HTTP/1.0"), 505, "HTTP/1.0"),
        (request(drop=b"Connection"), 400, "Connection"),
        (request(b"Connection: keep-alive", drop=b"Connection"), 400, "Connection"),
        (request(drop=b"Sec-WebSocket-Key"), 400, "Sec-WebSocket-Key"),
        (request(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400, "Sec-WebSocket-Key"),
        (request(b"Sec-WebSocket-Key: abc", drop=b"Sec-WebSocket-Key"), 400, "Key"),
        (request(b"Sec-WebSocket-Key: c2hvcnQ=", drop=b"Sec-WebSocket-Key"), 400, "Key"),
        (request(drop=b"Sec-WebSocket-Version"), 426, "13"),
        (request(b"Sec-WebSocket-Version: 8", drop=b"Sec-WebSocket-Version"), 426, "13"),
        (request(b"Content-Length: 3"), 400, "body"),
        (request(b"Transfer-Encoding: chunked"), 400, "body"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n!", 400, "body"),
        (request(b"Sec-WebSocket-Protocol: a b"), 400, "not a token"),
        (request(b"Sec-WebSocket-Extensions: ;"), 400, "cannot parse"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400, "Host"),
        (b"NOT HTTP\r\n\r\n", 400, "invalid HTTP request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000, 431, "over 8192 bytes"),
    ],
)
def test_bad_requests_get_an_http_error_response(data, status, words):
    server = ServerConnection()
    server.receive_data(data)
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == status
    assert words in info.value.message
    response = server.data_to_send()
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    assert info.value.message.encode() in response
    if status == 426:
        assert b"Sec-WebSocket-Version: 13\r\n" in response
    if status == 405:
        assert b"Allow: GET\r\n" in response
    assert server.state is State.CLOSED
    assert server.should_close_transport


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"GET /healthz?full=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            HTTPRequest("example.com", "/healthz?full=1", ((b"host", b"example.com"),)),
        ),
        (b"GET / HTTP/1.0\r\n\r\n", HTTPRequest("", "/")),  # 1.0 needs no Host
        (request(drop=b"Upgrade"), None),
        (request(b"Upgrade: h2c", drop=b"Upgrade"), None),
    ],
)
def test_a_plain_get_is_an_http_request_answered_with_any_response(data, expected):
    server = ServerConnection()
    assert_split_invariant(ServerConnection, data)
    server.receive_data(data)
    event = server.next_event()
    assert isinstance(event, HTTPRequest)
    if expected is not None:
        assert event == expected
    else:
        assert (event.host, event.target) == ("example.com", "/chat")
    assert server.next_event() is NEED_DATA  # waiting for the answer
    with pytest.raises(LocalProtocolError, match="RejectConnection"):
        server.send(AcceptConnection())
    assert server.data_to_send() == b""
    assert server.state is State.CONNECTING
    server.send(RejectConnection(200, ((b"Content-Type", b"text/plain"),), b"ok\n"))
    assert server.data_to_send() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
    )
    assert server.state is State.CLOSED
    assert server.should_close_transport


def test_content_length_zero_is_no_body():
    server = ServerConnection()
    server.receive_data(request(b"Content-Length: 0"))
    assert isinstance(server.next_event(), Request)


def test_reject():
    server = ServerConnection()
    server.receive_data(REQUEST)
    server.next_event()
    server.send(RejectConnection(403, ((b"X-Why", b"no"),), b"go away"))
    assert server.data_to_send() == (
        b"HTTP/1.1 403 Forbidden\r\nX-Why: no\r\nContent-Length: 7\r\n\r\ngo away"
    )
    assert server.state is State.CLOSED
    assert server.should_close_transport
    server.receive_data(frame(Opcode.TEXT, b"ignored"))
    assert server.next_event() is NEED_DATA
    server.receive_eof()
    assert server.next_event() == WebSocketClosed(1006)
    with pytest.raises(LocalProtocolError):
        server.send(AcceptConnection())


def test_reject_with_an_unusual_status_gets_a_generic_reason():
    server = ServerConnection()
    server.receive_data(REQUEST)
    server.next_event()
    server.send(RejectConnection(499))
    assert server.data_to_send().startswith(b"HTTP/1.1 499 WebSocket\r\n")


@pytest.mark.parametrize(
    "bad",
    [
        AcceptConnection("chat"),  # not offered
        AcceptConnection(extensions=(PerMessageDeflate(), PerMessageDeflate())),
        AcceptConnection(extensions=("permessage-deflate",)),  # type: ignore[arg-type]
        AcceptConnection(extensions=(PerMessageDeflate(server_max_window_bits=8),)),
        AcceptConnection(extensions=(PerMessageDeflate(client_max_window_bits=16),)),
        AcceptConnection(headers=((b"X", b"a\r\nInjected: 1"),)),
        AcceptConnection(headers=((b"Bad Name", b"1"),)),
        AcceptConnection(headers=(("str", "str"),)),  # type: ignore[arg-type]
        AcceptConnection(headers=((b"X",),)),  # type: ignore[arg-type]
        AcceptConnection(headers=((b"Connection", b"close"),)),
        AcceptConnection(headers=((b"sec-websocket-protocol", b"x"),)),
        RejectConnection(headers=((b"Content-Length", b"1"),)),
        RejectConnection(101),
        RejectConnection(600),
        RejectConnection(400, body="text"),  # type: ignore[arg-type]
        Request("example.com"),
        TextMessage("too early"),
        CloseConnection(),
    ],
)
def test_invalid_answers_change_nothing(bad):
    server = ServerConnection()
    server.receive_data(REQUEST)
    server.next_event()
    with pytest.raises(LocalProtocolError) as info:
        server.send(bad)
    assert info.value.message
    assert server.data_to_send() == b""
    assert server.state is State.CONNECTING
    server.send(AcceptConnection())  # a correct answer still works
    assert server.state is State.OPEN


def test_answering_before_the_request_is_refused():
    server = ServerConnection()
    with pytest.raises(LocalProtocolError, match="no request"):
        server.send(AcceptConnection())


def test_extension_negotiation_takes_the_first_acceptable_offer():
    server = ServerConnection()
    server.receive_data(
        request(
            b"Sec-WebSocket-Extensions: x-unknown, permessage-deflate; server_max_window_bits=8,"
            b" permessage-deflate; bogus, permessage-deflate; server_max_window_bits=10;"
            b" client_max_window_bits, permessage-deflate"
        )
    )
    server.next_event()
    server.send(AcceptConnection(extensions=(PerMessageDeflate(client_max_window_bits=12),)))
    response = server.data_to_send()
    assert (
        b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10;"
        b" client_max_window_bits=12\r\n" in response
    )
    assert server.extensions == (PerMessageDeflate(False, False, 10, 12),)


def test_no_acceptable_offer_means_no_compression():
    server = ServerConnection()
    server.receive_data(request(b"Sec-WebSocket-Extensions: permessage-deflate; x=1"))
    server.next_event()
    server.send(AcceptConnection(extensions=(PerMessageDeflate(),)))
    assert b"Sec-WebSocket-Extensions" not in server.data_to_send()
    assert server.extensions == ()


def test_eof_during_the_handshake():
    server = ServerConnection()
    server.receive_data(REQUEST[:20])
    server.receive_eof()
    assert list(server.events()) == [WebSocketClosed(1006)]


def test_handshake_split_invariant():
    data = request(b"Sec-WebSocket-Protocol: a, b") + b"trailing bytes wait"
    outcome = assert_split_invariant(ServerConnection, data)
    assert len(outcome.events) == 1
    assert outcome.events[0].subprotocols == ("a", "b")


class TestServerContract(ConnectionContract):
    """The base contract, after the handshake, receiving masked client frames."""

    valid_input = (
        frame(Opcode.TEXT, "héllo wörld".encode() * 3, fin=False)
        + frame(Opcode.PING, b"ping")
        + frame(Opcode.CONTINUATION, b"!")
        + frame(Opcode.BINARY, bytes(range(200)))
        + frame(Opcode.PONG)
        + frame(Opcode.CLOSE, b"\x03\xe8bye")
    )
    invalid_input = frame(Opcode.TEXT, b"ok") + frame(Opcode.TEXT, b"\xce\xba\xff")

    def make_connection(self):
        return open_server()

    def make_clocked_connection(self, clock):
        return open_server(clock=clock)

    def sendable_events(self):
        return [
            TextMessage("a"),
            BytesMessage(b"b"),
            TextChunk("c"),
            TextChunk("d", last=True),
            Ping(b"p"),
            CloseConnection(1000),
        ]

    def unsendable_events(self):
        return [Request("x"), AcceptConnection(), Ping(b"x" * 200), CloseConnection(1005, "x")]


class TestStreamingServerContract(TestServerContract):
    """The same contract when streaming message chunks."""

    def make_connection(self):
        return open_server(streaming=True)

    def normalize(self, events):
        # Where a stream stops (an error, the end of the input) inside a message,
        # how much of it was already streamed depends on the split: drop that part.
        merged = merge_chunks(events)
        if merged and isinstance(merged[-1], TextChunk) and not merged[-1].last:
            merged.pop()
        return merged
