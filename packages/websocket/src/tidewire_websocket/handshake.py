"""Opening-handshake helpers (RFC 6455 section 4): keys, header lists, responses."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import NoReturn

from tidewire import ReceiveBuffer, RemoteProtocolError, describe

from .events import ExtensionOffer, Headers

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE_LENGTH",
    "GUID",
    "HandshakeError",
    "HeadReader",
    "accept_key",
    "check_headers",
    "format_response",
    "header_values",
    "make_key",
    "parse_extensions",
    "parse_tokens",
]

DEFAULT_MAX_HEADER_LINE_LENGTH = 8192
"""The default limit, in bytes, on one line of an HTTP head, its line ending included."""

DEFAULT_MAX_HEADERS = 128
"""The default limit on the number of header lines in an HTTP head."""

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed string of RFC 6455 section 1.3, hashed with the client's key."""

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105 - RFC 7230 tchar, not a secret
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_EXTENSION = re.compile(rf"[ \t]*({_TOKEN})[ \t]*")
_PARAM = re.compile(rf";[ \t]*({_TOKEN})[ \t]*(?:=[ \t]*({_TOKEN}|{_QUOTED})[ \t]*)?")
_TOKEN_ONLY = re.compile(_TOKEN)
_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")
_UNESCAPE = re.compile(r"\\(.)")
# A field value (RFC 9110 section 5.5): visible characters and obs-text, with
# spaces and tabs only between them; h11 refuses the rest when sending.
_FIELD_VALUE = re.compile(
    rb"(?:[\x21-\x7e\x80-\xff](?:[\t \x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
)


class HandshakeError(ValueError):
    """A handshake header that breaks RFC 6455; the message says which and why."""


def make_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value that answers ``key``."""
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def header_values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of the header ``name`` (lower case), in order."""
    return [value for key, value in headers if key == name]


def parse_tokens(values: Iterable[bytes], name: str) -> list[str]:
    """Split comma-separated token lists (``#token``), ignoring empty elements.

    Raises:
        HandshakeError: an element is not a token.
    """
    tokens = []
    for value in values:
        for item in value.decode("latin-1").split(","):
            item = item.strip(" \t")
            if not item:
                continue
            if _TOKEN_ONLY.fullmatch(item) is None:
                raise HandshakeError(f"{name}: {item!r} is not a token")
            tokens.append(item)
    return tokens


