"""The closing exceptions: the base's classes, raised as anyio's too.

The names here are :mod:`tidewire`'s own classes (the same objects as in every
adapter), so ``except StreamClosedError`` reads the same on asyncio, trio,
Twisted and anyio. What tidewire-anyio raises is, in addition, an instance of
the matching anyio class, so code written against anyio's stream vocabulary
catches it too:

=======================================  ===================================
raised as tidewire's                     and as anyio's
=======================================  ===================================
:class:`~tidewire.StreamClosedError`     :class:`anyio.ClosedResourceError`
:class:`~tidewire.ConnectionLostError`   :class:`anyio.BrokenResourceError`
:class:`~tidewire.EndOfStream`           :class:`anyio.EndOfStream`
=======================================  ===================================

A tidewire core's :class:`~tidewire.RemoteProtocolError` and
:class:`~tidewire.LocalProtocolError` pass through unchanged.
"""

from __future__ import annotations

import anyio

from tidewire import ConnectionClosed, ConnectionLostError, EndOfStream, StreamClosedError

__all__ = ["ConnectionLostError", "EndOfStream", "StreamClosedError"]


class _Closed(StreamClosedError, anyio.ClosedResourceError):
    """Closed on this side: a :class:`~tidewire.StreamClosedError` and an anyio one."""


class _Lost(ConnectionLostError, anyio.BrokenResourceError):
    """The connection broke: a :class:`~tidewire.ConnectionLostError` and an anyio one."""


class _Ended(EndOfStream, anyio.EndOfStream):
    """The peer ended cleanly: a :class:`~tidewire.EndOfStream` and an anyio one."""


def closed(message: str, event: ConnectionClosed | None = None) -> StreamClosedError:
    """A :class:`~tidewire.StreamClosedError` that is also :class:`anyio.ClosedResourceError`."""
    return _Closed(message, event)


def lost(
    message: str, event: ConnectionClosed | None = None, cause: BaseException | None = None
) -> ConnectionLostError:
    """A :class:`~tidewire.ConnectionLostError` that is also :class:`anyio.BrokenResourceError`."""
    error = _Lost(message, event)
    error.__cause__ = cause
    return error


def ended(message: str, event: ConnectionClosed | None = None) -> EndOfStream:
    """A :class:`~tidewire.EndOfStream` that is also :class:`anyio.EndOfStream`."""
    return _Ended(message, event)
