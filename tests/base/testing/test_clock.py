"""FakeClock: a clock a test moves by hand."""

import pytest

from tidewire.testing import FakeClock


def test_reads_what_it_was_set_to_and_moves_only_forward():
    clock = FakeClock(5.0)
    assert clock() == clock.now == 5.0
    assert clock.advance(2.5) == 7.5
    assert clock() == 7.5
    assert clock.advance(0) == 7.5
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    assert clock() == 7.5
    assert repr(clock) == "FakeClock(now=7.5)"


def test_starts_at_zero():
    assert FakeClock()() == 0.0
