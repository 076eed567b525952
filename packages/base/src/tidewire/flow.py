"""Flow control between a core and a transport, for every adapter: the decisions, no I/O.

An adapter's stream is transport glue around a :class:`FlowControl`: it
passes on what the transport reports (:meth:`~FlowControl.data_received`,
:meth:`~FlowControl.eof_received`, :meth:`~FlowControl.pause_writing`,
:meth:`~FlowControl.resume_writing`), asks for events with
:meth:`~FlowControl.next_event`, writes what :meth:`~FlowControl.replies`
returns, and follows the answers: read the transport only while
:attr:`~FlowControl.reading` is true, parse only while
:attr:`~FlowControl.output_blocked` is false, keep one wake-up at
:attr:`~FlowControl.timer`. It imports no framework, reads no clock and
never blocks, so asyncio, trio and Twisted make the same decisions.
"""

from __future__ import annotations

import collections
from typing import Generic, TypeVar

from .connection import Connection
from .events import NEED_DATA, ConnectionClosed, Event, NeedData

__all__ = ["DEFAULT_READ_HIGH_WATER", "FlowControl"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

DEFAULT_READ_HIGH_WATER = 256 * 1024
"""The default ``read_high_water`` of a :class:`FlowControl`, in bytes."""


class FlowControl(Generic[ReceivedT, SentT]):
    """The received-bytes queue, the water marks and the timer bookkeeping of one core.

    Received chunks wait here, unparsed, until :meth:`next_event` needs them,
    so the core parses lazily and a caller may switch its mode between two
    events. When more than ``read_high_water`` bytes wait, :attr:`reading`
    turns false (stop reading the transport: the peer feels TCP flow
    control); it turns true again once they are down to ``read_low_water``.

    Args:
        connection: The core; only this object feeds it.
        read_high_water: Stop reading when more than this many received
            bytes wait unparsed.
        read_low_water: Read again when at most this many wait; defaults to
            a quarter of ``read_high_water``.

    Raises:
        ValueError: unless ``0 <= read_low_water <= read_high_water``.
    """

    def __init__(
        self,
        connection: Connection[ReceivedT, SentT],
        *,
        read_high_water: int = DEFAULT_READ_HIGH_WATER,
        read_low_water: int | None = None,
    ) -> None:
        if read_low_water is None:
            read_low_water = read_high_water // 4
        if not 0 <= read_low_water <= read_high_water:
            raise ValueError(
                f"need 0 <= read_low_water <= read_high_water,"
                f" got {read_low_water} and {read_high_water}"
            )
        self.connection = connection
        """The core."""
        self.reading = True
        """Whether the adapter should read the transport now (read-only)."""
        self.writing_paused = False
        """True between :meth:`pause_writing` and :meth:`resume_writing` (read-only)."""
        self.output_blocked = False
        """Whether the core's own replies wait unwritten, so nothing more may be parsed.

        A peer that sends pings and never reads our pongs cannot grow our
        write buffer: parsing stops until the transport drains (read-only).
        """
        self.timed = type(connection).get_timer is not Connection.get_timer
        """Whether the core has timers at all; if not, the timer methods cost nothing."""
        self.timer: float | None = None
        """The deadline the adapter should keep one wake-up at, or ``None`` (read-only)."""
        self._high = read_high_water
        self._low = read_low_water
        self._chunks: collections.deque[bytes] = collections.deque()
        self._backlog = 0
        self._eof = False  # the peer's end of file, not yet handed to the core
        self._starved = False  # the core said NEED_DATA: feed it before asking again
        self._timer_stopped = False

    # -- receiving ------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Bytes received and not yet handed to the core."""
        return self._backlog

    def data_received(self, data: bytes) -> None:
        """Queue bytes from the transport; :attr:`reading` may turn false."""
        self._chunks.append(data)
        self._backlog += len(data)
        if self._backlog > self._high:
            self.reading = False

    def eof_received(self) -> None:
        """Record the peer's end of file; the core gets it after the queued bytes."""
        self._eof = True

    def discard_input(self) -> None:
        """Drop every queued byte and the end of file: nobody will read them."""
        self._chunks.clear()
        self._backlog = 0
        self._eof = False

    def next_event(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event the received bytes hold, or :data:`~tidewire.NEED_DATA`.

        Feeds queued chunks, then the end of file, to the core only as it
        needs them, and a core that asked for more is fed before it is asked
        again. Write :meth:`replies` after every call, also when it raises.

        Raises:
            RemoteProtocolError: from the core.
        """
        if self._starved and self._chunks:
            self._feed()
        event = self.connection.next_event()
        if event is not NEED_DATA:
            return event  # the hot path: one call into the core
        return self._refill()

    def _refill(self) -> ReceivedT | ConnectionClosed | NeedData:
        connection = self.connection
        while True:
            if self._chunks:
                self._feed()
            elif self._eof:
                self._eof = False
                connection.receive_eof()
            else:
                self._starved = True
                return NEED_DATA
            event = connection.next_event()
            if event is not NEED_DATA:
                return event

    def _feed(self) -> None:
        self._starved = False
        data = self._chunks.popleft()
        self._backlog -= len(data)
        self.connection.receive_data(data)
        if not self.reading and self._backlog <= self._low:
            self.reading = True

    # -- sending --------------------------------------------------------------

    def replies(self) -> bytes:
        """Return the bytes the core queued by itself, to write now, in order.

        If writing is paused, :attr:`output_blocked` turns true until
        :meth:`resume_writing`.
        """
        data = self.connection.data_to_send()
        if data and self.writing_paused:
            self.output_blocked = True
        return data

    def pause_writing(self) -> None:
        """The transport's write buffer went above its high-water mark."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer went below its low-water mark."""
        self.writing_paused = self.output_blocked = False

    # -- time -----------------------------------------------------------------

    def timer_changed(self) -> bool:
        """Ask the core for its deadline; True if the scheduled wake-up must change.

        Call it after every interaction with the core (a core without timers
        is not asked), then, if True, cancel the wake-up and schedule one at
        :attr:`timer` unless it is ``None``.
        """
        if not self.timed or self._timer_stopped:
            return False
        deadline = self.connection.get_timer()
        if deadline == self.timer:
            return False
        self.timer = deadline
        return True

    def fire_timer(self, now: float) -> None:
        """The wake-up came: tell the core; then write :meth:`replies`, ask :meth:`timer_changed`.

        Args:
            now: The adapter's clock. A framework may run a wake-up slightly
                early; the core is told its deadline has come all the same,
                or it would ask for the same one again.
        """
        deadline, self.timer = self.timer, None
        if deadline is not None:
            self.connection.handle_timer(max(now, deadline))

    def stop_timer(self) -> None:
        """The stream is closed: no wake-up any more (:attr:`timer` stays ``None``)."""
        self.timer = None
        self._timer_stopped = True
