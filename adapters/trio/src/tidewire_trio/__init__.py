"""tidewire-trio: run tidewire's sans-IO protocol cores on trio.

The generic binding works with any :class:`tidewire.Connection` over any
:class:`trio.abc.Stream`: :func:`connect` and :func:`serve` give you an
:class:`EventStream` that sends and receives the core's events over TCP, TLS,
a Unix socket or a stream of yours, reads only when a task awaits, and drives
the core's timers on trio's clock. Protocol layers live in submodules whose
core is an optional extra: :mod:`tidewire_trio.lines`
(``pip install tidewire-trio[lines]``), :mod:`tidewire_trio.websocket` and
:mod:`tidewire_trio.resp`.
"""

from ._closing import Connecting
from .errors import ConnectionLostError, EndOfStream, StreamClosedError
from .network import ConnectOptions, ServeOptions, Server, StreamOptions, connect, serve
from .stream import DEFAULT_READ_HIGH_WATER, EventStream

__all__ = [
    "DEFAULT_READ_HIGH_WATER",
    "ConnectOptions",
    "Connecting",
    "ConnectionLostError",
    "EndOfStream",
    "EventStream",
    "ServeOptions",
    "Server",
    "StreamClosedError",
    "StreamOptions",
    "connect",
    "serve",
]

__version__ = "0.1.0"
