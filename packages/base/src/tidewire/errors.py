"""The exceptions of the tidewire contract, and the closing vocabulary of every adapter.

Only two kinds of exception may leave a core: :class:`RemoteProtocolError`
when the peer sent bytes the protocol forbids, and :class:`LocalProtocolError`
when the caller used the API in a way the protocol forbids. Any other
exception escaping a core is a bug in that core.

The adapters raise the :class:`StreamClosedError` family when a stream can no
longer be used; they are defined here so that ``except`` clauses read the same
on every framework.
"""

from __future__ import annotations

from .events import ConnectionClosed

__all__ = [
    "ConnectionLostError",
    "EndOfStream",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "StreamClosedError",
]


class ProtocolError(Exception):
    """Base class of both tidewire errors; never raised itself.

    Args:
        message: What was wrong and where, in words a person can act on.
        code: A machine-readable code where the protocol defines one (a
            WebSocket close code such as ``1002``, a RESP error prefix such as
            ``"ERR"``); ``None`` where it has none.
        offset: Where in the received stream the fault lies, counted in bytes
            from the start of the stream, if known.

    Attributes:
        message: As given.
        code: As given.
        offset: As given.
    """

    def __init__(
        self, message: str, *, code: int | str | None = None, offset: int | None = None
    ) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError instead")
        super().__init__(message)
        self.message = message
        self.code = code
        self.offset = offset

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code {self.code!r}")
        if self.offset is not None:
            parts.append(f"at byte {self.offset}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, offset={self.offset!r})"
        )


class LocalProtocolError(ProtocolError):
    """The caller asked for something the protocol forbids.

    Raised by :meth:`tidewire.Connection.send` and the other sending methods,
    and by :meth:`~tidewire.Connection.receive_data` after
    :meth:`~tidewire.Connection.receive_eof`. It is raised *before* anything
    changes: the connection's state and outgoing bytes are as they were, so
    the caller may correct the mistake and go on.
    """


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes the protocol forbids, or a configured limit was exceeded.

    Raised only by :meth:`tidewire.Connection.next_event` (and so by
    :meth:`~tidewire.Connection.events`). The connection is then in its
    terminal error state, and whatever the protocol owes the peer on failure
    (a WebSocket close frame with the right code, for instance) is already
    waiting in :meth:`~tidewire.Connection.data_to_send`.
    """


class StreamClosedError(Exception):
    """This stream can no longer be used: the root of the adapters' closing exceptions.

    Raised by an adapter's stream (and the protocol layers over it) when it
    was closed on this side, and as the base of :class:`ConnectionLostError`,
    :class:`EndOfStream` and the protocol-specific closing errors (such as
    ``tidewire_websocket.WebSocketClosedError``), so ``except
    StreamClosedError`` catches every way a stream ends.

    Args:
        message: What was being done when the stream turned out closed.
        event: The core's closing event, if the peer's end is known.

    Attributes:
        event: As given: a :class:`~tidewire.ConnectionClosed` (or a core's
            subclass of it) when the peer ended its stream, else ``None``.
    """

    def __init__(self, message: str = "", event: ConnectionClosed | None = None) -> None:
        super().__init__(message)
        self.event = event


class ConnectionLostError(StreamClosedError):
    """The connection ended abnormally: a transport error, a reset, a protocol failure.

    The operating system's error, when there is one, is the ``__cause__``.
    Every complete event received before the break was delivered first.
    """


class EndOfStream(StreamClosedError, EOFError):
    """The peer ended its stream cleanly, and nothing more will arrive.

    Raised where a return value cannot say "no more" (a reader of one line,
    one message); ``event`` is the core's closing event, with whatever
    it carries (leftover bytes, a close code).
    """
