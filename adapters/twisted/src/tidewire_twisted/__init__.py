"""tidewire-twisted: run tidewire's sans-IO protocol cores on Twisted.

The generic binding works with any :class:`tidewire.Connection`:
:func:`connect` and :func:`serve` take Twisted endpoints (or description
strings such as ``"tcp:0"``, ``"unix:/path"``, ``"ssl:..."``) and give you an
:class:`EventStream` whose waiting methods return Deferreds, with
backpressure through Twisted's producers and consumers, and the core's
timers on the reactor's clock. Protocol-specific layers live in submodules
whose core is an optional extra: :mod:`tidewire_twisted.lines`,
:mod:`tidewire_twisted.websocket` (with :mod:`tidewire_twisted.resource`
for a ``twisted.web`` site) and :mod:`tidewire_twisted.resp`.
"""

from .errors import ConnectionLostError, EndOfStream, StreamClosedError
from .network import ConnectOptions, ServeOptions, Server, StreamOptions, connect, serve
from .stream import DEFAULT_READ_HIGH_WATER, EventStream

__all__ = [
    "DEFAULT_READ_HIGH_WATER",
    "ConnectOptions",
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
