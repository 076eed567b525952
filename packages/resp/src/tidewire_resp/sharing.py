"""What every adapter's shared Redis connection decides, with no I/O.

A connection that many tasks share, with a reader routing replies and
pub/sub messages, makes the same decisions on every framework: how many
messages may wait unread and when the reader goes on, what a caller gets
once the connection is gone, how a reply becomes a value. They live here
once; an adapter adds only its waiting.
"""

from __future__ import annotations

import collections
from typing import Any, Generic, TypeVar

from tidewire import ConnectionLostError, RemoteProtocolError, StreamClosedError

from .decoding import decode_value
from .errors import reply_error
from .values import ErrorReply

__all__ = [
    "DEFAULT_MAX_QUEUED_MESSAGES",
    "MAX_DEPTH",
    "WRITE_LIMIT",
    "MessageBacklog",
    "batch_values",
    "check_max_queued_messages",
    "failure",
    "reply_value",
]

DEFAULT_MAX_QUEUED_MESSAGES = 1000
"""How many pub/sub messages may wait unread by default before the reader stops."""

MAX_DEPTH = 200
"""The ``max_depth`` an adapter's client core gets: deep enough for any real reply,
far from the recursion limit of :func:`~tidewire_resp.decode_value`."""

WRITE_LIMIT = 1024 * 1024
"""Bytes written and not yet sent past which a new request waits for the peer to read."""

_AS_IS = frozenset((int, float, bool, type(None)))  # values decode_value() returns as they are

ItemT = TypeVar("ItemT")


def check_max_queued_messages(limit: object) -> int:
    """Return ``limit`` if it is a valid ``max_queued_messages``.

    Raises:
        ValueError: not an ``int`` of at least 1.
    """
    if type(limit) is not int or limit < 1:
        raise ValueError(f"max_queued_messages must be an int of at least 1, not {limit!r}")
    return limit


class MessageBacklog(Generic[ItemT]):
    """The pub/sub messages waiting unread: a FIFO its one producer stops filling when full.

    The backlog never refuses an item: the producer (the reader) asks
    :attr:`full` and, while it is, waits before taking anything more off
    the wire, until the consumer finds :attr:`has_room` again: at half of
    ``limit``, so a consumer catching up does not restart it for every
    message.

    Args:
        limit: ``max_queued_messages``.

    Raises:
        ValueError: as :func:`check_max_queued_messages`.
    """

    __slots__ = ("_items", "_limit", "_resume_at")

    def __init__(self, limit: int = DEFAULT_MAX_QUEUED_MESSAGES) -> None:
        self._limit = check_max_queued_messages(limit)
        self._resume_at = limit // 2
        self._items: collections.deque[ItemT] = collections.deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether the producer must wait before reading on."""
        return len(self._items) >= self._limit

    @property
    def has_room(self) -> bool:
        """Whether a producer that stopped at :attr:`full` may go on (at half of ``limit``)."""
        return len(self._items) <= self._resume_at

    def put(self, item: ItemT) -> None:
        """Append ``item`` (the consumer waiting for one should be woken)."""
        self._items.append(item)

    def take(self) -> ItemT:
        """Remove and return the oldest item; the backlog must not be empty."""
        return self._items.popleft()


def reply_value(value: Any, encoding: str | None) -> Any:
    """A reply's value for the application: decoded (strings too with an ``encoding``).

    Raises:
        ReplyError: the reply is an error (the class follows its code).
        UnicodeDecodeError: a string is not valid text in ``encoding``.
    """
    if type(value) is bytes and encoding is None:
        return value  # the common case, without the walk
    if type(value) is ErrorReply:
        raise reply_error(value)
    return decode_value(value, encoding)


def batch_values(values: list[Any], encoding: str | None) -> list[Any]:
    """A batch's values for the application, decoded only where something needs it."""
    kinds = set(map(type, values))
    if kinds <= _AS_IS or (encoding is None and kinds <= _AS_IS | {bytes}):
        return values
    return [decode_value(value, encoding) for value in values]


def failure(error: BaseException) -> Exception:
    """What a caller of a connection that ended with ``error`` gets.

    A plain :class:`~tidewire.StreamClosedError` means closed on this side;
    anything else a :class:`~tidewire.ConnectionLostError` (caused by
    ``error``) saying that a command waiting may or may not have run.
    """
    if type(error) is StreamClosedError:  # its subclasses mean the peer's end
        return StreamClosedError("the Redis connection was closed on this side")
    if isinstance(error, RemoteProtocolError) and error.code == "EOF":
        what = (
            "the server closed the connection in the middle of a reply (as Redis does"
            " to a client past its client-output-buffer-limit)"
        )
    elif isinstance(error, RemoteProtocolError):
        what = f"the Redis connection broke the protocol: {error}"
    else:
        what = f"the Redis connection was lost ({error})"
    lost = ConnectionLostError(f"{what}; a command that was waiting may or may not have run")
    lost.__cause__ = error
    return lost
