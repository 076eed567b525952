"""What every adapter's shared Redis connection decides, with no I/O.

A connection that many tasks share, with a reader routing replies and
pub/sub messages, makes the same decisions on every framework: how many
messages may wait unread and when the reader goes on, what a caller gets
once the connection is gone, how a reply becomes a value. They live here
once; an adapter adds only its waiting.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from tidewire import ConnectionLostError, RemoteProtocolError, StreamClosedError

from .client import ClientConnection
from .decoding import decode_value
from .errors import reply_error
from .events import Message, Push
from .values import ErrorReply

__all__ = [
    "DEFAULT_MAX_QUEUED_MESSAGES",
    "MAX_DEPTH",
    "WRITE_LIMIT",
    "MessageBacklog",
    "PushHandler",
    "RedisConnectionBase",
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


PushHandler = Callable[[Push], object]
"""What a connection calls with each push that is not a pub/sub message (``invalidate``...)."""


class _EventStream(Protocol):
    @property
    def connection(self) -> Any: ...


StreamT = TypeVar("StreamT", bound=_EventStream)


class RedisConnectionBase(abc.ABC, Generic[StreamT]):
    """What every adapter's ``RedisConnection`` holds and answers alike, on any framework.

    The core and its check, the decoding options, the push handler, the
    backlog of unread messages and the error that ended the connection. An
    adapter adds its waiting and routing, and sets up its own fields in ``_start()``.

    Args:
        stream: An event stream around a fresh
            :class:`~tidewire_resp.ClientConnection`; it sends no set-up.
        decode_responses: Return strings as ``str`` (decoded with
            ``encoding``) rather than ``bytes``.
        encoding: As above.
        push_handler: Called with every push that is not a pub/sub message.
        max_queued_messages: How many pub/sub messages may wait unread.

    Raises:
        TypeError: the stream's core is not a ``ClientConnection``.
        ValueError: ``max_queued_messages`` is not a positive int.
    """

    push_handler: PushHandler | None

    def __init__(
        self,
        stream: StreamT,
        *,
        decode_responses: bool = False,
        encoding: str = "utf-8",
        push_handler: PushHandler | None = None,
        max_queued_messages: int = DEFAULT_MAX_QUEUED_MESSAGES,
    ) -> None:
        core = stream.connection
        if not isinstance(core, ClientConnection):
            raise TypeError(
                f"a RedisConnection needs a ClientConnection, not {type(core).__name__}"
            )
        self._stream = stream
        self._core: ClientConnection = core
        self._decode = decode_responses
        self._encoding = encoding
        self.push_handler = push_handler
        self._error: BaseException | None = None  # why the connection ended
        self._messages: MessageBacklog[Message] = MessageBacklog(max_queued_messages)
        self._start()

    @abc.abstractmethod
    def _start(self) -> None:
        """Set up the adapter's own fields and start routing; the last step of ``__init__``."""

    @property
    def protocol(self) -> int:
        """The protocol in use, 3 or 2 (2 when the server refused ``HELLO 3``)."""
        return self._core.protocol

    @property
    def connection(self) -> ClientConnection:
        """The RESP core (its subscriptions, limits ...)."""
        return self._core

    @property
    def events(self) -> StreamT:
        """The underlying event stream (``get_extra_info`` and the like)."""
        return self._stream

    @property
    def closed(self) -> bool:
        """True once the connection is closed or broken; it cannot be used again."""
        return self._error is not None

    @property
    def pending(self) -> int:
        """How many requests await their reply, abandoned ones included."""
        return self._core.pending

    @property
    def queued_messages(self) -> int:
        """How many pub/sub messages wait for ``get_message()``."""
        return len(self._messages)
