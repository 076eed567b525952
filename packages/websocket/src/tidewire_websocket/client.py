"""The client side: send the request, check the server's answer."""

from __future__ import annotations

import h11

from tidewire import (
    NEED_DATA,
    LocalProtocolError,
    NeedData,
    ReceiveState,
    RemoteProtocolError,
    describe,
)

from .connection import DEFAULT_MAX_MESSAGE_SIZE, State, WebSocketConnection
from .deflate import (
    EXTENSION_NAME,
    NegotiationError,
    check_config,
    format_extension,
    offer_for,
    response_matches,
)
from .events import (
    AcceptConnection,
    Headers,
    PerMessageDeflate,
    RejectConnection,
    Request,
    WebSocketEvent,
)
from .handshake import (
    HandshakeError,
    accept_key,
    check_headers,
    header_values,
    make_key,
    parse_extensions,
    parse_tokens,
)
from .outgoing import sequence

__all__ = ["ClientConnection"]

# Headers the request sets itself; extra headers cannot repeat them.
_RESERVED = (
    "host",
    "upgrade",
    "connection",
    "sec-websocket-*",
    "content-length",
    "transfer-encoding",
)


class ClientConnection(WebSocketConnection):
    """The client side of a WebSocket connection.

    Send a :class:`Request` first; the server's answer arrives as
    :class:`AcceptConnection` (the state becomes ``OPEN``; frames that came
    in the same read follow in order) or :class:`RejectConnection` with the
    status, headers and whole body (the state becomes ``CLOSED``). The body
    of a rejection is limited to ``max_message_size`` (1 MiB if that is
    ``None``).

    A ``101`` response that breaks RFC 6455 section 4.1 (wrong
    ``Sec-WebSocket-Accept``, missing ``Upgrade`` or ``Connection``, a
    subprotocol or extension that was not offered) raises
    :class:`~tidewire.RemoteProtocolError` with ``code`` ``None`` and the
    offset where that response starts (a response head over a limit: where
    the offending line starts): the WebSocket connection never opened, so no
    close frame is owed; close the TCP connection.

    Takes the keyword arguments of :class:`WebSocketConnection`.
    """

    _client = True
    _sent: Request | None = None
    _expected_accept = ""
    _status = 0
    _response_headers: Headers = ()
    _body: bytearray | None = None
    _body_at = 0  # the stream offset where a rejection's body starts
    _told_eof = False

    def _send_handshake(self, event: WebSocketEvent) -> None:
        if not isinstance(event, Request):
            raise LocalProtocolError(f"a client cannot send {type(event).__name__}")
        if self._sent is not None:
            raise LocalProtocolError("the request was already sent")
        host, target = event.host, event.target
        if not (isinstance(host, str) and host and host.isprintable()):
            raise LocalProtocolError(f"invalid host {describe(host)}")
        if not (isinstance(target, str) and target.startswith("/") and target.isascii()):
            raise LocalProtocolError(f"the target must be an ASCII path, not {describe(target)}")
        if not target.isprintable() or " " in target:
            raise LocalProtocolError(f"the target must be an ASCII path, not {describe(target)}")
        subprotocols = sequence(event.subprotocols, str, "subprotocols")
        extensions = sequence(event.extensions, PerMessageDeflate, "a client's extensions")
        extra = sequence(event.headers, object, "headers")
        try:
            check_headers(((b"Host", host.encode()),))
            check_headers(extra, _RESERVED)
            protocols = ", ".join(subprotocols)
            if len(parse_tokens([protocols.encode()], "subprotocol")) != len(subprotocols):
                raise HandshakeError("each subprotocol must be one non-empty token")
            for config in extensions:
                check_config(config)
        except (HandshakeError, NegotiationError, UnicodeEncodeError) as exc:
            raise LocalProtocolError(str(exc)) from None
        key = make_key()
        headers = [
            (b"Host", host.encode()),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key.encode()),
            (b"Sec-WebSocket-Version", b"13"),
        ]
        if subprotocols:
            headers.append((b"Sec-WebSocket-Protocol", protocols.encode()))
        if extensions:
            offers = ", ".join(format_extension(offer_for(c)) for c in extensions)
            headers.append((b"Sec-WebSocket-Extensions", offers.encode()))
        headers += extra
        connection = self._h11
        data = connection.send(h11.Request(method="GET", target=target, headers=headers))
        assert data is not None
        self._write(data)
        connection.send(h11.EndOfMessage())
        self._sent = event
        self._expected_accept = accept_key(key)

    def _handshake_event(self) -> WebSocketEvent | NeedData:
        if self._sent is None or self._state is not State.CONNECTING:
            if self._state is State.CLOSED:
                self._buffer.read_all()  # rejected: nothing more to read
            return NEED_DATA
        if self._body is None:
            accepted = self._read_heads()
            if accepted is not None:
                return accepted
            if self._body is None:
                return NEED_DATA
        return self._read_body()

    def _read_heads(self) -> AcceptConnection | None:
        """Parse response heads up to the final one: a 101 accepts, another status has a body.

        h11 parses only complete heads, which the head reader has checked;
        what follows a 101 (frames) stays in the buffer.
        """
        connection = self._h11
        while True:
            head = self._head.read(self._buffer)
            if head is None:
                return None
            at = self._head.start
            connection.receive_data(head)
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(f"invalid HTTP response: {exc}", offset=at) from None
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    return self._accepted(event, at)
                continue  # other 1xx responses are interim: the real answer follows
            assert isinstance(event, h11.Response)  # a complete head is a response or an error
            self._status = event.status_code
            self._response_headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
            self._body = bytearray()
            self._body_at = self._buffer.offset
            return None

    def _read_body(self) -> RejectConnection | NeedData:
        """Read the body of a rejection; errors point at where the body starts."""
        connection = self._h11
        body = self._body
        assert body is not None
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as exc:
                raise RemoteProtocolError(
                    f"invalid HTTP response: {exc}", offset=self._body_at
                ) from None
            if event is h11.NEED_DATA:
                data = self._buffer.read_all()
                if data:
                    connection.receive_data(data)
                elif self.receive_state is ReceiveState.EOF and not self._told_eof:
                    # A rejection body may end with the connection; after
                    # this, h11 either completes the response or raises.
                    self._told_eof = True
                    connection.receive_data(b"")
                else:
                    return NEED_DATA
            elif isinstance(event, h11.Data):
                body += event.data
                limit = self._max_message or DEFAULT_MAX_MESSAGE_SIZE
                if len(body) > limit:
                    raise RemoteProtocolError(
                        f"the rejection body is longer than {limit} bytes",
                        code=1009,
                        offset=self._body_at,
                    )
            else:
                # EndOfMessage; h11.ConnectionClosed cannot come before it.
                self._state = State.CLOSED
                return RejectConnection(self._status, self._response_headers, bytes(body))

    def _accepted(self, event: h11.InformationalResponse, at: int) -> AcceptConnection:
        headers: Headers = tuple((bytes(k), bytes(v)) for k, v in event.headers)
        request = self._sent
        assert request is not None
        try:
            agreed = self._check_response(headers, request)
        except (HandshakeError, NegotiationError) as exc:
            raise RemoteProtocolError(f"invalid handshake response: {exc}", offset=at) from None
        protocols = header_values(headers, b"sec-websocket-protocol")
        self._subprotocol = protocols[0].decode("latin-1").strip() if protocols else None
        self._open(agreed)
        return AcceptConnection(self._subprotocol, self._agreed, headers)

    def _check_response(self, headers: Headers, request: Request) -> PerMessageDeflate | None:
        def tokens(name: bytes) -> list[str]:
            values = b",".join(header_values(headers, name)).decode("latin-1").lower()
            return [item.strip(" \t") for item in values.split(",")]

        if "websocket" not in tokens(b"upgrade"):
            raise HandshakeError("the Upgrade header does not name websocket")
        if "upgrade" not in tokens(b"connection"):
            raise HandshakeError("the Connection header does not include upgrade")
        if header_values(headers, b"sec-websocket-accept") != [self._expected_accept.encode()]:
            raise HandshakeError("missing or wrong Sec-WebSocket-Accept")
        protocols = parse_tokens(
            header_values(headers, b"sec-websocket-protocol"), "Sec-WebSocket-Protocol"
        )
        if len(protocols) > 1 or (protocols and protocols[0] not in request.subprotocols):
            raise HandshakeError(f"the server chose subprotocols {protocols} that were not offered")
        elements = parse_extensions(header_values(headers, b"sec-websocket-extensions"))
        if not elements:
            return None
        offers = [c for c in request.extensions if isinstance(c, PerMessageDeflate)]
        if len(elements) > 1 or elements[0].name.lower() != EXTENSION_NAME or not offers:
            raise HandshakeError(
                f"the server accepted extensions that were not offered: {elements}"
            )
        return response_matches(offers, elements[0])
