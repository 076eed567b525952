"""The decisions every I/O layer makes the same way: URIs, answers, close codes, messages.

An adapter for asyncio, trio or Twisted needs the same rules around the
connection: what a ``ws://`` URI means, what a server answers when the
application has no opinion, which close code ends a handler, what a message
to send may be. They live here, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypedDict
from urllib.parse import urlsplit

from .connection import DEFAULT_MAX_MESSAGE_SIZE as _DEFAULT_MAX_MESSAGE_SIZE
from .deflate import check_config
from .events import (
    AcceptConnection,
    BytesChunk,
    BytesMessage,
    PerMessageDeflate,
    RejectConnection,
    Request,
    TextChunk,
    TextMessage,
)

__all__ = [
    "DEFAULT_MAX_QUEUE",
    "GOING_AWAY",
    "UPGRADE_REQUIRED",
    "AdapterOptions",
    "ConnectionOptions",
    "WebSocketURI",
    "accept_answer",
    "chunk_of",
    "client_request",
    "connection_options",
    "exit_code",
    "extensions_for",
    "join_chunks",
    "message_of",
    "parse_uri",
]

DEFAULT_MAX_QUEUE = 16
"""The default number of received messages an adapter holds unread before it stops parsing."""

GOING_AWAY = 1001
"""The close code of a server shutting down: it closes every connection with it."""

UPGRADE_REQUIRED = RejectConnection(
    426,
    ((b"Upgrade", b"websocket"), (b"Content-Type", b"text/plain; charset=utf-8")),
    b"This is a WebSocket server: connect with a WebSocket client.\n",
)
"""What a server answers a plain HTTP request that nobody else answered."""


class ConnectionOptions(TypedDict, total=False):
    """The options of :class:`~tidewire_websocket.WebSocketConnection` an adapter passes on.

    ``max_message_size``, ``max_frame_size``, ``streaming``,
    ``ping_interval``, ``ping_timeout``, ``close_timeout`` and
    ``open_timeout``, with the connection's meaning and defaults; adapters
    take them as keyword arguments of their ``connect()`` and ``serve()``.
    """

    max_message_size: int | None
    max_frame_size: int | None
    streaming: bool
    ping_interval: float | None
    ping_timeout: float | None
    close_timeout: float | None
    open_timeout: float | None


class AdapterOptions(ConnectionOptions, total=False):
    """The options every adapter's ``connect()`` and ``serve()`` share, beside the transport's.

    The connection's (:class:`ConnectionOptions`: limits, ``streaming``,
    keepalive and timeouts; an adapter's ``max_frame_size`` defaults to its
    ``max_message_size``), ``subprotocols`` (offered, or supported, in order
    of preference), ``compression`` (``"deflate"``, the default; a
    :class:`PerMessageDeflate`; or ``None``: see :func:`extensions_for`) and
    ``max_queue`` (the bound of the adapter's inbox, ``16`` by default).
    """

    subprotocols: Sequence[str]
    compression: str | PerMessageDeflate | None
    max_queue: int


def connection_options(options: dict[str, Any]) -> dict[str, Any]:
    """Take the :class:`ConnectionOptions` out of an adapter's keyword arguments.

    ``max_frame_size`` missing or ``None`` becomes ``max_message_size``
    (whose default is the connection's).
    """
    names = ConnectionOptions.__optional_keys__ & options.keys()
    taken = {name: options.pop(name) for name in names}
    if taken.get("max_frame_size") is None:
        taken["max_frame_size"] = taken.get("max_message_size", _DEFAULT_MAX_MESSAGE_SIZE)
    return taken


class WebSocketURI(NamedTuple):
    """A parsed ``ws://`` or ``wss://`` URI; see :func:`parse_uri`."""

    secure: bool
    """Whether TLS is used (``wss://``)."""
    host: str
    """The host to connect to, without brackets around an IPv6 address."""
    port: int
    """The port as given, else 80 (``ws``) or 443 (``wss``)."""
    host_header: str
    """The ``Host`` header: the URI's authority, as written."""
    target: str
    """The request target, the path (``/`` if empty) and any query."""


def parse_uri(uri: str) -> WebSocketURI:
    """Parse a WebSocket URI (RFC 6455 section 3).

    Raises:
        ValueError: not a ``ws://`` or ``wss://`` URI with a host, a bad
            port, or a user name or password in it (they would not be sent:
            pass an ``Authorization`` header instead).
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URI: {uri!r}")
    if "@" in parts.netloc:
        raise ValueError(
            f"a WebSocket URI cannot carry credentials, which would not be sent: {uri!r};"
            " send an Authorization header instead"
        )
    secure = parts.scheme == "wss"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if secure else 80)  # .port raises ValueError for a bad one
    return WebSocketURI(secure, parts.hostname, port, parts.netloc, target)


def client_request(
    uri: str,
    subprotocols: Sequence[str] = (),
    extra_headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    compression: str | PerMessageDeflate | None = "deflate",
) -> tuple[WebSocketURI, Request]:
    """The parsed ``uri`` and the :class:`Request` a client sends to open it.

    ``extra_headers`` are ``(name, value)`` pairs, ``str`` (UTF-8) or bytes;
    ``compression`` is as for :func:`extensions_for`.

    Raises:
        ValueError: as :func:`parse_uri` and :func:`extensions_for`.
    """
    target = parse_uri(uri)
    headers = tuple((_bytes(name), _bytes(value)) for name, value in extra_headers)
    extensions = extensions_for(compression)
    request = Request(target.host_header, target.target, tuple(subprotocols), extensions, headers)
    return target, request


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def extensions_for(compression: str | PerMessageDeflate | None) -> tuple[PerMessageDeflate, ...]:
    """The extensions to offer or accept for an adapter's ``compression`` option.

    ``"deflate"`` means permessage-deflate with the core's defaults, a
    :class:`PerMessageDeflate` these settings, ``None`` no compression.

    Raises:
        ValueError: any other value, or settings the core would refuse (now,
            rather than in every handshake).
    """
    if compression is None:
        return ()
    if isinstance(compression, PerMessageDeflate):
        check_config(compression)
        return (compression,)
    if compression != "deflate":
        raise ValueError(
            f'compression must be "deflate", a PerMessageDeflate or None, not {compression!r}'
        )
    return (PerMessageDeflate(),)


def accept_answer(
    request: Request,
    answer: AcceptConnection | RejectConnection | None,
    subprotocols: Sequence[str],
    extensions: tuple[PerMessageDeflate, ...],
) -> AcceptConnection | RejectConnection:
    """The server's answer to ``request``, given the application's ``answer`` (or ``None``).

    ``None`` accepts with the first of ``subprotocols`` (the server's, in
    its order of preference) that the client offered, and ``extensions``.
    An :class:`AcceptConnection` without extensions gets ``extensions``;
    any other answer is kept.
    """
    if answer is None:
        chosen = next((name for name in subprotocols if name in request.subprotocols), None)
        return AcceptConnection(chosen, extensions)
    if isinstance(answer, AcceptConnection) and not answer.extensions and extensions:
        return AcceptConnection(answer.subprotocol, extensions, answer.headers)
    return answer


def exit_code(error: BaseException | None) -> int:
    """The close code when a handler or an ``async with`` block ends: 1000, or 1011 on an error."""
    return 1000 if error is None else 1011


def message_of(message: object) -> TextMessage | BytesMessage | None:
    """The event for a message to send: ``str`` is text, bytes-like is binary.

    Returns ``None`` for an iterable or async iterable of pieces, to be sent
    as a fragmented message (see :func:`chunk_of`).

    Raises:
        TypeError: anything else; a mapping is refused explicitly, since
            iterating over it would send its keys.
    """
    if isinstance(message, str):
        return TextMessage(message)
    if isinstance(message, bytes | bytearray | memoryview):
        return BytesMessage(bytes(message))
    if isinstance(message, Mapping):
        raise TypeError(
            f"cannot send a mapping ({type(message).__name__}) as a message:"
            " iterating over it gives its keys; send str, bytes-like,"
            " or an iterable of them"
        )
    if isinstance(message, AsyncIterable | Iterable):
        return None
    raise TypeError(
        "a message is str, bytes-like, or an iterable or async iterable of them,"
        f" not {type(message).__name__}"
    )


def chunk_of(piece: object, first: TextChunk | BytesChunk | None) -> TextChunk | BytesChunk:
    """The chunk that sends ``piece`` of a fragmented message; ``first`` is the message's first.

    A fragmented message is all ``str`` or all bytes-like; it ends with an
    empty chunk whose ``last`` is true (``type(first)("" or b"", True)``).

    Raises:
        TypeError: ``piece`` is neither, or not of the first piece's kind.
    """
    chunk: TextChunk | BytesChunk
    if isinstance(piece, str):
        chunk = TextChunk(piece)
    elif isinstance(piece, bytes | bytearray | memoryview):
        chunk = BytesChunk(bytes(piece))
    else:
        raise TypeError(
            f"a piece of a fragmented message is str or bytes-like, not {type(piece).__name__}"
        )
    if first is not None and type(chunk) is not type(first):
        raise TypeError("a fragmented message must be all str or all bytes-like")
    return chunk


def join_chunks(chunks: Sequence[TextChunk | BytesChunk]) -> str | bytes:
    """The message that received ``chunks`` (all of one message, in order) make."""
    if type(chunks[0]) is TextChunk:
        return "".join(chunk.data for chunk in chunks)  # type: ignore[misc]
    return b"".join(chunk.data for chunk in chunks)  # type: ignore[misc]
