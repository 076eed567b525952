"""The client's opening handshake (RFC 6455 section 4.1) and the contract suite."""

from __future__ import annotations

import base64
import hashlib

import pytest
from websocket_kit import frame, open_client

from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError
from tidewire.testing import ConnectionContract
from tidewire_websocket import (
    AcceptConnection,
    BytesMessage,
    ClientConnection,
    CloseConnection,
    Opcode,
    PerMessageDeflate,
    Ping,
    RejectConnection,
    Request,
    State,
    TextMessage,
    WebSocketClosed,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def started(request: Request | None = None, **options) -> tuple[ClientConnection, dict]:
    """A client that sent ``request``; returns it and the request's headers."""
    client = ClientConnection(**options)
    client.send(request or Request("example.com:8080", "/chat?x=1"))
    head = client.data_to_send().decode()
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, value = line.split(": ", 1)
            headers[name.lower()] = value
    headers["request-line"] = lines[0]
    return client, headers


def answer(headers: dict, *extra: str, status: str = "101 Switching Protocols", accept=None):
    digest = hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()
    key = accept if accept is not None else base64.b64encode(digest).decode()
    lines = [f"HTTP/1.1 {status}", "Upgrade: websocket", "Connection: Upgrade"]
    if key:
        lines.append(f"Sec-WebSocket-Accept: {key}")
    return ("\r\n".join(lines + list(extra)) + "\r\n\r\n").encode()


def test_request_is_rfc_shaped():
    client, headers = started(
        Request(
            "example.com",
            "/chat",
            subprotocols=("chat", "v2"),
            extensions=(PerMessageDeflate(client_no_context_takeover=True),),
            headers=((b"Origin", b"http://example.com"),),
        )
    )
    assert headers["request-line"] == "GET /chat HTTP/1.1"
    assert headers["host"] == "example.com"
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "Upgrade"
    assert headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"])) == 16
    assert headers["sec-websocket-protocol"] == "chat, v2"
    assert headers["sec-websocket-extensions"] == (
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    )
    assert headers["origin"] == "http://example.com"
    assert client.state is State.CONNECTING


def test_keys_are_random():
    assert started()[1]["sec-websocket-key"] != started()[1]["sec-websocket-key"]


def test_accepted_response_and_trailing_frames():
    client, headers = started(Request("h", subprotocols=("chat",)))
    data = answer(headers, "Sec-WebSocket-Protocol: chat") + frame(Opcode.TEXT, b"hi", key=None)
    client.receive_data(data)
    events = list(client.events())
    assert isinstance(events[0], AcceptConnection)
    assert events[0].subprotocol == "chat"
    assert events[0].extensions == ()
    assert (b"upgrade", b"websocket") in events[0].headers
    assert events[1:] == [TextMessage("hi")]
    assert client.state is State.OPEN
    assert client.subprotocol == "chat"


def test_interim_responses_are_skipped():
    client, headers = started()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(headers))
    assert isinstance(client.next_event(), AcceptConnection)


def test_nothing_is_parsed_before_the_request_is_sent():
    client = ClientConnection()
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    assert client.next_event() is NEED_DATA
    client.receive_eof()
    assert client.next_event() == WebSocketClosed(1006)
    assert client.should_close_transport


@pytest.mark.parametrize(
    ("extra", "options", "words"),
    [
        ({"accept": "wrong"}, {}, "Sec-WebSocket-Accept"),
        ({"accept": ""}, {}, "Sec-WebSocket-Accept"),
        ({"extra": ["Sec-WebSocket-Protocol: chat"]}, {}, "not offered"),
        ({"extra": ["Sec-WebSocket-Protocol: a, b"]}, {"protocols": ("a", "b")}, "not offered"),
        ({"extra": ["Sec-WebSocket-Protocol: a b"]}, {"protocols": ("a",)}, "token"),
        ({"extra": ["Sec-WebSocket-Extensions: permessage-deflate"]}, {}, "not offered"),
        ({"extra": ["Sec-WebSocket-Extensions: x-other"]}, {"deflate": True}, "not offered"),
        (
            {"extra": ["Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate"]},
            {"deflate": True},
            "not offered",
        ),
        (
            {"extra": ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8"]},
            {"deflate": True},
            "8-bit window",
        ),
        (
            {"extra": ["Sec-WebSocket-Extensions: permessage-deflate; unknown"]},
            {"deflate": True},
            "unknown parameter",
        ),
        ({"extra": ["Sec-WebSocket-Extensions: ;;"]}, {"deflate": True}, "cannot parse"),
    ],
)
def test_invalid_accepting_responses_fail_the_handshake(extra, options, words):
    request = Request(
        "h",
        subprotocols=options.get("protocols", ()),
        extensions=(PerMessageDeflate(),) if options.get("deflate") else (),
    )
    client, headers = started(request)
    client.receive_data(answer(headers, *extra.get("extra", []), accept=extra.get("accept")))
    with pytest.raises(RemoteProtocolError) as info:
        client.next_event()
    assert words in info.value.message
    assert info.value.code is None  # the connection never opened: no close frame owed
    assert client.data_to_send() == b""
    assert client.state is State.CLOSED
    assert client.should_close_transport


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    ],
)
def test_missing_upgrade_headers_fail(response):
    client, _ = started()
    client.receive_data(response)
    with pytest.raises(RemoteProtocolError, match=r"Upgrade|Connection"):
        client.next_event()


