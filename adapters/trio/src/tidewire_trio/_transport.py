"""What the stream needs to know of a trio stream: its layers, its socket, a close now."""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

import trio

_LINGER_ZERO = struct.pack("ii", 1, 0)


class BusyError(trio.BusyResourceError, RuntimeError):
    """Another task is already receiving: trio's error, and asyncio's ``RuntimeError`` too."""


def layers(stream: trio.abc.Stream) -> tuple[trio.SSLStream[Any] | None, trio.SocketStream | None]:
    """Return the outermost :class:`trio.SSLStream` and the innermost :class:`trio.SocketStream`."""
    tls = None
    inner: Any = stream
    while isinstance(inner, trio.SSLStream):
        tls = tls or inner
        inner = inner.transport_stream
    return tls, inner if isinstance(inner, trio.SocketStream) else None


def extra_info(stream: trio.abc.Stream, name: str, default: Any) -> Any:
    """Asyncio's ``get_extra_info()`` names, answered from the stream's layers."""
    tls, sock = layers(stream)
    try:
        if name == "stream":
            return stream
        if sock is not None and name in ("socket", "peername", "sockname"):
            raw = sock.socket
            return raw if name == "socket" else getattr(raw, f"get{name}")()
        if tls is not None and name in ("ssl_object", "sslcontext", "peercert", "cipher"):
            if name == "ssl_object":
                return tls  # trio keeps the ssl.SSLObject private; the SSLStream answers for it
            if name == "sslcontext":
                return tls.context
            return tls.getpeercert() if name == "peercert" else tls.cipher()
    except (OSError, ValueError):
        pass  # a closed socket has no peer any more
    return default


def close_now(stream: trio.abc.AsyncResource, *, reset: bool) -> None:
    """Close ``stream`` without waiting, where trio offers a synchronous close.

    A socket is closed (with a TCP reset if asked); trio's memory streams are
    closed; any other stream waits for the owner's ``aclose()``.
    """
    if isinstance(stream, trio.StapledStream):
        close_now(stream.send_stream, reset=reset)
        close_now(stream.receive_stream, reset=reset)
        return
    _, sock = layers(stream) if isinstance(stream, trio.abc.Stream) else (None, None)
    if sock is not None:
        raw = sock.socket
        if reset and raw.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        raw.close()
        return
    close = getattr(stream, "close", None)
    if callable(close):
        close()
