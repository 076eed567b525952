"""Opening-handshake helpers (RFC 6455 section 4): keys, header lists, responses."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from http import HTTPStatus

from .events import ExtensionOffer, Headers
from .outgoing import describe

__all__ = [
    "GUID",
    "HandshakeError",
    "accept_key",
    "check_headers",
    "format_response",
    "header_values",
    "make_key",
    "parse_extensions",
    "parse_tokens",
]

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
