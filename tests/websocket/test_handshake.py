"""Handshake helpers (RFC 6455 sections 4 and 9.1)."""

from __future__ import annotations

import base64

import pytest

from tidewire_websocket import ExtensionOffer
from tidewire_websocket.handshake import (
    GUID,
    HandshakeError,
    accept_key,
    check_headers,
    format_response,
    header_values,
    make_key,
    parse_extensions,
    parse_tokens,
)


def test_accept_key_rfc_sample():
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_make_key():
    keys = {make_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key)) == 16 for key in keys)


def test_parse_tokens():
    assert parse_tokens([b"a, b,,c ", b" d"], "X") == ["a", "b", "c", "d"]
    assert parse_tokens([], "X") == []
    with pytest.raises(HandshakeError, match="X: 'a b' is not a token"):
        parse_tokens([b"a b"], "X")


def test_parse_extensions():
    values = [
        b'permessage-deflate; client_max_window_bits; server_max_window_bits="10", x',
        b' ,  foo ;a=1 ;b="q\\"" , bar; c="x,y"',
    ]
    with pytest.raises(HandshakeError, match="not a token"):
        parse_extensions(values)
    assert parse_extensions(values[:1]) == [
        ExtensionOffer(
            "permessage-deflate",
            (("client_max_window_bits", None), ("server_max_window_bits", "10")),
        ),
        ExtensionOffer("x"),
    ]
    assert parse_extensions([b' ,  foo ;a=1 ;b="v\\al" ,, bar']) == [
        ExtensionOffer("foo", (("a", "1"), ("b", "val"))),
        ExtensionOffer("bar"),
    ]
    assert parse_extensions([b""]) == []


@pytest.mark.parametrize("bad", [b";x", b"a; =1", b"a b", b'a; b="unterminated', b"a; b=1 c"])
def test_parse_extensions_errors(bad):
    with pytest.raises(HandshakeError, match="Sec-WebSocket-Extensions"):
        parse_extensions([bad])


def test_check_headers():
    check_headers(((b"X-Ok", b"value with\tspaces"), (b"Empty", b""), (b"Y", b"\xff")))
    for bad in [
        ((b"X", b" lead"),),
        ((b"X", b"trail\t"),),
        ((b"X", b"a\x01b"),),
        ((b"X", b"a\x7f"),),
        ((b"X", b"a\nb"),),
        ((b"X", b"\x00"),),
        ((b"", b"v"),),
        ((b"a:b", b"v"),),
        (("X", "v"),),
        ((b"X", b"v", b"extra"),),
        ([b"X", b"v"],),
    ]:
        with pytest.raises(HandshakeError):
            check_headers(bad)  # type: ignore[arg-type]


def test_header_values_and_responses():
    headers = ((b"a", b"1"), (b"b", b"2"), (b"a", b"3"))
    assert header_values(headers, b"a") == [b"1", b"3"]
    switching = b"HTTP/1.1 101 Switching Protocols\r\nX: y\r\n\r\n"
    assert format_response(101, ((b"X", b"y"),)) == switching
    assert format_response(404, (), b"gone") == (
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone"
    )
