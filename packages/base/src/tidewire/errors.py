"""The exceptions of the tidewire contract.

Only two kinds of exception may leave a core: :class:`RemoteProtocolError`
when the peer sent bytes the protocol forbids, and :class:`LocalProtocolError`
when the caller used the API in a way the protocol forbids. Any other
exception escaping a core is a bug in that core.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


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
