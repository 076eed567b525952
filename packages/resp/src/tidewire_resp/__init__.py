"""tidewire-resp: a sans-IO Redis protocol core, RESP2 and RESP3, client and server roles.

- :class:`ClientConnection`: send commands, get each reply matched to its
  request, with pipelining, pushes, pub/sub, transactions, ``CLIENT REPLY``,
  ``MONITOR`` and cancellation.
- :class:`ReplyReader`: replies and pushes out of a byte stream, unmatched.
- :class:`ServerConnection`: commands in, replies of every type out.
- The policy every adapter's Redis client shares: :func:`parse_url`, the
  error classes (:class:`ReplyError` by code), :func:`decode_value`,
  :func:`transaction_result`, and :class:`Message` events.

Values are plain Python where that loses nothing (``bytes``, ``int``,
``float``, ``bool``, ``None``, ``list``, ``dict``, ``set``), and the value
classes (:class:`SimpleString`, :class:`ErrorReply`, :class:`MapPairs`...)
where it would.
"""

from .client import ClientConnection
from .decoding import decode_value, raise_first_error, transaction_result
from .errors import (
    ERROR_CLASSES,
    AskError,
    BusyError,
    BusyGroupError,
    BusyLoadingError,
    ClusterDownError,
    CrossSlotError,
    ExecAbortError,
    MasterDownError,
    MisconfError,
    MovedError,
    NoAuthError,
    NoGroupError,
    NoPermError,
    NoProtoError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ReplyError,
    TryAgainError,
    WatchError,
    WrongPassError,
    WrongTypeError,
    error_code,
    reply_error,
)
from .events import Command, Message, MonitorOutput, Push, Reply
from .reader import ReplyReader
from .server import ServerConnection, split_inline
from .urls import connection_options, parse_url
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
    "ERROR_CLASSES",
    "NAN",
    "AskError",
    "Attributed",
    "BigNumber",
    "BusyError",
    "BusyGroupError",
    "BusyLoadingError",
    "ClientConnection",
    "ClusterDownError",
    "Command",
    "CrossSlotError",
    "ErrorReply",
    "ExecAbortError",
    "MapPairs",
    "MasterDownError",
    "Message",
    "MisconfError",
    "MonitorOutput",
    "MovedError",
    "NoAuthError",
    "NoGroupError",
    "NoPermError",
    "NoProtoError",
    "NoScriptError",
    "OutOfMemoryError",
    "Push",
    "ReadOnlyError",
    "Reply",
    "ReplyError",
    "ReplyReader",
    "ServerConnection",
    "SetMembers",
    "SimpleString",
    "TryAgainError",
    "Verbatim",
    "WatchError",
    "WrongPassError",
    "WrongTypeError",
    "connection_options",
    "decode_value",
    "error_code",
    "parse_url",
    "raise_first_error",
    "reply_error",
    "split_inline",
    "transaction_result",
]

__version__ = "0.1.0"
