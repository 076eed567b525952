"""tidewire-resp: a sans-IO Redis protocol core, RESP2 and RESP3, client and server roles.

- :class:`ClientConnection`: send commands, get each reply matched to its
  request, with pipelining, pushes, pub/sub, transactions, ``CLIENT REPLY``,
  ``MONITOR`` and cancellation.
- :class:`ReplyReader`: replies and pushes out of a byte stream, unmatched.
- :class:`ServerConnection`: commands in, replies of every type out.

Values are plain Python where that loses nothing (``bytes``, ``int``,
``float``, ``bool``, ``None``, ``list``, ``dict``, ``set``), and the value
classes (:class:`SimpleString`, :class:`ErrorReply`, :class:`MapPairs`...)
where it would.
"""

from .client import ClientConnection, ReplyReader
from .events import Command, MonitorOutput, Push, Reply
from .server import ServerConnection, split_inline
from .values import (
    NAN,
    Attributed,
    BigNumber,
    ErrorReply,
    MapPairs,
    SetMembers,
    SimpleString,
    Verbatim,
)

__all__ = [
    "NAN",
    "Attributed",
    "BigNumber",
    "ClientConnection",
    "Command",
    "ErrorReply",
    "MapPairs",
    "MonitorOutput",
    "Push",
    "Reply",
    "ReplyReader",
    "ServerConnection",
    "SetMembers",
    "SimpleString",
    "Verbatim",
    "split_inline",
]

__version__ = "0.1.0"
