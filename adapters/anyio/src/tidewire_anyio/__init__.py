"""tidewire-anyio: run tidewire's sans-IO protocol cores on anyio, on asyncio and trio alike.

The generic binding works with any :class:`tidewire.Connection` over any
:class:`anyio.abc.ByteStream`: :func:`connect` and :func:`serve` give you an
:class:`EventStream` that sends and receives the core's events over TCP, TLS
or a Unix socket, with backpressure both ways, and drives the core's timers
on anyio's clock. Protocol-specific layers live in submodules whose core is
an optional extra: :mod:`tidewire_anyio.lines`
(``pip install tidewire-anyio[lines]``), :mod:`tidewire_anyio.websocket`
(``tidewire-anyio[websocket]``) and :mod:`tidewire_anyio.resp`
(``tidewire-anyio[resp]``).
"""

from ._closing import Connecting
from .errors import ConnectionLostError, EndOfStream, StreamClosedError
from .network import ConnectOptions, ServeOptions, Server, StreamOptions, connect, serve
from .stream import DEFAULT_READ_HIGH_WATER, DEFAULT_WRITE_HIGH_WATER, EventStream

__all__ = [
    "DEFAULT_READ_HIGH_WATER",
    "DEFAULT_WRITE_HIGH_WATER",
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
