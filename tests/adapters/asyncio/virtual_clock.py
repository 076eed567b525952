"""An asyncio event loop on virtual time, for the shared suite's ``virtual_clock`` tests.

"Nothing can run" means no callback is ready and no I/O arrives within a
short real grace (10 ms, so a peer in another process, a redis-server, has
time to answer); a thread's work (``getaddrinfo``) does not hold time back.
Time then jumps exactly to the earliest timer, so a core's deadline is met on
the dot and a test of a 3600 s timeout takes milliseconds.
"""

from __future__ import annotations

import asyncio
import selectors

_VIRTUAL_START = 1_000_000.0  # far from the real monotonic clock, so a mix-up shows
_REAL_GRACE = 0.01  # seconds of real time I/O gets before virtual time jumps


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that, finding no I/O, makes the loop's clock jump to the next timer."""

    def __init__(self) -> None:
        super().__init__()
        self.now = _VIRTUAL_START

    def select(self, timeout=None):
        # The loop passes 0 when callbacks are ready, None when no timer is
        # pending (only I/O can wake it: wait for real), else the time until
        # the earliest timer.
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        events = super().select(min(timeout, _REAL_GRACE))
        if not events:
            self.now += timeout
        return events


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time: it jumps to the next timer whenever nothing can run."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now
