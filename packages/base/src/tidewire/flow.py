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
        self._high = read_high_water
        self._low = read_low_water
        self._chunks: collections.deque[bytes] = collections.deque()
        self._backlog = 0
        self._eof = False  # the peer's end of file, not yet handed to the core
        self._starved = False  # the core's last answer was NEED_DATA
        self._reading = True
        self._write_paused = False
        self._replies_pending = False  # replies were made while writing was paused
        self._timer: float | None = None
        self._timer_stopped = False

    # -- receiving ------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Bytes received and not yet handed to the core."""
        return self._backlog

    @property
    def reading(self) -> bool:
        """Whether the adapter should read the transport now."""
        return self._reading

    def data_received(self, data: bytes) -> None:
        """Queue bytes from the transport; :attr:`reading` may turn false."""
        self._chunks.append(data)
        self._backlog += len(data)
        if self._backlog > self._high:
            self._reading = False

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
        connection = self.connection
        while True:
            if self._starved and self._chunks:
                self._feed()
            event = connection.next_event()
            if event is not NEED_DATA:
                self._starved = False
                return event
            self._starved = True
            if self._chunks:
                self._feed()
            elif self._eof:
                self._eof = False
                connection.receive_eof()
            else:
                return NEED_DATA

    def _feed(self) -> None:
        self._starved = False
        data = self._chunks.popleft()
        self._backlog -= len(data)
        self.connection.receive_data(data)
        if not self._reading and self._backlog <= self._low:
            self._reading = True

    # -- sending --------------------------------------------------------------

    @property
    def output_blocked(self) -> bool:
        """Whether the core's own replies wait unwritten, so nothing more may be parsed.

        A peer that sends pings and never reads our pongs cannot grow our
        write buffer: parsing stops until the transport drains.
        """
        return self._replies_pending

    def replies(self) -> bytes:
        """Return the bytes the core queued by itself, to write now, in order.

        If writing is paused, :attr:`output_blocked` turns true until
        :meth:`resume_writing`.
        """
        data = self.connection.data_to_send()
        if data and self._write_paused:
            self._replies_pending = True
        return data

    def pause_writing(self) -> None:
        """The transport's write buffer went above its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The transport's write buffer went below its low-water mark."""
        self._write_paused = False
        self._replies_pending = False

    @property
    def writing_paused(self) -> bool:
        """True between :meth:`pause_writing` and :meth:`resume_writing`."""
        return self._write_paused

    # -- time -----------------------------------------------------------------

    @property
    def timer(self) -> float | None:
        """The deadline the adapter should have one wake-up scheduled at, or ``None``."""
        return self._timer

    def timer_changed(self) -> bool:
        """Ask the core for its deadline; True if the scheduled wake-up must change.

        Call it after every interaction with the core, then (if True) cancel
        the wake-up and schedule one at :attr:`timer` unless it is ``None``.
        """
        deadline = self.connection.get_timer()
        if deadline == self._timer or self._timer_stopped:
            return False
        self._timer = deadline
        return True

    def fire_timer(self, now: float) -> None:
        """The wake-up came: tell the core; then write :meth:`replies`, ask :meth:`timer_changed`.

        Args:
            now: The adapter's clock. A framework may run a wake-up slightly
                early; the core is told its deadline has come all the same,
                or it would ask for the same one again.
        """
        deadline, self._timer = self._timer, None
        if deadline is not None:
            self.connection.handle_timer(max(now, deadline))

    def stop_timer(self) -> None:
        """The stream is closed: no wake-up any more (:attr:`timer` stays ``None``)."""
        self._timer = None
        self._timer_stopped = True