def test_garbage_response_fails():
    client, _ = started()
    client.receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="invalid HTTP response"):
        client.next_event()


def test_rejection_with_a_body():
    client, _ = started()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\nX: y\r\n\r\nno")
    assert client.next_event() is NEED_DATA
    client.receive_data(b"pe!")
    event = client.next_event()
    assert event == RejectConnection(403, ((b"content-length", b"5"), (b"x", b"y")), b"nope!")
    assert client.state is State.CLOSED
    assert client.should_close_transport
    client.receive_data(b"ignored")
    assert client.next_event() is NEED_DATA
    client.receive_eof()
    assert client.next_event() == WebSocketClosed(1006)


def test_rejection_with_a_chunked_body():
    client, _ = started()
    client.receive_data(
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert client.next_event() == RejectConnection(
        500, ((b"transfer-encoding", b"chunked"),), b"abc"
    )


def test_rejection_whose_body_ends_with_the_connection():
    client, _ = started()
    client.receive_data(b"HTTP/1.1 404 Not Found\r\n\r\nuntil")
    assert client.next_event() is NEED_DATA
    client.receive_data(b" eof")
    client.receive_eof()
    assert list(client.events()) == [
        RejectConnection(404, (), b"until eof"),
        WebSocketClosed(1006),
    ]


def test_rejection_body_cut_short_fails():
    client, _ = started()
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nshort")
    client.receive_eof()
    with pytest.raises(RemoteProtocolError, match="invalid HTTP response"):
        list(client.events())


def test_rejection_body_is_bounded():
    client, _ = started(max_message_size=10)
    client.receive_data(b"HTTP/1.1 400 Bad\r\nContent-Length: 20\r\n\r\n" + b"x" * 20)
    with pytest.raises(RemoteProtocolError, match="longer than 10"):
        client.next_event()
    client, _ = started(max_message_size=None)
    client.receive_data(b"HTTP/1.1 400 Bad\r\nContent-Length: 20\r\n\r\n" + b"x" * 20)
    assert client.next_event().body == b"x" * 20


def test_eof_after_a_response_without_body_is_clean():
    client, _ = started()
    client.receive_data(b"HTTP/1.1 400 Bad\r\n\r\n")
    client.receive_eof()
    assert list(client.events()) == [RejectConnection(400, (), b""), WebSocketClosed()]


def test_eof_before_the_response():
    client, _ = started()
    client.receive_eof()
    assert list(client.events()) == [WebSocketClosed(1006)]


@pytest.mark.parametrize(
    "bad",
    [
        Request(""),
        Request("bad\nhost"),
        Request("h", "no-slash"),
        Request("h", "/with space"),
        Request("h", "/naïve"),
        Request("h", subprotocols=("a b",)),
        Request("h", subprotocols=("",)),
        Request("h", subprotocols=("é",)),
        Request("h", subprotocols="chat"),  # type: ignore[arg-type]
        Request("h", extensions=(PerMessageDeflate(client_max_window_bits=8),)),
        Request("h", extensions=(PerMessageDeflate(server_max_window_bits=7),)),
        Request("h", extensions=("permessage-deflate",)),  # type: ignore[arg-type]
        Request("h", headers=((b"X", b"\r\n"),)),
        Request(" h"),
        Request("h", headers=((b"Host", b"other"),)),
        Request("h", headers=((b"Content-Length", b"5"),)),
        Request("h", headers=((b"Sec-WebSocket-Key", b"mine"),)),
        AcceptConnection(),
        TextMessage("too early"),
    ],
)
def test_invalid_requests_are_refused(bad):
    client = ClientConnection()
    with pytest.raises(LocalProtocolError) as info:
        client.send(bad)
    assert info.value.message
    assert client.data_to_send() == b""
    client.send(Request("h"))  # the connection is still usable
    with pytest.raises(LocalProtocolError, match="already sent"):
        client.send(Request("h"))


def test_compression_parameters_agreed_by_the_server():
    client, headers = started(
        Request(
            "h",
            extensions=(
                PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=10),
                PerMessageDeflate(client_max_window_bits=12),
            ),
        )
    )
    assert headers["sec-websocket-extensions"] == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10;"
        " client_max_window_bits, permessage-deflate; client_max_window_bits=12"
    )
    # The server took the fallback offer: no server_no_context_takeover.
    client.receive_data(
        answer(headers, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9")
    )
    event = client.next_event()
    assert event.extensions == (PerMessageDeflate(False, False, None, 9),)
    assert client.extensions == event.extensions


class TestClientContract(ConnectionContract):
    """The base contract, after the handshake, receiving unmasked server frames."""

    valid_input = (
        frame(Opcode.BINARY, b"\x00" * 300, key=None, fin=False)
        + frame(Opcode.PING, b"", key=None)
        + frame(Opcode.CONTINUATION, b"\xff", key=None)
        + frame(Opcode.TEXT, b"ok", key=None)
        + frame(Opcode.CLOSE, b"\x0f\xa0", key=None)
    )
    invalid_input = frame(Opcode.TEXT, b"masked")

    def make_connection(self):
        return open_client()

    def make_clocked_connection(self, clock):
        return open_client(clock=clock)

    def sendable_events(self):
        return [TextMessage("a"), BytesMessage(b"b"), Ping(), CloseConnection(4000, "x")]

    def unsendable_events(self):
        return [Request("x"), TextMessage(b"x"), CloseConnection(1015)]
