"""tidewire-websocket: a sans-IO WebSocket core (RFC 6455, RFC 7692).

Build a :class:`ClientConnection` or a :class:`ServerConnection`, move bytes
in with ``receive_data()``/``receive_eof()`` and out with ``data_to_send()``,
and exchange events with ``next_event()`` and ``send()``. See the guide for
what an I/O layer must do.
"""

from .client import ClientConnection
from .connection import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_HEADER_LINE_LENGTH,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_QUEUED_PONGS,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    State,
    WebSocketConnection,
)
from .events import (
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    CloseConnection,
    ExtensionOffer,
    Headers,
    HTTPRequest,
    PerMessageDeflate,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextChunk,
    TextMessage,
    WebSocketClosed,
    WebSocketEvent,
)
from .frames import CloseCode, Opcode, apply_mask, encode_frame, is_valid_close_code, unmask
from .server import ServerConnection

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE_LENGTH",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUED_PONGS",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "AcceptConnection",
    "BytesChunk",
    "BytesMessage",
    "ClientConnection",
    "CloseCode",
    "CloseConnection",
    "ExtensionOffer",
    "HTTPRequest",
    "Headers",
    "Opcode",
    "PerMessageDeflate",
    "Ping",
    "Pong",
    "RejectConnection",
    "Request",
    "ServerConnection",
    "State",
    "TextChunk",
    "TextMessage",
    "WebSocketClosed",
    "WebSocketConnection",
    "WebSocketEvent",
    "apply_mask",
    "encode_frame",
    "is_valid_close_code",
    "unmask",
]

__version__ = "0.1.0"
