import pytest

from tidewire import NEED_DATA, Connection, Event, NeedData, RemoteProtocolError
from tidewire.testing import (
    Outcome,
    assert_split_invariant,
    bytewise,
    drain,
    random_splits,
    run,
    split_at,
)


class Byte(Event):
    value: int


class Bytes(Connection[Byte, Byte]):
    """One event per byte; a 0xFF byte is a protocol error."""

    def _next_event(self) -> Byte | NeedData:
        data = self._buffer.read_exactly(1)
        if data is None:
            return NEED_DATA
        if data == b"\xff":
            raise RemoteProtocolError("0xff is forbidden", code="FF")
        return Byte(data[0])

    def _send(self, event: Byte) -> None:
        self._write(bytes([event.value]))


class Chunky(Bytes):
    """Wrongly emits one event per chunk: its events depend on the split."""

    def _next_event(self) -> Byte | NeedData:
        data = self._buffer.read_all()
        return Byte(len(data)) if data else NEED_DATA


class Endless(Bytes):
    def _next_event(self) -> Byte:
        return Byte(0)


def test_run_collects_events_and_error():
    outcome = run(Bytes, [b"ab", b"c\xffd"], eof=True)
    assert outcome.events == [Byte(97), Byte(98), Byte(99)]
    assert isinstance(outcome.error, RemoteProtocolError)


def test_run_accepts_a_connection():
    connection = Bytes()
    assert run(connection, [b"a"]).events == [Byte(97)]


def test_run_with_eof_ends_with_the_closing_event():
    outcome = run(Bytes, [b"a"], eof=True)
    assert outcome.error is None
    assert outcome.events[0] == Byte(97) and len(outcome.events) == 2


def test_outcome_equality():
    a = Outcome([Byte(1)], RemoteProtocolError("one wording", code="FF"))
    b = Outcome([Byte(1)], RemoteProtocolError("another", code="FF"))
    assert a == b
    assert a != Outcome([Byte(1)], RemoteProtocolError("x", code="other"))
    assert a != Outcome([Byte(1)], None)
    # The same fault at another place in the stream is another outcome.
    at_1 = Outcome([], RemoteProtocolError("x", code="FF", offset=1))
    assert at_1 == Outcome([], RemoteProtocolError("y", code="FF", offset=1))
    assert at_1 != Outcome([], RemoteProtocolError("x", code="FF", offset=2))
    assert a != "outcome"
    assert "Outcome(events=[Byte(value=1)]" in repr(a)
    with pytest.raises(TypeError):
        hash(a)


def test_drain_bounds_a_runaway_core():
    with pytest.raises(AssertionError, match="more than 5 events"):
        drain(Endless(), 5)


def test_drain_appends_to_a_given_list():
    connection = Bytes()
    connection.receive_data(b"ab")
    events = [Byte(0)]
    assert drain(connection, 10, events) is events
    assert events == [Byte(0), Byte(97), Byte(98)]


def test_splitting_helpers():
    assert bytewise(b"abc") == [b"a", b"b", b"c"]
    assert bytewise(b"") == []
    assert split_at(b"abcdef", [4, 2, 2, 0, 99]) == [b"ab", b"cd", b"ef"]
    assert random_splits(b"a", seed=1) == [b"a"]
    chunks = random_splits(b"abcdefgh", seed=3)
    assert b"".join(chunks) == b"abcdefgh" and len(chunks) > 1
    assert chunks == random_splits(b"abcdefgh", seed=3)


def test_split_invariance_passes_for_a_good_core():
    outcome = assert_split_invariant(Bytes, b"abc\xff", eof=True, splits=[[b"ab", b"c\xff"]])
    assert outcome.events == [Byte(97), Byte(98), Byte(99)]


def test_split_invariance_catches_a_chunk_dependent_core():
    with pytest.raises(AssertionError, match="fed byte by byte"):
        assert_split_invariant(Chunky, b"abc")


def test_split_invariance_normalize_merges_chunk_events():
    def total(events: list[Event]) -> list[Event]:
        return [Byte(sum(e.value for e in events if isinstance(e, Byte)))]

    assert_split_invariant(Chunky, b"abc", normalize=total)


def test_given_splits_must_join_to_the_data():
    with pytest.raises(ValueError, match="does not join"):
        assert_split_invariant(Bytes, b"abc", splits=[[b"ab"]])
