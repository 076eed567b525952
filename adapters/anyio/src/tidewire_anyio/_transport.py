"""Small pieces of anyio glue the stream and the servers share."""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What a byte stream raises when the connection is gone (its end of file aside)."""

_LINGER_ZERO = struct.pack("ii", 1, 0)
_EXTRA: dict[str, Any] = {  # asyncio's get_extra_info() names -> anyio's typed attributes
    "peername": SocketAttribute.remote_address,
    "sockname": SocketAttribute.local_address,
    "socket": SocketAttribute.raw_socket,
    "ssl_object": TLSAttribute.ssl_object,
    "peercert": TLSAttribute.peer_certificate,
    "cipher": TLSAttribute.cipher,
}


def extra_info(transport: anyio.abc.ByteStream | None, name: str, default: Any) -> Any:
    """Return asyncio's extra information ``name`` from anyio's typed attributes."""
    attribute = _EXTRA.get(name)
    if transport is None or attribute is None:
        return default
    return transport.extra(attribute, default)  # noqa: S610 - anyio's, not Django's


def reset_on_close(transport: anyio.abc.ByteStream | None) -> None:
    """Make closing ``transport`` send a TCP reset, dropping unsent bytes (linger 0)."""
    raw = extra_info(transport, "socket", None)
    if isinstance(raw, socket.socket) and raw.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
