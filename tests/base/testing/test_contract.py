"""The contract suite passes a good core (test_connection.py) and catches broken ones."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tidewire import NEED_DATA, Connection, Event, LocalProtocolError, NeedData, RemoteProtocolError
from tidewire.testing import ConnectionContract


class Word(Event):
    word: bytes


class Words(Connection[Word, Word]):
    """Space-separated words of at most 4 bytes."""

    def _next_event(self) -> Word | NeedData:
        word = self._buffer.read_until(b" ", max_length=4)
        return NEED_DATA if word is None else Word(word)

    def _send(self, event: Word) -> None:
        if b" " in event.word:
            raise LocalProtocolError("no spaces in a word")
        self._write(event.word + b" ")


class Suite(ConnectionContract):
    valid_input = b"one two "
    invalid_input = b"toolong "
    core: type[Words] = Words

    def make_connection(self) -> Words:
        return self.core()

    def sendable_events(self) -> list[Event]:
        return [Word(b"a")]

    def unsendable_events(self) -> list[object]:
        return [Word(b"a b")]


class TestWordsContract(Suite):
    """The suite passes a core that keeps the contract."""


def suite_for(core: type[Words], **attributes: object) -> Suite:
    suite = Suite()
    suite.core = core
    for name, value in attributes.items():
        setattr(suite, name, value)
    return suite


class Lenient(Words):
    def _next_event(self) -> Word | NeedData:
        word = self._buffer.read_until(b" ")
        return NEED_DATA if word is None else Word(word)


class Forgetful(Words):
    def next_event(self) -> Word | NeedData:  # type: ignore[override]
        if self.error is not None:
            return NEED_DATA
        return super().next_event()  # type: ignore[return-value]


class Deaf(Words):
    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if self.receive_state.value == "OPEN":
            super().receive_data(data)


class Gullible(Words):
    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            super().receive_data(data)


class Careless(Words):
    def _send(self, event: Word) -> None:
        self._write(event.word)


class Silent(Words):
    def _send(self, event: Word) -> None:
        pass


class Hanging(Words):
    def next_event(self) -> Word | NeedData:  # type: ignore[override]
        event = super().next_event()
        return NEED_DATA if not isinstance(event, Word) else event


class Crashing(Words):
    def _next_event(self) -> Word | NeedData:
        if self._buffer.peek(1) == b"\x00":
            raise ValueError("a bug")
        return super()._next_event()


def test_catches_accepting_invalid_input():
    with pytest.raises(AssertionError, match="invalid_input was accepted"):
        suite_for(Lenient).test_remote_error_is_terminal()
    with pytest.raises(AssertionError, match="invalid_input was accepted"):
        suite_for(Lenient).test_invalid_input_is_rejected()


def test_catches_a_non_terminal_error():
    with pytest.raises(AssertionError, match="returned after a RemoteProtocolError"):
        suite_for(Forgetful).test_remote_error_is_terminal()


def test_catches_receive_after_eof():
    with pytest.raises(AssertionError, match="after receive_eof"):
        suite_for(Deaf).test_receive_data_after_eof_is_a_local_error()


def test_catches_accepting_what_is_not_bytes():
    with pytest.raises(AssertionError, match=r"receive_data\('text'\) was accepted"):
        suite_for(Gullible).test_receive_data_refuses_what_is_not_bytes()


def test_catches_accepting_a_bad_event():
    with pytest.raises(AssertionError, match="was accepted"):
        suite_for(Careless).test_local_error_changes_nothing()


def test_catches_sending_nothing():
    with pytest.raises(AssertionError, match="produced no bytes"):
        suite_for(Silent).test_data_to_send_drains()


def test_catches_need_data_after_eof():
    with pytest.raises(AssertionError, match="returned NEED_DATA"):
        suite_for(Hanging).test_eof_never_needs_data()


def test_catches_other_exceptions():
    with pytest.raises(ValueError, match="a bug"):
        suite_for(Crashing, valid_input=b"\x00 ").test_valid_input_gives_events()


def test_catches_valid_input_without_events():
    with pytest.raises(AssertionError, match="gave no event"):
        suite_for(Words, valid_input=b"one").test_valid_input_gives_events()


def test_defaults():
    suite = ConnectionContract()
    with pytest.raises(NotImplementedError):
        suite.make_connection()
    assert suite.sendable_events() == []
    assert suite.unsendable_events() == []
    events: list[Event] = [Word(b"x")]
    assert suite.normalize(events) is events


def test_send_free_core_passes_the_send_checks():
    suite = suite_for(Words)
    suite.sendable_events = list  # type: ignore[method-assign]
    suite.test_data_to_send_drains()


def test_eof_error_paths_are_accepted():
    # Ending inside a word is a RemoteProtocolError, which the suite allows.
    suite_for(Words, valid_input=b"one tw").test_eof_never_needs_data()


def test_remote_error_code_is_compared():
    error = RemoteProtocolError("x", code=1)
    assert error.code == 1


# -- timers -------------------------------------------------------------------


class Ticking(Words):
    """Words, plus a ``tick `` sent every 10 seconds of the caller's clock while open."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._deadline: float | None = clock() + 10

    def get_timer(self) -> float | None:
        return self._deadline if self.receive_state.value in ("OPEN", "EOF") else None

    def handle_timer(self, now: float) -> None:
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            self._write(b"tick ")
            self._deadline = now + 10


