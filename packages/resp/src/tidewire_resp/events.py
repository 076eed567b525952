"""The events RESP connections receive and send."""

from __future__ import annotations

from typing import Any

from tidewire import Event

__all__ = ["Command", "MonitorOutput", "Push", "Reply"]


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
