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
    DEFAULT_OPEN_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    State,
    WebSocketConnection,
)
from .errors import HandshakeRejected, WebSocketClosedError
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
from .inbox import DataEvent, Inbox
from .policy import (
    DEFAULT_MAX_QUEUE,
    GOING_AWAY,
    UPGRADE_REQUIRED,
    ConnectionOptions,
    WebSocketURI,
    accept_answer,
    chunk_of,
    client_request,
    exit_code,
    extensions_for,
    join_chunks,
    message_of,
    parse_uri,
)
from .server import ServerConnection

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE_LENGTH",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_QUEUED_PONGS",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "GOING_AWAY",
    "UPGRADE_REQUIRED",
    "AcceptConnection",
    "BytesChunk",
    "BytesMessage",
    "ClientConnection",
    "CloseCode",
    "CloseConnection",
    "ConnectionOptions",
    "DataEvent",
    "ExtensionOffer",
    "HTTPRequest",
    "HandshakeRejected",
    "Headers",
    "Inbox",
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
    "WebSocketClosedError",
    "WebSocketConnection",
    "WebSocketEvent",
    "WebSocketURI",
    "accept_answer",
    "apply_mask",
    "chunk_of",
    "client_request",
    "encode_frame",
    "exit_code",
    "extensions_for",
    "is_valid_close_code",
    "join_chunks",
    "message_of",
    "parse_uri",
    "unmask",
]

__version__ = "0.1.0"
