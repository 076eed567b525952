"""The events of a WebSocket connection, received and sent.

Most events travel both ways: a :class:`TextMessage` is what
:meth:`~tidewire.Connection.next_event` returns when a text message arrives
and what :meth:`~tidewire.Connection.send` takes to send one. The opening
handshake has its own events: the client sends a :class:`Request`, which the
server receives; the server answers with :class:`AcceptConnection` or
:class:`RejectConnection`, which the client receives.

Every event is an immutable :class:`tidewire.Event` with value equality.
"""

from __future__ import annotations

from tidewire import ConnectionClosed, Event

__all__ = [
    "AcceptConnection",
    "BytesChunk",
    "BytesMessage",
    "CloseConnection",
    "ExtensionOffer",
    "HTTPRequest",
    "Headers",
    "PerMessageDeflate",
    "Ping",
    "Pong",
    "RejectConnection",
    "Request",
    "TextChunk",
    "TextMessage",
    "WebSocketClosed",
    "WebSocketEvent",
]

Headers = tuple[tuple[bytes, bytes], ...]
"""HTTP header fields as ``(name, value)`` pairs of bytes, in order.

Received headers have lower-case names, as :mod:`h11` gives them.
"""


class PerMessageDeflate(Event):
    """The permessage-deflate extension (RFC 7692): what to offer, accept or was agreed.

    A client lists one or more of these in :attr:`Request.extensions`; they
    become offers, in order, the later ones being fallbacks. A server lists
    one in :attr:`AcceptConnection.extensions` to accept the first offer it
    can satisfy with these settings. A client receives the parameters the
    server chose in the :class:`AcceptConnection` event.

    Memory against ratio: zlib's state costs about ``2 ** (bits + 2) +
    2 ** (memory_level + 9)`` bytes to compress and ``2 ** bits`` (plus
    7 KiB) to inflate, per connection. The defaults are those of websockets:
    12-bit windows and ``memory_level`` 5, about 32 KiB to compress and
    11 KiB to inflate, instead of 256 KiB and 39 KiB with zlib's defaults
    (15 bits, level 8), for about 6% more bytes on JSON messages of 0.1 to
    13 KB, up to 20% on large texts.
    Give 15 and 8 for the best ratio. ``None`` for a window means this
    default: a server compresses with 12 bits and asks the client for 12
    bits if the client offered ``client_max_window_bits``; a client asks
    nothing of the server (which may compress with up to 15 bits) and
    compresses with 12 bits unless the server asked for less. A number is
    negotiated as RFC 7692 says.

    zlib cannot compress with an 8-bit window, so a value of 8 is refused
    wherever this side would have to compress with it: a client's
    ``client_max_window_bits`` and a server's ``server_max_window_bits``. A
    server declines an offer that asks it to compress with 8 bits, and a
    client fails the handshake if the server asks it to.

    Attributes:
        server_no_context_takeover: The server resets its compressor after
            each message.
        client_no_context_takeover: The client resets its compressor after
            each message.
        server_max_window_bits: The largest LZ77 window (8 to 15 bits) the
            server may compress with.
        client_max_window_bits: The largest LZ77 window (8 to 15 bits) the
            client may compress with. A client that leaves it ``None``
            still offers the parameter without a value, allowing the server
            to choose it.
        memory_level: zlib's ``memLevel`` (1 to 9) for compressing: the
            size of its hash table. Local, never negotiated.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    memory_level: int = 5


class ExtensionOffer(Event):
    """One element of a ``Sec-WebSocket-Extensions`` header, as a server received it.

    Attributes:
        name: The extension token, such as ``"permessage-deflate"``.
        params: The parameters in order: ``(name, value)``, the value ``None``
            when the parameter had none, unquoted when it was quoted.
    """

    name: str
    params: tuple[tuple[str, str | None], ...] = ()


class Request(Event):
    """The client's opening handshake (RFC 6455 section 4.1).

    Sent by a client to start; received by a server, which then sends
    :class:`AcceptConnection` or :class:`RejectConnection`.

    Attributes:
        host: The ``Host`` header value, such as ``"example.com:8080"``.
        target: The request target, the path and query: ``"/chat?room=1"``.
        subprotocols: Subprotocols offered, in order of preference.
        extensions: When sent, the :class:`PerMessageDeflate` offers;
            when received, every offered extension as an
            :class:`ExtensionOffer`.
        headers: When sent, headers to add (``Origin``, cookies, ...);
            when received, every header of the request.
    """

    host: str
    target: str = "/"
    subprotocols: tuple[str, ...] = ()
    extensions: tuple[PerMessageDeflate | ExtensionOffer, ...] = ()
    headers: Headers = ()


class HTTPRequest(Event):
    """A plain HTTP ``GET`` that asks for no WebSocket upgrade; received by a server.

    A health check, or a browser fetching a page from the WebSocket's own
    port. The server answers with :class:`RejectConnection`, whose status
    may be any, ``200`` with a page included; the TCP connection closes
    after the response. Sending :class:`AcceptConnection` is refused.

    Attributes:
        host: The ``Host`` header value.
        target: The request target, the path and query.
        headers: Every header of the request.
    """

    host: str
    target: str = "/"
    headers: Headers = ()


class AcceptConnection(Event):
    """The server accepts the handshake (``101 Switching Protocols``).

    Sent by a server after it received a :class:`Request`; received by the
    client when the response checked out.

    Attributes:
        subprotocol: The chosen subprotocol, one of those offered, or
            ``None``.
        extensions: When sent, the :class:`PerMessageDeflate` settings
            to accept an offer with (empty: decline compression); when
            received, the parameters the server agreed to.
        headers: When sent, headers to add to the response; when received,
            every header of the response.
    """

    subprotocol: str | None = None
    extensions: tuple[PerMessageDeflate, ...] = ()
    headers: Headers = ()


class RejectConnection(Event):
    """The server refuses the handshake with an ordinary HTTP response.

    Sent by a server after it received a :class:`Request`, or to answer an
    :class:`HTTPRequest`; received by a client when the response was not
    ``101``, once its body is complete.

    Attributes:
        status_code: The HTTP status, 200 to 599 when sent.
        headers: Extra headers when sent (``Content-Length`` is added);
            every header when received.
        body: The response body.
    """

    status_code: int = 400
    headers: Headers = ()
    body: bytes = b""


class TextMessage(Event):
    """A whole text message.

    Received when the connection reassembles messages (the default); sent
    as a single frame.

    Attributes:
        data: The text.
        compress: When sending, whether to compress it if permessage-deflate
            was negotiated. Received messages carry the default.
    """

    data: str
    compress: bool = True


class BytesMessage(Event):
    """A whole binary message.

    Attributes:
        data: The payload.
        compress: When sending, whether to compress it if permessage-deflate
            was negotiated. Received messages carry the default.
    """

    data: bytes
    compress: bool = True


class TextChunk(Event):
    """A piece of a text message.

    Received instead of :class:`TextMessage` when the connection streams
    (``streaming=True``): pieces come as the bytes arrive, so their
    boundaries depend on how the input was split, and the last one has
    ``last=True`` (it may be empty). Sent, each chunk becomes one frame and
    ``last=True`` ends the message.

    Attributes:
        data: This piece of text; pieces never split a character.
        last: Whether this piece ends the message.
        compress: When sending, read on the first chunk of a message only:
            whether to compress the message if permessage-deflate was
            negotiated.
    """

    data: str
    last: bool = False
    compress: bool = True


class BytesChunk(Event):
    """A piece of a binary message; see :class:`TextChunk`.

    Attributes:
        data: This piece of the payload.
        last: Whether this piece ends the message.
        compress: As for :class:`TextChunk`.
    """

    data: bytes
    last: bool = False
    compress: bool = True


class Ping(Event):
    """A ping. Received pings are answered automatically unless ``auto_pong=False``.

    Attributes:
        payload: Up to 125 bytes, echoed in the pong.
    """

    payload: bytes = b""


class Pong(Event):
    """A pong: received in answer to a ping (or unsolicited); sent to answer one.

    Attributes:
        payload: Up to 125 bytes.
        answered: On a received pong, the pings sent with
            :meth:`~tidewire.Connection.send` that it answers, each as
            ``(payload, round_trip)``: a pong answers its own ping and every
            ping sent before it (RFC 6455 section 5.5.3), and the round-trip
            time is in seconds on the connection's ``clock``. Empty without a
            clock, for an unsolicited pong, and on a sent pong (where it is
            ignored).
    """

    payload: bytes = b""
    answered: tuple[tuple[bytes, float], ...] = ()


class CloseConnection(Event):
    """A close frame (RFC 6455 section 5.5.1).

    Received when the peer starts or answers the closing handshake; sent to
    start it (or to answer, with ``auto_close=False``).

    Attributes:
        code: The status code. ``1005`` means the frame carried none (when
            sent, ``1005`` sends an empty close frame).
        reason: Why, at most 123 bytes of UTF-8.
    """

    code: int = 1000
    reason: str = ""


class WebSocketClosed(ConnectionClosed):
    """The peer closed the TCP connection; the last event of every connection.

    Attributes:
        code: The code of the close frame received before, or ``1006`` if
            the connection ended without one (RFC 6455 section 7.1.5).
        reason: The reason of that close frame, or ``""``.
    """

    code: int = 1006
    reason: str = ""


WebSocketEvent = (
    Request
    | HTTPRequest
    | AcceptConnection
    | RejectConnection
    | TextMessage
    | BytesMessage
    | TextChunk
    | BytesChunk
    | Ping
    | Pong
    | CloseConnection
)
"""Any event a WebSocket connection returns (besides :class:`WebSocketClosed`) or sends."""
