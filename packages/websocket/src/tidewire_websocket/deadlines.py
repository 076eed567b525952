"""The connection's deadlines on the caller's clock: keepalive, the handshakes, timed pings.

Time is an input: :class:`Deadlines` reads the clock it was given only to
start a deadline or to time a pong, says when it next needs
:meth:`~Deadlines.handle_timer` through :meth:`~Deadlines.get_timer`, and
acts when told. What a passed deadline means for the connection (abandoning
it) is the connection's: ``_abandon()``.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable

from .frames import CloseCode, Opcode, encode_close_payload
from .outgoing import Framer
from .reader import FrameReader
from .state import State

__all__ = ["Deadlines"]

_PING = Opcode.PING.value
_INTERNAL_ERROR = CloseCode.INTERNAL_ERROR.value


class Deadlines(FrameReader):
    """Keepalive and the handshakes' deadlines of a WebSocket connection; see its class."""

    _state: State
    _framer: Framer
    _holding: bool  # a protocol error's close frame waits for release_failure()

    def _init_deadlines(
        self,
        clock: Callable[[], float] | None,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float | None,
        open_timeout: float | None,
    ) -> None:
        for name, value in (
            ("open_timeout", open_timeout),
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("close_timeout", close_timeout),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        self._clock = clock
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._next_ping: float | None = None
        self._pong_deadline: float | None = None
        # Until the handshake is over, the closing deadline is the opening one.
        self._close_deadline: float | None = None
        if clock is not None and open_timeout is not None:
            self._close_deadline = clock() + open_timeout
        self._timer = self._close_deadline  # the earliest deadline, get_timer()'s answer
        self._pings: dict[bytes, float] = {}  # sent, unanswered: payload -> when sent
        self._keepalive: bytes | None = None  # the keepalive ping's payload

    @abc.abstractmethod
    def _abandon(self, close: bytes | None, *, abort: bool = True) -> None:
        """Give up on the connection: queue ``close`` (a close frame's payload) if still open."""

    @abc.abstractmethod
    def release_failure(self) -> None:
        """Let a held protocol error's close frame into ``data_to_send()``."""

    def get_timer(self) -> float | None:
        """The earliest deadline, on the caller's clock, or ``None``; see the class."""
        return self._timer

    def handle_timer(self, now: float) -> None:
        """Act on every deadline at or before ``now``: a keepalive ping, a timeout.

        A timeout abandons the connection (see
        :attr:`~tidewire_websocket.WebSocketConnection.should_abort_transport`); a
        keepalive pong that did not come also queues a close frame with 1011.
        """
        if self._timer is None or now < self._timer:
            return
        if self._close_deadline is not None and now >= self._close_deadline:
            if self._holding:
                self.release_failure()
            else:
                self._abandon(None)  # the peer did not finish a handshake in time
        elif self._pong_deadline is not None and now >= self._pong_deadline:
            self._abandon(encode_close_payload(_INTERNAL_ERROR, "keepalive ping timeout"))
        else:  # the deadline left is the next keepalive ping's
            self._send_keepalive(now)
        self._update_timer()

    def _send_keepalive(self, now: float) -> None:
        payload = os.urandom(4)
        self._pings[payload] = now
        self._keepalive = payload
        self._write(self._framer.frame(_PING, payload))
        self._next_ping = None
        if self._ping_timeout is not None:
            self._pong_deadline = now + self._ping_timeout

    def _acknowledge(self, payload: bytes) -> tuple[tuple[bytes, float], ...]:
        """Record a pong: it answers its ping and every ping sent before it."""
        pings = self._pings
        if payload not in pings or self._clock is None:
            return ()
        now = self._clock()
        answered = []
        key: bytes | None = None
        while key != payload:  # pings are in the order they were sent
            key, sent = next(iter(pings.items()))
            del pings[key]
            if key == self._keepalive:
                self._keepalive = self._pong_deadline = None
                if self._ping_interval is not None and self._state is State.OPEN:
                    self._next_ping = now + self._ping_interval
            else:
                answered.append((key, now - sent))
        self._update_timer()
        return tuple(answered)

    def _start_close_deadline(self) -> None:
        if self._clock is not None and self._close_timeout is not None:
            self._close_deadline = self._clock() + self._close_timeout
            self._update_timer()

    def _stop_keepalive(self) -> None:
        self._next_ping = self._pong_deadline = None
        self._update_timer()

    def _clear_timers(self) -> None:
        self._next_ping = self._pong_deadline = self._close_deadline = self._timer = None

    def _update_timer(self) -> None:
        deadlines = [
            deadline
            for deadline in (self._next_ping, self._pong_deadline, self._close_deadline)
            if deadline is not None
        ]
        self._timer = min(deadlines) if deadlines else None
