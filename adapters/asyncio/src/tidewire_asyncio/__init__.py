"""tidewire-asyncio: run tidewire's sans-IO protocol cores on asyncio.

The generic binding works with any :class:`tidewire.Connection`:
:func:`connect` and :func:`serve` give you an :class:`EventStream` that sends
and receives the core's events over TCP or TLS, with backpressure both ways,
and drives the core's timers on the loop's clock.
Protocol-specific layers live in submodules whose core is an optional extra:
:mod:`tidewire_asyncio.lines` (``pip install tidewire-asyncio[lines]``) and
:mod:`tidewire_asyncio.websocket` (``tidewire-asyncio[websocket]``).
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
