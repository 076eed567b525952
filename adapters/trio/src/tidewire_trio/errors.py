"""The closing exceptions, re-exported from :mod:`tidewire` (the same class objects).

A tidewire core raises :class:`~tidewire.RemoteProtocolError` and
:class:`~tidewire.LocalProtocolError`; they pass through the adapter
unchanged. What only I/O can cause is one of the base's closing exceptions,
shared by every adapter so that ``except`` clauses read the same everywhere:
:class:`~tidewire.StreamClosedError` (the stream cannot be used any more; on
its own, it was closed on this side), :class:`~tidewire.ConnectionLostError`
(the connection broke) and :class:`~tidewire.EndOfStream` (the peer ended
cleanly where a value was awaited).
"""

from __future__ import annotations

from tidewire import ConnectionLostError, EndOfStream, StreamClosedError

__all__ = ["ConnectionLostError", "EndOfStream", "StreamClosedError"]
