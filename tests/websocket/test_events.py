"""The events: immutable values, defaults, both directions."""

from __future__ import annotations

import pytest

from tidewire import ConnectionClosed
from tidewire_websocket import (
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    CloseConnection,
    ExtensionOffer,
    PerMessageDeflate,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextChunk,
    TextMessage,
    WebSocketClosed,
)


def test_defaults():
    assert Request("h") == Request("h", "/", (), (), ())
    assert AcceptConnection() == AcceptConnection(None, (), ())
    assert RejectConnection() == RejectConnection(400, (), b"")
    assert TextMessage("x").compress is True
    assert BytesMessage(b"x") == BytesMessage(b"x", True)
    assert TextChunk("x").last is False
    assert BytesChunk(b"x", last=True).last is True
    assert Ping() == Ping(b"")
    assert Pong().payload == b""
    assert CloseConnection() == CloseConnection(1000, "")
    assert PerMessageDeflate() == PerMessageDeflate(False, False, None, None)
    assert ExtensionOffer("x").params == ()


def test_closed_event_is_the_base_closing_event():
    closed = WebSocketClosed()
    assert isinstance(closed, ConnectionClosed)
    assert (closed.code, closed.reason) == (1006, "")
    assert WebSocketClosed(1000, "bye") != WebSocketClosed(1000)


def test_events_are_immutable_values():
    event = TextMessage("a")
    with pytest.raises(AttributeError):
        event.data = "b"  # type: ignore[misc]
    assert hash(event) == hash(TextMessage("a"))
    assert TextMessage("a") != TextChunk("a")
    assert repr(Ping(b"x")) == "Ping(payload=b'x')"
