r"""A reusable test suite for the Connection contract.

Any core runs it against itself by subclassing in a test module::

    from tidewire.testing import ConnectionContract

    class TestLineContract(ConnectionContract):
        valid_input = b"one\\r\\ntwo\\r\\n"
        invalid_input = b"x" * 70_000

        def make_connection(self):
            return LineConnection()

pytest then collects every ``test_*`` method below for that core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..connection import Connection, ReceiveState
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events import NEED_DATA, ConnectionClosed, Event
from .clock import FakeClock
from .feeding import Outcome, assert_split_invariant, drain, run
from .strategies import chunkings

__all__ = ["ConnectionContract"]

_EOF_CUTS = 200  # how many end-of-file positions to try in long inputs
_TIMER_STEPS = 50  # how many deadlines to walk through (a keepalive never ends)
# Far from any real monotonic clock, so a deadline read off another clock shows.
_CLOCK_START = 1e9

# Each subclass runs these property tests against a different core, on purpose.
_per_core = settings(suppress_health_check=[HealthCheck.differing_executors])


class ConnectionContract:
    """The contract every :class:`~tidewire.Connection` keeps, as pytest tests.

    Subclass it in a class whose name starts with ``Test`` and provide:

    - :meth:`make_connection`: a fresh connection, ready to receive (a
      WebSocket connection past its handshake, for instance);
    - :attr:`valid_input`: bytes that parse into at least one event;
    - :attr:`invalid_input`: bytes that must raise
      :class:`~tidewire.RemoteProtocolError`.

    Optionally override :meth:`sendable_events`, :meth:`unsendable_events`
    and :meth:`normalize`; a core with timers overrides
    :meth:`make_clocked_connection` so the timer checks reach them.
    """

    valid_input: ClassVar[bytes]
    """Bytes the connection must parse into at least one event, with no error."""

    invalid_input: ClassVar[bytes]
    """Bytes the connection must reject with :class:`~tidewire.RemoteProtocolError`."""

    def make_connection(self) -> Connection[Any, Any]:
        """Return a fresh connection, ready to receive ``valid_input``."""
        raise NotImplementedError

    def make_clocked_connection(self, clock: Callable[[], float]) -> Connection[Any, Any]:
        """Return a fresh connection as :meth:`make_connection`, reading time from ``clock``.

        The default ignores the clock: override it for a core that takes
        ``clock=``, so the timer checks walk through its deadlines.
        """
        return self.make_connection()

    def sendable_events(self) -> list[Event]:
        """Events that ``send()`` accepts, in order, on a fresh connection."""
        return []

    def unsendable_events(self) -> list[Any]:
        """Values that ``send()`` must reject with LocalProtocolError on a fresh connection."""
        return []

    def normalize(self, events: list[Event]) -> list[Event]:
        """Merge events whose boundaries legitimately depend on chunking; default: none."""
        return events

    # -- helpers ------------------------------------------------------------

    def _outcome(self, chunks: list[bytes], *, eof: bool = False) -> Outcome:
        outcome = run(self.make_connection, chunks, eof=eof)
        return Outcome(self.normalize(outcome.events), outcome.error)

    # -- receiving ----------------------------------------------------------

    def test_need_data_when_nothing_received(self) -> None:
        """With nothing received, next_event() returns NEED_DATA."""
        connection = self.make_connection()
        assert connection.next_event() is NEED_DATA
        assert connection.receive_state is ReceiveState.OPEN

    def test_receive_data_does_not_parse(self) -> None:
        """receive_data() only buffers: even invalid bytes do not raise there."""
        connection = self.make_connection()
        connection.receive_data(self.invalid_input)  # must not raise: parsing is lazy
        assert connection.error is None

    def test_receive_data_refuses_what_is_not_bytes(self) -> None:
        """receive_data() of a str, an int or a released memoryview is LocalProtocolError."""
        released = memoryview(b"x")
        released.release()
        for bad in ("text", 1, None, released):
            connection = self.make_connection()
            try:
                connection.receive_data(bad)  # type: ignore[arg-type]
            except LocalProtocolError as error:
                assert error.message
            else:
                raise AssertionError(f"receive_data({bad!r}) was accepted")
            assert connection.next_event() is NEED_DATA

    def test_empty_data_is_not_eof(self) -> None:
        """An empty receive_data() is not end of file."""
        connection = self.make_connection()
        connection.receive_data(b"")
        assert connection.next_event() is NEED_DATA
        assert connection.receive_state is ReceiveState.OPEN

    def test_bytes_like_inputs_agree(self) -> None:
        """bytes, bytearray and memoryview input give the same events."""
        data = self.valid_input
        expected = self._outcome([data])
        for value in (bytearray(data), memoryview(data)):
            connection = self.make_connection()
            connection.receive_data(value)
            assert Outcome(self.normalize(drain(connection, 1_000_000)), None) == expected

    def test_valid_input_gives_events(self) -> None:
        """valid_input parses into at least one event, with no error."""
        outcome = self._outcome([self.valid_input])
        assert outcome.error is None, f"valid_input was rejected: {outcome.error!r}"
        assert outcome.events, "valid_input gave no event"

    def test_invalid_input_is_rejected(self) -> None:
        """invalid_input raises RemoteProtocolError with a message."""
        outcome = self._outcome([self.invalid_input])
        assert isinstance(outcome.error, RemoteProtocolError), "invalid_input was accepted"
        assert outcome.error.message

    def test_remote_error_is_terminal(self) -> None:
        """After a RemoteProtocolError the receiving side stays failed; later bytes are dropped."""
        connection = self.make_connection()
        connection.receive_data(self.invalid_input)
        try:
            drain(connection, 1_000_000)
        except RemoteProtocolError as error:
            first = error
        else:
            raise AssertionError("invalid_input was accepted")
        assert connection.receive_state is ReceiveState.ERROR
        assert connection.error is first
        for _ in range(2):
            try:
                connection.next_event()
            except RemoteProtocolError as again:
                assert again.code == first.code
            else:
                raise AssertionError("next_event() returned after a RemoteProtocolError")
        connection.receive_data(self.valid_input)  # discarded, not an error
        connection.receive_eof()
        assert connection.receive_state is ReceiveState.ERROR

    def test_valid_input_split_invariant(self) -> None:
        """valid_input gives the same outcome whole, byte by byte and in random splits."""
        for eof in (False, True):
            assert_split_invariant(
                self.make_connection, self.valid_input, eof=eof, normalize=self.normalize
            )

    def test_invalid_input_split_invariant(self) -> None:
        """invalid_input fails the same way however it is split."""
        for eof in (False, True):
            assert_split_invariant(
                self.make_connection, self.invalid_input, eof=eof, normalize=self.normalize
            )

    @_per_core
    @given(st.data())
    def test_any_chunking_gives_the_same_events(self, data: st.DataObject) -> None:
        """Any chunking of valid_input (drawn by hypothesis) gives the same events."""
        chunks = data.draw(chunkings(self.valid_input), label="chunks")
        assert self._outcome(chunks) == self._outcome([self.valid_input])

    # -- end of file --------------------------------------------------------

    def test_receive_data_after_eof_is_a_local_error(self) -> None:
        """receive_data() after receive_eof() is LocalProtocolError; a second EOF is harmless."""
        connection = self.make_connection()
        connection.receive_eof()
        connection.receive_eof()  # twice is harmless
        try:
            connection.receive_data(b"x")
        except LocalProtocolError:
            pass
        else:
            raise AssertionError("receive_data() after receive_eof() was accepted")

    def test_eof_never_needs_data(self) -> None:
        """After end of file at any point, next_event() never returns NEED_DATA."""
        data = self.valid_input
        step = max(1, len(data) // _EOF_CUTS)
        for cut in [*range(0, len(data), step), len(data)]:
            connection = self.make_connection()
            connection.receive_data(data[:cut])
            connection.receive_eof()
            try:
                events = drain(connection, 1_000_000)
            except RemoteProtocolError:
                assert connection.receive_state is ReceiveState.ERROR
                continue
            assert events and isinstance(events[-1], ConnectionClosed), (
                f"after end of file at byte {cut}, next_event() returned NEED_DATA"
            )
            assert connection.receive_state is ReceiveState.CLOSED
            assert connection.next_event() is events[-1]  # and again on every call

    def test_events_matches_next_event(self) -> None:
        """events() yields what repeated next_event() calls return."""
        connection = self.make_connection()
        connection.receive_data(self.valid_input)
        connection.receive_eof()
        by_events = list(connection.events())
        assert list(connection.events()) == [by_events[-1]]  # the closing event again
        assert self._outcome([self.valid_input], eof=True).events == self.normalize(by_events)

    # -- sending ------------------------------------------------------------

    def test_data_to_send_drains(self) -> None:
        """data_to_send() returns bytes and empties the outgoing buffer."""
        connection = self.make_connection()
        for event in self.sendable_events():
            connection.send(event)
        first = connection.data_to_send()
        assert isinstance(first, bytes)
        assert connection.data_to_send() == b""
        if self.sendable_events():
            assert first, "sendable_events() produced no bytes"

    def test_local_error_changes_nothing(self) -> None:
        """A rejected send() raises LocalProtocolError and changes nothing."""
        for bad in self.unsendable_events():
            connection = self.make_connection()
            connection.data_to_send()  # start from an empty outgoing buffer
            state = connection.receive_state
            try:
                connection.send(bad)
            except LocalProtocolError as error:
                assert error.message
            else:
                raise AssertionError(f"send({bad!r}) was accepted")
            assert connection.data_to_send() == b""
            assert connection.receive_state is state

    # -- time -----------------------------------------------------------------

    def _drain_quietly(self, connection: Connection[Any, Any]) -> list[Event]:
        try:
            return drain(connection, 1_000_000)
        except RemoteProtocolError:
            return []  # a timer may fail the connection; the checks go on

    def _check_no_change(self, connection: Connection[Any, Any], now: float, what: str) -> None:
        timer = connection.get_timer()
        connection.handle_timer(now)
        assert connection.data_to_send() == b"", f"{what} queued bytes"
        events = self._drain_quietly(connection)
        if connection.receive_state is ReceiveState.CLOSED:
            events = events[:-1]  # the closing event, repeated as the contract says
        assert events == [], f"{what} made events"
        assert connection.get_timer() == timer, f"{what} moved the timer"

    def test_timers_follow_the_given_clock(self) -> None:
        """Deadlines are on the given clock; early or repeated handle_timer() does nothing."""
        clock = FakeClock(_CLOCK_START)
        connection = self.make_clocked_connection(clock)
        for event in self.sendable_events():
            connection.send(event)
        connection.receive_data(self.valid_input)
        self._drain_quietly(connection)
        for _ in range(_TIMER_STEPS):
            connection.data_to_send()
            deadline = connection.get_timer()
            if deadline is None:
                return
            assert deadline >= clock.now, (
                f"get_timer() returned {deadline}, before the clock's {clock.now}:"
                " a deadline read off another clock, or left behind"
            )
            self._check_no_change(connection, clock.now, "handle_timer() before the deadline")
            clock.advance(deadline - clock.now)
            connection.handle_timer(deadline)
            connection.data_to_send()
            self._drain_quietly(connection)
            after = connection.get_timer()
            assert after is None or after > deadline, (
                f"after handle_timer({deadline}) the next deadline is {after}, not later"
            )
            self._check_no_change(connection, deadline, "handle_timer() twice at the same time")

    def test_terminal_states_clear_the_timer(self) -> None:
        """After the closing event or a RemoteProtocolError, get_timer() is None."""
        for data, eof in ((self.valid_input, True), (self.invalid_input, False)):
            clock = FakeClock(_CLOCK_START)
            connection = self.make_clocked_connection(clock)
            connection.receive_data(data)
            if eof:
                connection.receive_eof()
            self._drain_quietly(connection)
            assert connection.receive_state in (ReceiveState.CLOSED, ReceiveState.ERROR)
            assert connection.get_timer() is None, (
                f"get_timer() is {connection.get_timer()} in the terminal state"
                f" {connection.receive_state.value}"
            )
            connection.handle_timer(clock.advance(3600.0))  # harmless

    # -- robustness ---------------------------------------------------------

    @_per_core
    @given(st.binary(max_size=512), st.data())
    def test_random_bytes_only_raise_remote_errors(
        self, garbage: bytes, data: st.DataObject
    ) -> None:
        # run() lets anything but RemoteProtocolError propagate, failing the test.
        """Random bytes raise nothing but RemoteProtocolError, however split."""
        whole = self._outcome([garbage], eof=True)
        chunks = data.draw(chunkings(garbage), label="chunks")
        assert self._outcome(chunks, eof=True) == whole

    @_per_core
    @given(st.data())
    def test_mutated_input_only_raises_remote_errors(self, data: st.DataObject) -> None:
        """Mutations of valid_input raise nothing but RemoteProtocolError, however split."""
        mutated = bytearray(self.valid_input)
        for _ in range(data.draw(st.integers(1, 4), label="mutations")):
            where = data.draw(st.integers(0, len(mutated)), label="where")
            action = data.draw(st.sampled_from(["flip", "insert", "delete"]), label="action")
            if action == "insert" or not mutated:
                mutated[where:where] = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
            elif action == "flip":
                index = min(where, len(mutated) - 1)
                mutated[index] ^= data.draw(st.integers(1, 255), label="mask")
            else:
                del mutated[where : where + data.draw(st.integers(1, 8), label="count")]
        whole = self._outcome([bytes(mutated)], eof=True)
        chunks = data.draw(chunkings(bytes(mutated)), label="chunks")
        assert self._outcome(chunks, eof=True) == whole
