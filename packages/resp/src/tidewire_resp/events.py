"""The events RESP connections receive and send."""

from __future__ import annotations

from typing import Any

from tidewire import Event

__all__ = ["Command", "Message", "MonitorOutput", "Push", "Reply"]


class Command(Event):
    """A Redis command: the arguments of one request.

    A client sends it (:meth:`~tidewire.Connection.send`); a server
    receives it (:class:`tidewire_resp.ServerConnection`), with every
    argument as ``bytes``.

    Attributes:
        args: The command name and its arguments. To send: ``bytes``,
            ``str`` (encoded as UTF-8), ``int``, ``float`` (sent as its
            ``repr``, which round-trips exactly), ``bytearray`` or a
            contiguous ``memoryview`` (sent without a copy; do not change it
            before the bytes are written). ``None``, ``bool`` and anything
            else are refused.
    """

    args: tuple[Any, ...]


class Reply(Event):
    """One complete reply.

    Attributes:
        value: The reply's value: ``bytes``, ``int``, ``float``, ``bool``,
            ``None``, ``list``, ``dict``, ``set``, or one of the value classes
            such as :class:`~tidewire_resp.SimpleString`. An error reply is an
            :class:`~tidewire_resp.ErrorReply` value, not an exception.
        attributes: The RESP3 attributes (``|``) that came just before the
            reply, as a ``dict`` or :class:`~tidewire_resp.MapPairs`, or
            ``None``. Attributes never outlive the reply they precede.
        request: On a :class:`~tidewire_resp.ClientConnection`, the id of the
            request this reply answers (see
            :meth:`~tidewire_resp.ClientConnection.command`); ``-1`` where
            there is no request (a :class:`~tidewire_resp.ReplyReader`, a
            server's outgoing replies).
    """

    value: Any
    attributes: Any = None
    request: int = -1


class Push(Event):
    """An out-of-band message: a RESP3 push (``>``), or a RESP2 pub/sub message.

    Pushes are never replies to a request. A push the server nested inside
    another reply (Redis 7.0 does, inside ``EXEC``) is delivered as its own
    event, before that reply, and is not counted as one of its elements. On
    a RESP2 client connection in subscribed mode, ``message``, ``pmessage``
    and ``smessage`` arrays become pushes too, so pub/sub reads the same in
    both protocols.

    Attributes:
        data: The elements, the kind first (``[b"message", b"channel",
            b"payload"]``).
        attributes: RESP3 attributes that came before the push, or ``None``.
    """

    data: list[Any]
    attributes: Any = None

    @property
    def kind(self) -> bytes | None:
        """The first element (``b"message"``, ``b"invalidate"``...) if bytes, else ``None``."""
        if self.data and isinstance(self.data[0], bytes):
            return bytes(self.data[0])
        return None


class MonitorOutput(Event):
    """One line of ``MONITOR`` output, on a client connection in monitor mode.

    Attributes:
        line: The line, such as ``b'1700000000.123456 [0 127.0.0.1:5000] "GET" "k"'``.
    """

    line: bytes


class Message(Event):
    """One pub/sub message, on a client connection subscribed to its channel.

    A ``message``, ``pmessage`` or ``smessage`` push (RESP3), or array on a
    subscribed RESP2 connection, of the right shape; other pushes stay
    :class:`~tidewire_resp.Push` events.

    Attributes:
        kind: ``"message"``, ``"pmessage"`` (a pattern matched) or
            ``"smessage"`` (a shard channel).
        channel: The channel it was published on.
        data: The payload.
        pattern: For ``pmessage``, the pattern that matched; else ``None``.

    ``channel``, ``data`` and ``pattern`` are ``bytes`` (see :meth:`decode`).
    """

    kind: str
    channel: Any
    data: Any
    pattern: Any = None

    @classmethod
    def from_data(cls, data: list[Any]) -> Message | None:
        """The message a push's elements (kind first) make, or ``None`` if they make none."""
        kind = data[0] if data else None
        if len(data) == 3 and kind in (b"message", b"smessage"):
            return cls(kind.decode(), data[1], data[2])
        if len(data) == 4 and kind == b"pmessage":
            return cls("pmessage", data[2], data[3], data[1])
        return None

    def decode(self, encoding: str) -> Message:
        """This message with its ``bytes`` decoded to ``str``.

        Raises:
            UnicodeDecodeError: a field is not valid text in ``encoding``.
        """
        return Message(
            self.kind,
            _text(self.channel, encoding),
            _text(self.data, encoding),
            _text(self.pattern, encoding),
        )


def _text(value: Any, encoding: str) -> Any:
    return value.decode(encoding) if isinstance(value, bytes) else value
