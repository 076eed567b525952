"""tidewire: the shared base of sans-IO protocol cores.

Everything a core needs, and everything its users handle, is importable from
here: the :class:`Connection` contract, :class:`Event` and the
:data:`NEED_DATA` sentinel, the :class:`ReceiveBuffer`, the errors (the
protocol errors of the contract and the closing exceptions every adapter
raises), and the checks a core's sending side makes (:func:`describe`, :func:`as_bytes`).
"""

from .buffer import BytesLike, Delimiter, ReceiveBuffer
from .checks import as_bytes, describe
from .connection import DEFAULT_MAX_BUFFER_SIZE, Connection, ReceiveState
from .errors import (
    ConnectionLostError,
    EndOfStream,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    StreamClosedError,
)
from .events import NEED_DATA, ConnectionClosed, Event, NeedData, Sentinel

__all__ = [
    "DEFAULT_MAX_BUFFER_SIZE",
    "NEED_DATA",
    "BytesLike",
    "Connection",
    "ConnectionClosed",
    "ConnectionLostError",
    "Delimiter",
    "EndOfStream",
    "Event",
    "LocalProtocolError",
    "NeedData",
    "ProtocolError",
    "ReceiveBuffer",
    "ReceiveState",
    "RemoteProtocolError",
    "Sentinel",
    "StreamClosedError",
    "as_bytes",
    "describe",
]

__version__ = "0.1.0"
