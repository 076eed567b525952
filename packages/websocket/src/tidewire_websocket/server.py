"""The server side: receive the client's request, then accept or reject it."""

from __future__ import annotations

import base64
import binascii

import h11

from tidewire import (
    NEED_DATA,
    LocalProtocolError,
    NeedData,
    RemoteProtocolError,
    as_bytes,
    describe,
)

from .connection import State, WebSocketConnection
from .deflate import EXTENSION_NAME, NegotiationError, accept_offer, check_config, format_extension
from .events import (
    AcceptConnection,
    ExtensionOffer,
    Headers,
    HTTPRequest,
    PerMessageDeflate,
    RejectConnection,
    Request,
    WebSocketEvent,
)
from .handshake import (
    HandshakeError,
    accept_key,
    check_headers,
    format_response,
    header_values,
    parse_extensions,
    parse_tokens,
)
from .outgoing import sequence

__all__ = ["ServerConnection"]

# Headers the responses set themselves; extra headers cannot repeat them.
_BODY_HEADERS = ("content-length", "transfer-encoding")
_ACCEPT_RESERVED = ("upgrade", "connection", "sec-websocket-*", *_BODY_HEADERS)


class ServerConnection(WebSocketConnection):
    """The server side of a WebSocket connection.

    The client's opening handshake arrives as a :class:`Request` event; the
    application answers by sending :class:`AcceptConnection` (the state
    becomes ``OPEN``) or :class:`RejectConnection` (``CLOSED``; close TCP
    once the response is written). Frames the client sent right after its
    request wait, in order, until the answer. A plain ``GET`` that asks for
    no upgrade arrives as an :class:`HTTPRequest` instead, to be answered
    with a :class:`RejectConnection` of any status (a health check, a page
    served from the same port).

    A request that breaks RFC 6455 raises
    :class:`~tidewire.RemoteProtocolError` whose ``code`` is an HTTP status
    (400, 405 wrong method, 414 request line too long, 426 wrong
    ``Sec-WebSocket-Version``, 431 head too large, 505 not HTTP/1.1) and
    whose ``offset`` is where the failing head starts (or the line over a
    limit); the matching HTTP error response is
    already in :meth:`~WebSocketConnection.data_to_send`, and the TCP
    connection should be closed after it (see
    :attr:`~WebSocketConnection.should_close_transport`).

    Takes the keyword arguments of :class:`WebSocketConnection`.
    """

    _client = False
    _head_codes = (414, 431)
    _request: Request | HTTPRequest | None = None

    def _handshake_event(self) -> WebSocketEvent | NeedData:
        if self._request is not None or self._state is not State.CONNECTING:
            if self._state is State.CLOSED:
                self._buffer.read_all()  # rejected: nothing more to read
            return NEED_DATA  # waiting for the application's answer
        head = self._head.read(self._buffer)
        if head is None:
            return NEED_DATA
        # h11 parses only a complete head, which the head reader has checked;
        # what follows it (frames) stays in the buffer until the answer.
        at = self._head.start
        connection = self._h11
        connection.receive_data(head)
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            raise RemoteProtocolError(
                f"invalid HTTP request: {exc}", code=exc.error_status_hint, offset=at
            ) from None
        assert isinstance(event, h11.Request)  # a complete head is a request or an error
        try:
            self._request = _check_request(event)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(exc.message, code=exc.code, offset=at) from None
        return self._request

    def _handshake_failed(self, error: RemoteProtocolError) -> None:
        status = error.code if isinstance(error.code, int) and 400 <= error.code < 600 else 400
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Connection", b"close")]
        if status == 426:
            headers.append((b"Sec-WebSocket-Version", b"13"))
        elif status == 405:
            headers.append((b"Allow", b"GET"))
        self._write(format_response(status, tuple(headers), error.message.encode() + b"\n"))

    def _send_handshake(self, event: WebSocketEvent) -> None:
        if not isinstance(event, AcceptConnection | RejectConnection):
            raise LocalProtocolError(f"a server cannot send {type(event).__name__}")
        request = self._request
        if request is None or self._state is not State.CONNECTING:
            raise LocalProtocolError(
                f"cannot send {type(event).__name__}: "
                + ("no request received yet" if request is None else "the request was answered")
            )
        if isinstance(event, AcceptConnection) and isinstance(request, HTTPRequest):
            raise LocalProtocolError(
                "cannot accept a plain HTTP request (no WebSocket upgrade was asked for);"
                " answer it with RejectConnection"
            )
        reserved = _ACCEPT_RESERVED if isinstance(event, AcceptConnection) else _BODY_HEADERS
        try:
            check_headers(sequence(event.headers, object, "headers"), reserved)
        except HandshakeError as exc:
            raise LocalProtocolError(str(exc)) from None
        if isinstance(event, RejectConnection):
            self._reject(event)
        else:
            assert isinstance(request, Request)  # refused above otherwise
            self._accept(event, request)

    def _reject(self, event: RejectConnection) -> None:
        status = event.status_code
        if type(status) is not int or not 200 <= status < 600:
            raise LocalProtocolError(
                f"a rejection needs a status from 200 to 599, not {describe(status)}"
            )
        body = as_bytes(event.body, "the rejection body")
        self._write(format_response(status, tuple(event.headers), body))
        self._state = State.CLOSED

    def _accept(self, event: AcceptConnection, request: Request) -> None:
        subprotocol = event.subprotocol
        if subprotocol is not None and (
            type(subprotocol) is not str or subprotocol not in request.subprotocols
        ):
            raise LocalProtocolError(f"subprotocol {describe(subprotocol)} was not offered")
        configs = sequence(event.extensions, PerMessageDeflate, "extensions")
        if len(configs) > 1:
            raise LocalProtocolError("extensions must be at most one PerMessageDeflate")
        agreed = None
        response: list[tuple[bytes, bytes]] = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_key(_key(request.headers)).encode()),
        ]
        if subprotocol is not None:
            response.append((b"Sec-WebSocket-Protocol", subprotocol.encode()))
        if configs:
            try:
                check_config(configs[0])
            except NegotiationError as exc:
                raise LocalProtocolError(str(exc)) from None
            for offer in request.extensions:
                assert isinstance(offer, ExtensionOffer)
                if offer.name.lower() != EXTENSION_NAME:
                    continue
                try:
                    element, agreed = accept_offer(configs[0], offer)
                except NegotiationError:
                    continue  # try the client's next, fallback offer
                response.append((b"Sec-WebSocket-Extensions", format_extension(element).encode()))
                break
        self._write(format_response(101, (*response, *event.headers)))
        self._subprotocol = subprotocol
        self._open(agreed)