class TimedSuite(Suite):
    def make_clocked_connection(self, clock: Callable[[], float]) -> Connection[Word, Word]:
        return self.core(clock=clock)  # type: ignore[call-arg]


class TestTickingContract(TimedSuite):
    """The suite passes a core with a timer that keeps the contract."""

    core = Ticking


def timed_suite_for(core: type[Words]) -> TimedSuite:
    suite = TimedSuite()
    suite.core = core
    return suite


class WallClock(Ticking):
    def get_timer(self) -> float | None:
        return time.monotonic() + 10


class Eager(Ticking):
    def handle_timer(self, now: float) -> None:
        self._write(b"tick ")


class Stuck(Ticking):
    def handle_timer(self, now: float) -> None:
        pass


class Restless(Ticking):
    def get_timer(self) -> float | None:
        return self._deadline


class Stamping(Ticking):
    def handle_timer(self, now: float) -> None:
        if now >= self._first:  # compares with the first deadline, not the current one
            self._write(b"tick ")
            self._deadline = now + 10

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock=clock)
        self._first = clock() + 10


def test_a_core_without_timers_passes_the_timer_checks():
    suite_for(Words).test_timers_follow_the_given_clock()
    suite_for(Words).test_terminal_states_clear_the_timer()


def test_catches_a_deadline_on_another_clock():
    with pytest.raises(AssertionError, match="before the clock"):
        timed_suite_for(WallClock).test_timers_follow_the_given_clock()


def test_catches_acting_before_the_deadline():
    with pytest.raises(AssertionError, match="before the deadline queued bytes"):
        timed_suite_for(Eager).test_timers_follow_the_given_clock()


def test_catches_a_deadline_left_in_place():
    with pytest.raises(AssertionError, match="not later"):
        timed_suite_for(Stuck).test_timers_follow_the_given_clock()


def test_catches_a_repeated_call_acting_again():
    with pytest.raises(AssertionError, match="twice at the same time queued bytes"):
        timed_suite_for(Stamping).test_timers_follow_the_given_clock()


def test_catches_a_timer_in_a_terminal_state():
    with pytest.raises(AssertionError, match="in the terminal state CLOSED"):
        timed_suite_for(Restless).test_terminal_states_clear_the_timer()


def test_a_failing_timer_ends_the_walk_quietly():
    class Failing(Ticking):
        def handle_timer(self, now: float) -> None:
            if now >= (self._deadline or now + 1):
                self._buffer.append(b"toolong ")
                self._deadline = None

    timed_suite_for(Failing).test_timers_follow_the_given_clock()


def test_a_timer_that_ends_the_connection_passes():
    # The closing event a timer brings is repeated by every later next_event().
    class Expiring(Ticking):
        def handle_timer(self, now: float) -> None:
            if self._deadline is not None and now >= self._deadline:
                self._deadline = None
                self.receive_eof()

        def get_timer(self) -> float | None:
            return None if self.receive_state.value == "CLOSED" else self._deadline

    timed_suite_for(Expiring).test_timers_follow_the_given_clock()
