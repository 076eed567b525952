"""The Inbox: what every adapter holds between the connection and its application."""

from __future__ import annotations

import pytest

from tidewire_websocket import (
    BytesChunk,
    BytesMessage,
    CloseConnection,
    Inbox,
    Ping,
    Pong,
    TextChunk,
    TextMessage,
)


def test_max_queue_must_be_positive():
    with pytest.raises(ValueError, match="max_queue"):
        Inbox(0)


def test_put_keeps_data_and_reports_answered_pings():
    inbox = Inbox(2)
    assert inbox.put(TextMessage("a")) == ()
    assert not inbox.full
    assert inbox.put(Ping(b"x")) == ()
    assert inbox.put(CloseConnection(1000)) == ()
    assert inbox.put(Pong(b"p", ((b"p", 0.5),))) == ((b"p", 0.5),)
    inbox.put(BytesChunk(b"b"))
    assert inbox.full and inbox.ready == 2
    assert inbox.pop() == TextMessage("a")
    assert inbox.ready == 1
    assert inbox.pop() == BytesChunk(b"b")
    assert inbox.pop() is None
    assert inbox.ready == 0


def test_closing_drops_data_and_never_pauses():
    inbox = Inbox(1)
    inbox.put(TextMessage("a"))
    inbox.close()
    assert inbox.closing and not inbox.full and inbox.pop() is None
    inbox.put(TextMessage("dropped"))
    assert inbox.pop() is None
    assert not inbox.hold()


def test_a_failure_is_held_only_while_messages_wait():
    inbox = Inbox()
    assert not inbox.hold() and not inbox.held
    inbox.put(TextMessage("a"))
    assert inbox.hold() and inbox.held


def test_take_assembles_chunks_and_keeps_them_across_cancellation():
    inbox = Inbox()
    inbox.check_whole()
    assert inbox.take(TextMessage("whole")) == "whole"
    assert inbox.take(TextChunk("a")) is None
    # A reader cancelled here: a reader of pieces resumes with what it took.
    assert inbox.resume() == TextChunk("a")
    assert inbox.resume() is None
    assert inbox.take(BytesChunk(b"x")) is None
    assert inbox.take(BytesChunk(b"y", True)) == b"xy"


def test_stream_tracks_an_unfinished_message():
    inbox = Inbox()
    assert inbox.stream(BytesMessage(b"whole"))
    assert not inbox.stream(TextChunk("a"))
    assert inbox.streamed
    with pytest.raises(RuntimeError, match="receive_stream"):
        inbox.check_whole()
    assert inbox.stream(TextChunk("b", True))
    inbox.check_whole()
