"""The exceptions the adapter adds to tidewire's two protocol errors.

A tidewire core raises :class:`~tidewire.RemoteProtocolError` and
:class:`~tidewire.LocalProtocolError`; they pass through the adapter
unchanged. The adapter adds what only I/O can cause: the transport breaking
under the stream, and using a stream after closing it.
"""

from __future__ import annotations

from tidewire import ConnectionClosed

__all__ = ["ConnectionLostError", "EndOfStream", "StreamClosedError"]


class ConnectionLostError(Exception):
    """The connection broke before the peer finished its stream cleanly.

    Raised by :meth:`~tidewire_asyncio.EventStream.receive` once every
    complete event received before the break has been returned, and by the
    sending methods once the transport is gone: a reset, a broken pipe, a
    TLS failure, or a transport closed by someone else. The operating
    system's error, when there is one, is the ``__cause__``. A clean end of
    stream is not an error: it arrives as the core's
    :class:`~tidewire.ConnectionClosed` event.
    """


class StreamClosedError(Exception):
    """The stream was closed on this side, so it cannot be used any more.

    Raised by every method of a stream after
    :meth:`~tidewire_asyncio.EventStream.aclose` or
    :meth:`~tidewire_asyncio.EventStream.abort`, including in a task that was
    waiting in :meth:`~tidewire_asyncio.EventStream.receive` or
    :meth:`~tidewire_asyncio.EventStream.send` when another task closed it.
    """


class EndOfStream(EOFError):
    """The peer closed its side cleanly, so the value asked for will never come.

    Raised by the protocol layers' convenience readers
    (:meth:`tidewire_asyncio.lines.LineStream.receive_line` and friends) where
    a return value cannot say "no more". The generic
    :meth:`~tidewire_asyncio.EventStream.receive` returns the core's closing
    event instead.

    Args:
        message: What was being read when the stream ended.
        event: The core's closing event (for a line stream, a
            ``LinesClosed`` with any bytes left over).

    Attributes:
        event: As given.
    """

    def __init__(self, message: str, event: ConnectionClosed) -> None:
        super().__init__(message)
        self.event = event
