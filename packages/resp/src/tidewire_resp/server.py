"""The server side of a Redis connection: commands in, replies out."""

from __future__ import annotations

from typing import Any

from tidewire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    LocalProtocolError,
    NeedData,
    ReceiveBuffer,
    RemoteProtocolError,
    describe,
)
from tidewire.incremental import IncrementalParser

from .encoding import encode_value
from .events import Command, Push, Reply

__all__ = ["ServerConnection", "split_inline"]

_MiB = 1024 * 1024
_SPACE = frozenset(b" \t\n\r\v\f")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _error(message: str, offset: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"Protocol error: {message} (at byte {offset})", offset=offset)


def split_inline(line: bytes) -> list[bytes] | None:
    r"""Split an inline command the way Redis does (``sdssplitargs``).

    Arguments are separated by white space; ``"..."`` quotes allow the
    escapes ``\n \r \t \b \a \xHH`` and ``\<any>``; ``'...'`` quotes
    allow ``\'``. A closing quote must be followed by white space or the
    end. A NUL byte outside quotes ends the line, as in Redis.

    Returns:
        The arguments (possibly none), or ``None`` for unbalanced quotes.
    """
    args: list[bytes] = []
    n = len(line)
    i = 0
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n or line[i] == 0:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            c = line[i] if i < n else 0
            if in_double:
                if (
                    c == 92
                    and i + 3 < n
                    and line[i + 1] == 120
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                elif i >= n:
                    return None
                else:
                    current.append(c)
            elif in_single:
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                elif i >= n:
                    return None
                else:
                    current.append(c)
            elif c in _SPACE or c == 0:
                break
            elif c == 34:
                in_double = True
            elif c == 39:
                in_single = True
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


class _CommandParser(IncrementalParser):
    """Parses client commands (multibulk and inline) out of a receive buffer."""

    def __init__(
        self,
        buffer: ReceiveBuffer,
        max_inline_length: int,
        max_bulk_length: int,
        max_arguments: int,
        max_buffer_size: int | None,
    ) -> None:
        super().__init__(buffer, max_buffer_size)
        self._max_inline = max_inline_length
        self._max_bulk = max_bulk_length
        self._max_args = max_arguments
        self._args: list[bytes] = []
        self._remaining = 0

    @property
    def idle(self) -> bool:
        return not (self._rest or self._acc or self._remaining)

    def _too_big(self, start: int) -> RemoteProtocolError:
        return _error(f"a command spans more than the limit of {self._max_size} bytes", start)

    def _no_crlf(self, offset: int) -> RemoteProtocolError:
        return _error("a bulk argument is not followed by CRLF", offset)

    def _grow_line(self, acc: bytearray, new: bytes) -> None:
        acc += new
        if self._too_long(acc, 0):
            raise _error(self._too_big_line(acc[0]), self._offset)

    def _too_long(self, data: Any, pos: int) -> bool:
        """Whether the partial line data[pos:] is already too long to be valid."""
        if self._remaining or data[pos] == 42:
            # A final CR may become the line's CRLF, which is not counted.
            return bool(len(data) - pos - (data[-1] == 13) > self._max_inline)
        return bool(len(data) - pos > self._max_inline)

    def _too_big_line(self, first: int) -> str:
        if self._remaining:
            return "too big bulk count string"
        return "too big mbulk count string" if first == 42 else "too big inline request"

    def _parse(self, data: bytes) -> None:
        out = self.ready.append
        base = self._offset
        n = len(data)
        pos = 0
        try:
            while pos < n:
                if not self._remaining:
                    self._start = base + pos
                    if data[pos] != 42:  # an inline command
                        eol = data.find(b"\n", pos)
                        if eol < 0:
                            if self._too_long(data, pos):
                                raise _error("too big inline request", base + pos)
                            self._acc = bytearray(data[pos:])
                            break
                        if eol - pos > self._max_inline:
                            raise _error("too big inline request", base + pos)
                        line = data[pos : eol - 1 if eol > pos and data[eol - 1] == 13 else eol]
                        args = split_inline(line)
                        if args is None:
                            raise _error("unbalanced quotes in request", base + pos)
                        pos = eol + 1
                        if args:
                            out(Command(tuple(args)))
                        continue
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    if data.find(b"\n", pos) >= 0:
                        raise _error("a header line ends in LF without CR", base + pos)
                    if self._too_long(data, pos):
                        raise _error(self._too_big_line(data[pos]), base + pos)
                    self._acc = bytearray(data[pos:])
                    break
                if eol - pos > self._max_inline:
                    raise _error(self._too_big_line(data[pos]), base + pos)
                s = data[pos + 1 : eol]
                if not self._remaining:
                    if s.isdigit() and (s[0] != 48 or len(s) == 1) and len(s) <= 18:
                        count = int(s)
                    elif s[:1] == b"-" and s[1:].isdigit() and s[1] != 48:
                        count = 0  # Redis ignores a negative count, as an empty command
                    else:
                        raise _error("invalid multibulk length", base + pos)
                    if count > self._max_args:
                        raise _error("invalid multibulk length", base + pos)
                    pos = eol + 2
                    self._remaining = count
                    self._args = []
                    continue
                if data[pos] != 36:
                    raise _error(f"expected '$', got {chr(data[pos])!r}", base + pos)
                if not (s.isdigit() and (s[0] != 48 or len(s) == 1) and len(s) <= 18):
                    raise _error("invalid bulk length", base + pos)
                length = int(s)
                if length > self._max_bulk:
                    raise _error("invalid bulk length", base + pos)
                argument = self._payload(data, pos, eol, length)
                if argument is None:
                    break
                self._args.append(argument)
                pos = eol + 4 + length
                self._remaining -= 1
                if not self._remaining:
                    out(Command(tuple(self._args)))
                    self._args = []
        finally:
            self._offset = base + pos


class ServerConnection(Connection[Command, Reply | Push]):
    r"""The server side of a Redis connection, for servers, proxies and test doubles.

    Receives :class:`~tidewire_resp.Command` events (every argument as
    ``bytes``), parsed from multibulk requests (``*2\r\n$4\r\nECHO...``)
    or inline commands (``PING\r\n``, split as Redis splits them). Like
    Redis, it ignores empty inline lines and multibulk counts of zero or
    less; unlike Redis it also checks the CRLF after each bulk argument.
    Sends :class:`~tidewire_resp.Reply` and :class:`~tidewire_resp.Push`
    events, encoded for the current :attr:`protocol` (call
    :meth:`set_protocol` when you answer ``HELLO``).

    On bad input, next_event raises :class:`~tidewire.RemoteProtocolError`
    and ``-ERR Protocol error: ...`` is already queued in
    :meth:`~tidewire.Connection.data_to_send`, as Redis answers before closing.

    Args:
        protocol: The protocol replies are encoded in (2 or 3).
        max_inline_length: The longest inline command and the longest
            multibulk header line without a CRLF (Redis: 64 KiB).
        max_bulk_length: The longest argument (Redis's
            ``proto-max-bulk-len``, 512 MiB).
        max_arguments: The most arguments in one command.
        max_buffer_size: The most bytes one command may span; ``None`` for
            no limit (Redis's ``client-query-buffer-limit`` is 1 GiB).
    """

    def __init__(
        self,
        *,
        protocol: int = 2,
        max_inline_length: int = 64 * 1024,
        max_bulk_length: int = 512 * _MiB,
        max_arguments: int = 2**31 - 1,
        max_buffer_size: int | None = 1024 * _MiB,
    ) -> None:
        super().__init__(max_buffer_size=None)
        self._protocol = 2
        self.set_protocol(protocol)
        self._parser = _CommandParser(
            self._buffer, max_inline_length, max_bulk_length, max_arguments, max_buffer_size
        )

    @property
    def protocol(self) -> int:
        """Which protocol replies are encoded in, 2 or 3."""
        return self._protocol

    def set_protocol(self, protocol: int) -> None:
        """Encode the following replies in RESP ``protocol`` (2 or 3).

        Raises:
            LocalProtocolError: ``protocol`` is not 2 or 3.
        """
        if protocol not in (2, 3):
            raise LocalProtocolError(f"protocol must be 2 or 3, not {describe(protocol)}")
        self._protocol = protocol

    def _next_event(self) -> Command | NeedData:
        parser = self._parser
        if not parser.ready and not parser.fill():
            return NEED_DATA
        item = parser.ready.popleft()
        if type(item) is RemoteProtocolError:
            raise item
        return item  # type: ignore[no-any-return]

    def _send(self, event: Reply | Push) -> None:
        if type(event) is Reply:
            parts = encode_value(event.value, self._protocol, event.attributes)
        elif type(event) is Push:
            parts = encode_value(event, self._protocol)
        else:
            raise LocalProtocolError(
                f"a ServerConnection sends Reply or Push events, not {describe(event)}"
            )
        self._write(b"".join(parts))

    def _end_of_stream(self) -> ConnectionClosed:
        if not self._parser.idle:
            # The end of the stream, not how far the parser happened to read.
            end = self._buffer.offset + len(self._buffer)
            raise RemoteProtocolError(
                f"the peer closed the connection inside a command at byte {end}", offset=end
            )
        return ConnectionClosed()

    def _on_remote_error(self, error: RemoteProtocolError) -> None:
        text = error.message.replace("\r", " ").replace("\n", " ")
        self._write(b"-ERR " + text.encode() + b"\r\n")