def _key(headers: Headers) -> str:
    return header_values(headers, b"sec-websocket-key")[0].decode("ascii")


def _check_request(event: h11.Request) -> Request | HTTPRequest:
    """Check an HTTP request against RFC 6455 section 4.2.1; raise with an HTTP status.

    A ``GET`` without a body whose ``Upgrade`` header does not name
    websocket is a plain HTTP request, returned as such.
    """
    headers: Headers = tuple((bytes(name), bytes(value)) for name, value in event.headers)
    if event.method != b"GET":
        raise RemoteProtocolError(f"method {event.method.decode()} is not GET", code=405)
    if header_values(headers, b"transfer-encoding") or any(
        value.strip() != b"0" for value in header_values(headers, b"content-length")
    ):
        raise RemoteProtocolError("the request has a body", code=400)

    def tokens(name: bytes) -> list[str]:
        values = b",".join(header_values(headers, name)).decode("latin-1").lower()
        return [item.strip(" \t") for item in values.split(",")]

    host = header_values(headers, b"host")
    target = event.target.decode("latin-1")
    if "websocket" not in tokens(b"upgrade"):
        # HTTP/1.0 has no Host header to require; h11 requires it of 1.1.
        return HTTPRequest(host[0].decode("latin-1") if host else "", target, headers)
    if event.http_version != b"1.1":
        raise RemoteProtocolError(
            f"HTTP/{event.http_version.decode()} cannot upgrade to WebSocket", code=505
        )
    if "upgrade" not in tokens(b"connection"):
        raise RemoteProtocolError("the Connection header does not include upgrade", code=400)
    keys = header_values(headers, b"sec-websocket-key")
    try:
        valid = len(keys) == 1 and len(base64.b64decode(keys[0], validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        raise RemoteProtocolError("missing or invalid Sec-WebSocket-Key", code=400)
    if header_values(headers, b"sec-websocket-version") != [b"13"]:
        raise RemoteProtocolError("Sec-WebSocket-Version must be 13", code=426)
    try:
        subprotocols = parse_tokens(
            header_values(headers, b"sec-websocket-protocol"), "Sec-WebSocket-Protocol"
        )
        extensions = parse_extensions(header_values(headers, b"sec-websocket-extensions"))
    except HandshakeError as exc:
        raise RemoteProtocolError(str(exc), code=400) from None
    return Request(
        host=host[0].decode("latin-1"),
        target=target,
        subprotocols=tuple(subprotocols),
        extensions=tuple(extensions),
        headers=headers,
    )
