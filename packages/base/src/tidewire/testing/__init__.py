"""Tools for testing a tidewire core: split feeding, a loopback, a fake clock, the contract suite.

Needs the ``testing`` extra: ``pip install "tidewire[testing]"`` (it brings
hypothesis). Everything here drives a core through its public API only.
"""

try:
    import hypothesis  # noqa: F401
except ImportError as exc:
    raise ImportError('tidewire.testing needs hypothesis: pip install "tidewire[testing]"') from exc

from .clock import FakeClock
from .contract import ConnectionContract
from .feeding import (
    ConnectionFactory,
    Outcome,
    assert_split_invariant,
    bytewise,
    drain,
    random_splits,
    run,
    split_at,
)
from .loopback import Loopback
from .strategies import chunkings, split_data

__all__ = [
    "ConnectionContract",
    "ConnectionFactory",
    "FakeClock",
    "Loopback",
    "Outcome",
    "assert_split_invariant",
    "bytewise",
    "chunkings",
    "drain",
    "random_splits",
    "run",
    "split_at",
    "split_data",
]
