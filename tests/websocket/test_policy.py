"""The rules every adapter shares: URIs, answers, close codes, messages, the exceptions."""

from __future__ import annotations

import pytest

import tidewire
from tidewire_websocket import (
    GOING_AWAY,
    UPGRADE_REQUIRED,
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    HandshakeRejected,
    PerMessageDeflate,
    RejectConnection,
    Request,
    TextChunk,
    TextMessage,
    WebSocketClosed,
    WebSocketClosedError,
    WebSocketURI,
    accept_answer,
    chunk_of,
    client_request,
    connection_options,
    exit_code,
    extensions_for,
    join_chunks,
    message_of,
    parse_uri,
)


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("ws://example.com", WebSocketURI(False, "example.com", 80, "example.com", "/")),
        ("wss://example.com/", WebSocketURI(True, "example.com", 443, "example.com", "/")),
        (
            "ws://example.com:8080/chat?room=1",
            WebSocketURI(False, "example.com", 8080, "example.com:8080", "/chat?room=1"),
        ),
        ("wss://[::1]:9000/x", WebSocketURI(True, "::1", 9000, "[::1]:9000", "/x")),
    ],
)
def test_parse_uri(uri, parsed):
    assert parse_uri(uri) == parsed


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://example.com/", "not a WebSocket URI"),
        ("ws:///path", "not a WebSocket URI"),
        ("ws://user:secret@example.com/", "credentials"),
        ("ws://example.com:99999/", "out of range"),
    ],
)
def test_parse_uri_refuses(uri, words):
    with pytest.raises(ValueError, match=words):
        parse_uri(uri)


def test_extensions_for_each_compression_option():
    assert extensions_for(None) == ()
    assert extensions_for("deflate") == (PerMessageDeflate(),)
    custom = PerMessageDeflate(client_max_window_bits=10)
    assert extensions_for(custom) == (custom,)
    with pytest.raises(ValueError, match="compression must be"):
        extensions_for("gzip")
    with pytest.raises(ValueError, match="must be"):
        extensions_for(PerMessageDeflate(client_max_window_bits=8))


def test_accept_answer_chooses_the_servers_preferred_subprotocol():
    request = Request("h", subprotocols=("b", "a"))
    deflate = (PerMessageDeflate(),)
    assert accept_answer(request, None, ("a", "b"), deflate) == AcceptConnection("a", deflate)
    assert accept_answer(request, None, ("c",), ()) == AcceptConnection(None, ())
    mine = AcceptConnection("b", (), ((b"X", b"1"),))
    assert accept_answer(request, mine, (), deflate) == AcceptConnection("b", deflate, mine.headers)
    assert accept_answer(request, mine, (), ()) is mine
    no = RejectConnection(403)
    assert accept_answer(request, no, ("a",), deflate) is no
    assert UPGRADE_REQUIRED.status_code == 426


def test_exit_codes():
    assert exit_code(None) == 1000
    assert exit_code(ValueError()) == 1011
    assert GOING_AWAY == 1001


def test_message_of():
    assert message_of("hi") == TextMessage("hi")
    assert message_of(bytearray(b"hi")) == BytesMessage(b"hi")
    assert message_of(memoryview(b"hi")) == BytesMessage(b"hi")
    assert message_of(["a", "b"]) is None
    with pytest.raises(TypeError, match="mapping"):
        message_of({"a": 1})
    with pytest.raises(TypeError, match="not int"):
        message_of(3)


def test_chunk_of_and_join_chunks():
    first = chunk_of("a", None)
    assert first == TextChunk("a")
    assert chunk_of("b", first) == TextChunk("b")
    assert chunk_of(bytearray(b"x"), None) == BytesChunk(b"x")
    with pytest.raises(TypeError, match="all str or all bytes-like"):
        chunk_of(b"x", first)
    with pytest.raises(TypeError, match="not int"):
        chunk_of(1, None)
    assert join_chunks([TextChunk("a"), TextChunk("b", True)]) == "ab"
    assert join_chunks([BytesChunk(b"a"), BytesChunk(b"", True)]) == b"a"


def test_closed_error_is_a_stream_closed_error():
    error = WebSocketClosedError(1001, "bye", WebSocketClosed(1001, "bye"))
    assert isinstance(error, tidewire.StreamClosedError)
    assert (error.code, error.reason, error.clean) == (1001, "bye", True)
    assert error.event == WebSocketClosed(1001, "bye")
    assert str(error) == "the WebSocket connection is closed (code 1001, reason 'bye')"
    plain = WebSocketClosedError(1006, "")
    assert not plain.clean and plain.event is None
    assert str(plain) == "the WebSocket connection is closed (code 1006)"


def test_handshake_rejected_carries_the_response():
    response = RejectConnection(403, (), b"no")
    error = HandshakeRejected(response)
    assert error.response is response
    assert "HTTP 403" in str(error)


def test_client_request():
    target, request = client_request(
        "wss://example.com:8443/chat?x=1", ["v2"], [("Origin", b"https://a.b")], None
    )
    assert target == WebSocketURI(True, "example.com", 8443, "example.com:8443", "/chat?x=1")
    assert request == Request(
        "example.com:8443", "/chat?x=1", ("v2",), (), ((b"Origin", b"https://a.b"),)
    )
    _, default = client_request("ws://h")
    assert default.extensions == (PerMessageDeflate(),)


def test_connection_options_are_taken_out_with_the_frame_size_rule():
    options = {"max_message_size": 10, "ping_interval": None, "sock": "kept"}
    taken = connection_options(options)
    assert taken == {"max_message_size": 10, "max_frame_size": 10, "ping_interval": None}
    assert options == {"sock": "kept"}
    assert connection_options({"max_frame_size": 5}) == {"max_frame_size": 5}
    assert connection_options({}) == {"max_frame_size": 1024 * 1024}
