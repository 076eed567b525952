"""tidewire-lines: a sans-IO line protocol core.

:class:`LineConnection` turns received bytes into :class:`Line` events (and
:class:`RawData` in raw mode) and events into bytes, with hard limits that
hold however the input is split; :class:`TextLineConnection` does the same
with ``str`` lines. It does no I/O: drive it from any socket
loop, or through a tidewire adapter.
"""

from .connection import BaseLineConnection, LineConnection, Mode
from .events import Line, LinesClosed, RawData, TextLine
from .text import TextLineConnection

__all__ = [
    "BaseLineConnection",
    "Line",
    "LineConnection",
    "LinesClosed",
    "Mode",
    "RawData",
    "TextLine",
    "TextLineConnection",
]

__version__ = "0.1.0"
