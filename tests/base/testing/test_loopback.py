import pytest

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData
from tidewire.testing import Loopback


class Word(Event):
    word: bytes


class Words(Connection[Word, Word]):
    def _next_event(self) -> Word | NeedData:
        word = self._buffer.read_until(b" ")
        return NEED_DATA if word is None else Word(word)

    def _send(self, event: Word) -> None:
        self._write(event.word + b" ")


class Echo(Words):
    """Answers every word with the same word: two of them never fall quiet."""

    def _next_event(self) -> Word | NeedData:
        event = super()._next_event()
        if isinstance(event, Word):
            self.send(event)
        return event


def test_pump_both_ways():
    a, b = Words(), Words()
    pair = Loopback(a, b)
    a.send(Word(b"hi"))
    b.send(Word(b"yo"))
    assert pair.pump() == ([Word(b"yo")], [Word(b"hi")])
    assert pair.pump() == ([], [])


def test_close_from_either_side():
    a, b = Words(), Words()
    pair = Loopback(a, b)
    a.send(Word(b"last"))
    assert pair.close(a) == ([], [Word(b"last"), ConnectionClosed()])
    c, d = Words(), Words()
    assert Loopback(c, d).close(d) == ([ConnectionClosed()], [])


def test_bytes_to_a_closed_side_are_not_delivered():
    a, b = Words(), Words()
    pair = Loopback(a, b)
    pair.close(a)
    a.send(Word(b"late"))
    assert pair.pump() == ([], [])


def test_runaway_exchange_is_reported():
    a, b = Echo(), Echo()
    a.send(Word(b"ping"))
    with pytest.raises(AssertionError, match="still exchange bytes"):
        Loopback(a, b).pump()