def parse_extensions(values: Iterable[bytes]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` headers (RFC 6455 section 9.1).

    Quoted parameter values are unquoted; commas and semicolons inside
    quotes are part of the value. Empty list elements are ignored.

    Raises:
        HandshakeError: the header does not follow the grammar, or a quoted
            value is not a token once unquoted.
    """
    offers = []
    for raw in values:
        text = raw.decode("latin-1")
        pos = 0
        while pos < len(text):
            separator = _SEPARATOR.match(text, pos)
            if separator is not None:
                pos = separator.end()
                continue
            element = _EXTENSION.match(text, pos)
            if element is None:
                raise HandshakeError(f"Sec-WebSocket-Extensions: cannot parse {text[pos:]!r}")
            name = element.group(1)
            pos = element.end()
            params: list[tuple[str, str | None]] = []
            while (param := _PARAM.match(text, pos)) is not None:
                value = param.group(2)
                if value is not None and value.startswith('"'):
                    value = _UNESCAPE.sub(r"\1", value[1:-1])
                    if _TOKEN_ONLY.fullmatch(value) is None:
                        raise HandshakeError(
                            f"Sec-WebSocket-Extensions: quoted value {value!r} is not a token"
                        )
                params.append((param.group(1), value))
                pos = param.end()
            if pos < len(text) and text[pos] != ",":
                raise HandshakeError(f"Sec-WebSocket-Extensions: cannot parse {text[pos:]!r}")
            offers.append(ExtensionOffer(name, tuple(params)))
    return offers


def check_headers(headers: Headers, reserved: Iterable[str] = ()) -> None:
    """Raise :class:`HandshakeError` unless every name and value is safe to send.

    ``reserved`` lists lower-case names the caller sets itself (and a
    trailing ``*`` a prefix), which extra headers must not repeat.

    Names must be non-empty tokens; values visible characters, spaces and
    tabs, with no control character (so a header can never smuggle another
    line into the message) and no leading or trailing whitespace.
    """
    for pair in headers:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise HandshakeError(
                f"a header must be a (name, value) pair of bytes, not {describe(pair)}"
            )
        name, value = pair
        if not (isinstance(name, bytes) and isinstance(value, bytes)):
            raise HandshakeError(
                f"header names and values must be bytes, not {describe(name)}, {describe(value)}"
            )
        if _TOKEN_ONLY.fullmatch(name.decode("latin-1")) is None:
            raise HandshakeError(f"invalid header name {name!r}")
        lower = name.decode("latin-1").lower()
        for taken in reserved:
            if lower == taken or (taken.endswith("*") and lower.startswith(taken[:-1])):
                raise HandshakeError(f"header {name!r} is set by the connection itself")
        if _FIELD_VALUE.fullmatch(value) is None:
            raise HandshakeError(f"invalid value {value!r} for header {name!r}")


def format_response(status: int, headers: Headers, body: bytes | None = None) -> bytes:
    """An HTTP/1.1 response: status line, headers, and ``Content-Length`` plus body if given."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "WebSocket"  # a status HTTP does not name; any phrase will do
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [name + b": " + value for name, value in headers]
    if body is not None:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


class HeadReader:
    """Reads HTTP heads (a start line, header lines, a blank line) from a receive buffer.

    Line by line, with limits that hold however the input was split: a line
    too long is refused as soon as it is certain to be, whether it arrived
    whole or a byte at a time, and every refusal names the same offset (the
    start of the offending line) and code either way. A head is only handed
    on once complete, so the HTTP parser behind never sees an unchecked one.

    Lines end at LF, an optional CR before it being part of the line, as in
    h11; the blank line (LF or CRLF) ends the head.

    Args:
        max_line_length: The longest line, in bytes with its line ending,
            or ``None``.
        max_headers: The most header lines (the start line apart), or ``None``.
        max_size: The largest whole head, in bytes, or ``None``.
        codes: The error codes for a start line that is too long and for
            every other limit (a server's 414 and 431), or ``None``.
    """

    __slots__ = ("_codes", "_lines", "_max_headers", "_max_line", "_max_size", "_size", "start")

    def __init__(
        self,
        *,
        max_line_length: int | None,
        max_headers: int | None,
        max_size: int | None,
        codes: tuple[int, int] | None = None,
    ) -> None:
        self._max_line = max_line_length
        self._max_headers = max_headers
        self._max_size = max_size
        self._codes = codes
        self._lines: list[bytes] = []
        self._size = 0
        self.start = 0
        """The stream offset where the head being read (or the last one read) starts."""

    def read(self, buffer: ReceiveBuffer) -> bytes | None:
        """Take the next complete head from ``buffer``, or ``None`` if it is not all there yet.

        The lines read so far are kept (and taken from the buffer), so the
        next call carries on where this one stopped.

        Raises:
            RemoteProtocolError: a line is too long, there are too many
                header lines, or the head is too large.
        """
        lines = self._lines
        while True:
            at = buffer.offset
            if not lines:
                self.start = at
            bound, line_limit = self._bound()
            try:
                line = buffer.read_until(b"\n", max_length=None if bound is None else bound - 1)
            except RemoteProtocolError:
                if line_limit:
                    self._refuse(f"a line of the HTTP head is over {bound} bytes", at, not lines)
                self._refuse(f"the HTTP head is over {self._max_size} bytes", at)
            if line is None:
                return None
            lines.append(line + b"\n")
            self._size += len(line) + 1
            if line in (b"", b"\r"):
                head = b"".join(lines)
                self._lines = []
                self._size = 0
                return head
            if self._max_headers is not None and len(lines) > self._max_headers + 1:
                self._refuse(f"the HTTP head has over {self._max_headers} header lines", at)

    def _bound(self) -> tuple[int | None, bool]:
        """The most bytes the next line may take, and whether the line limit is what binds."""
        room = None if self._max_size is None else self._max_size - self._size
        if room is None or (self._max_line is not None and self._max_line <= room):
            return self._max_line, True
        return room, False

    def _refuse(self, message: str, at: int, start_line: bool = False) -> NoReturn:
        code = None if self._codes is None else self._codes[0 if start_line else 1]
        raise RemoteProtocolError(message, code=code, offset=at)
