"""FlowControl: the queue, the water marks, the hand-offs and the timer bookkeeping."""

from __future__ import annotations

import pytest

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData, RemoteProtocolError
from tidewire.flow import DEFAULT_READ_HIGH_WATER, FlowControl
from tidewire.testing import FakeClock


class Word(Event):
    word: bytes


class Words(Connection[Word, Word]):
    """Space-ended words of at most 8 bytes; ``ping`` is answered with ``pong`` by the core.

    It counts how often it was asked for an event, and has a timer: ``bell ``
    is sent ten seconds after the last word.
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__()
        self.asked = 0
        self._clock = clock or FakeClock()
        self._deadline: float | None = None

    def _next_event(self) -> Word | NeedData:
        self.asked += 1
        word = self._buffer.read_until(b" ", max_length=8)
        if word is None:
            return NEED_DATA
        if word == b"ping":
            self._write(b"pong ")
        self._deadline = self._clock() + 10
        return Word(word)

    def _send(self, event: Word) -> None:
        self._write(event.word + b" ")

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            self._write(b"bell ")


def events(flow: FlowControl[Word, Word]) -> list[object]:
    got: list[object] = []
    while (event := flow.next_event()) is not NEED_DATA:
        got.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return got


def test_marks_are_checked():
    with pytest.raises(ValueError, match="read_low_water <= read_high_water"):
        FlowControl(Words(), read_high_water=10, read_low_water=11)
    with pytest.raises(ValueError, match="0 <= read_low_water"):
        FlowControl(Words(), read_low_water=-1)
    flow = FlowControl(Words())
    assert DEFAULT_READ_HIGH_WATER == 256 * 1024
    assert flow.reading and flow.backlog == 0


def test_bytes_wait_unparsed_until_asked():
    core = Words()
    flow = FlowControl(core)
    flow.data_received(b"one tw")
    flow.data_received(b"o ")
    assert core.asked == 0 and flow.backlog == 8
    assert flow.next_event() == Word(b"one")
    assert flow.backlog == 2  # the second chunk is still queued
    assert flow.next_event() == Word(b"two")
    assert flow.next_event() is NEED_DATA


def test_a_starved_core_is_fed_before_it_is_asked_again():
    core = Words()
    flow = FlowControl(core)
    flow.data_received(b"on")
    assert flow.next_event() is NEED_DATA
    asked = core.asked
    flow.data_received(b"e ")
    assert flow.next_event() == Word(b"one")
    assert core.asked == asked + 1  # not once with nothing new, then again


def test_reading_pauses_above_high_water_and_resumes_at_low_water():
    flow = FlowControl(Words(), read_high_water=8, read_low_water=4)
    for chunk in (b"aa ", b"bb ", b"cc "):
        flow.data_received(chunk)
    assert not flow.reading  # 9 bytes > 8
    assert flow.next_event() == Word(b"aa")
    assert not flow.reading  # 6 bytes > 4
    assert flow.next_event() == Word(b"bb")
    assert flow.reading  # 3 bytes <= 4
    flow.data_received(b"d")
    assert flow.reading


def test_end_of_file_comes_after_the_queued_bytes():
    flow = FlowControl(Words())
    flow.data_received(b"a ")
    flow.data_received(b"b ")
    flow.eof_received()
    got = events(flow)
    assert got[:2] == [Word(b"a"), Word(b"b")] and isinstance(got[2], ConnectionClosed)
    assert flow.next_event() is got[2]


def test_discarded_input_is_never_parsed():
    flow = FlowControl(Words(), read_high_water=1)
    flow.data_received(b"a ")
    flow.eof_received()
    flow.discard_input()
    assert flow.backlog == 0
    assert flow.next_event() is NEED_DATA


def test_errors_pass_through_and_owed_bytes_are_replies():
    flow = FlowControl(Words())
    flow.data_received(b"waytoolongword ")
    with pytest.raises(RemoteProtocolError):
        flow.next_event()
    assert flow.replies() == b""


def test_replies_made_while_writing_is_paused_block_parsing():
    flow = FlowControl(Words())
    flow.data_received(b"ping ping ")
    assert flow.next_event() == Word(b"ping")
    assert flow.replies() == b"pong "
    assert not flow.output_blocked  # written while the transport could take it
    flow.pause_writing()
    assert flow.writing_paused
    assert flow.replies() == b""  # nothing new: still not blocked
    assert not flow.output_blocked
    assert flow.next_event() == Word(b"ping")
    assert flow.replies() == b"pong "
    assert flow.output_blocked
    flow.resume_writing()
    assert not flow.output_blocked and not flow.writing_paused


def test_the_timer_is_scheduled_once_and_moved_when_the_core_moves_it():
    clock = FakeClock(100.0)
    flow = FlowControl(Words(clock))
    assert flow.timer is None and not flow.timer_changed()
    flow.data_received(b"a b ")
    flow.next_event()
    assert flow.timer_changed() and flow.timer == 110.0
    assert not flow.timer_changed()  # unchanged: keep the wake-up
    clock.advance(5)
    flow.next_event()
    assert flow.timer_changed() and flow.timer == 115.0


def test_a_wake_up_that_comes_early_still_meets_the_deadline():
    clock = FakeClock(100.0)
    flow = FlowControl(Words(clock))
    flow.data_received(b"a ")
    flow.next_event()
    flow.timer_changed()
    flow.fire_timer(109.999)  # a loop's clock resolution early
    assert flow.replies() == b"bell "
    assert flow.timer is None
    assert not flow.timer_changed()  # the core has no deadline any more
    flow.fire_timer(200.0)  # no wake-up was due: nothing happens
    assert flow.replies() == b""


def test_a_stopped_timer_is_never_scheduled_again():
    clock = FakeClock()
    flow = FlowControl(Words(clock))
    flow.data_received(b"a ")
    flow.next_event()
    assert flow.timer_changed()
    flow.stop_timer()
    assert flow.timer is None
    assert not flow.timer_changed()


def test_a_core_without_timers_is_never_asked_for_one():
    class Plain(Connection[Word, Word]):
        def _next_event(self) -> Word | NeedData:
            return NEED_DATA

        def _send(self, event: Word) -> None:
            pass

    flow = FlowControl(Plain())
    assert not flow.timed
    assert not flow.timer_changed()
    assert FlowControl(Words()).timed
