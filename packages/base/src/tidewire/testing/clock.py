"""A clock a test moves by hand, for cores that take ``clock=``."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that stands still until told to move.

    Call it to read it, as a core reads the clock it was given: pass the
    clock itself as ``clock=``, then :meth:`advance` it past a core's
    :meth:`~tidewire.Connection.get_timer` and call
    :meth:`~tidewire.Connection.handle_timer` with :attr:`now`.

    Args:
        start: The time it reads at first. Tests pass a large value to
            catch a core that reads some other clock.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        """The time it reads."""

    def __call__(self) -> float:
        """Return :attr:`now`."""
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new :attr:`now`.

        Raises:
            ValueError: ``seconds`` is negative: time never goes back.
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} seconds)")
        self.now += seconds
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r})"
