"""The incremental RESP2/RESP3 reply parser shared by the client-side connections.

It pulls bytes from a connection's :class:`tidewire.ReceiveBuffer` and parses
every complete value it holds in one pass, queueing them. Incomplete input
costs nothing to resume:

- the children of an unfinished aggregate are kept on an explicit stack of
  partially built aggregates (no recursion, and never re-parsed);
- an unfinished blob waits in the receive buffer until all its bytes are
  there (no copy per chunk);
- an unfinished line is accumulated, and only new bytes are searched.

So parsing is linear in the input however it is split.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tidewire import ReceiveBuffer, RemoteProtocolError
from tidewire.incremental import IncrementalParser

from .events import Push
from .values import (
    NAN,
    Attributed,
    BigNumber,
    ErrorReply,
    MapPairs,
    SetMembers,
    SimpleString,
    Verbatim,
)

__all__ = ["Limits", "ReplyParser"]

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_SIGNED = re.compile(rb"[+-]?(?:0|[1-9][0-9]*)")
_DOUBLE = re.compile(rb"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|nan)", re.I)
_DIGITS_AT_ONCE = 4000  # below CPython's default int/str conversion limit (4300)
_LARGE_BLOB = 64 * 1024  # blobs this long take the path with one copy fewer
_MAX_DIGITS = 18  # lengths and counts with more digits exceed every limit
_TOO_LONG = 10**_MAX_DIGITS

# Frame kinds of the aggregate stack.
_ARRAY, _MAP, _SET, _PUSH, _ATTR, _STREAM = range(6)
_BLOBS = frozenset(b"$=!;")
_RUNS = frozenset(b"+-:$")
_RUN_WINDOW = 64 * 1024  # the widest window a run of scalars is split in
# Integers of up to 18 digits (all within 64 bits), a line each, written as
# JSON writes them (no plus sign): a run of them converts as one JSON array.
_INTEGER_RUN = re.compile(rb"(?::-?(?:0|[1-9][0-9]{0,17})\r\n)+")
_INTEGER_LINE = 20  # the longest line _INTEGER_RUN takes, type byte included
_SIMPLE_RUN_LINE = 1024 * 1024  # the longest simple string a run of them takes
_SAME_BLOB_MAX = 8 * 1024  # longer blobs gain nothing from being split out in batches
_SAME_BLOB_FIRST = 8  # how many blobs a batch of top-level ones tries first
_KINDS = {42: _ARRAY, 37: _MAP, 126: _SET, 62: _PUSH, 124: _ATTR}
# Keys whose hashes a peer chooses: CPython does not randomise the hash of
# an int or a float (every multiple of 2**61 - 1 hashes to 0), so a dict or
# set of thousands of them would take quadratic time to build. A map or set
# holding one is kept as MapPairs or SetMembers instead, in linear time.
# (64-bit integers are safe: at most 9 of them share a hash. bytes and str
# hashes are randomised; Verbatim and ErrorReply hash their bytes.)
_UNSAFE_KEYS = frozenset((BigNumber, float))
_NAMES = {_ARRAY: "array", _MAP: "map", _SET: "set", _PUSH: "push", _ATTR: "attribute"}

# Frequent simple strings are shared objects: no allocation, no checks.
_SIMPLE = {s: SimpleString(s) for s in (b"OK", b"PONG", b"QUEUED", b"RESET")}
# Whole lines a run of scalars looks up first (a value of None would not do).
_COMMON_LINES: dict[bytes, Any] = {b"+" + s: v for s, v in _SIMPLE.items()}
_COMMON_LINES.update({b":%d" % i: i for i in range(10)})

_TYPE_NAMES = {
    43: "simple string",
    45: "simple error",
    58: "integer",
    36: "blob string",
    42: "array",
    95: "null",
    44: "double",
    35: "boolean",
    40: "big number",
    33: "blob error",
    61: "verbatim string",
    37: "map",
    126: "set",
    124: "attribute",
    62: "push",
    59: "streamed string chunk",
    46: "end of streamed aggregate",
}


class Limits:
    """The limits a parser enforces; each exceeded one is a RemoteProtocolError.

    Args:
        max_bulk_length: The longest blob (bulk, verbatim, blob error, or a
            streamed string in total), in bytes.
        max_aggregate_length: The most elements of one aggregate (pairs, for
            maps and attributes); checked on the declared count, and as
            elements arrive for streamed aggregates.
        max_depth: The deepest nesting of aggregates (attributes included).
        max_line_length: The longest line (a simple string, a number, a
            header), in bytes, not counting the type byte and the CRLF.
        max_buffer_size: The most bytes one top-level value (a reply or a
            command), including the attributes before it, may span; so also
            the most bytes an incomplete one keeps buffered. ``None`` for no
            limit.
    """

    __slots__ = (
        "max_aggregate_length",
        "max_buffer_size",
        "max_bulk_length",
        "max_depth",
        "max_line_length",
    )

    def __init__(
        self,
        *,
        max_bulk_length: int = 512 * 1024 * 1024,
        max_aggregate_length: int = 2**32 - 1,
        max_depth: int = 1024,
        max_line_length: int = 64 * 1024,
        max_buffer_size: int | None = 1024 * 1024 * 1024,
    ) -> None:
        self.max_bulk_length = max_bulk_length
        self.max_aggregate_length = max_aggregate_length
        self.max_depth = max_depth
        self.max_line_length = max_line_length
        self.max_buffer_size = max_buffer_size


def parse_big_int(digits: bytes) -> int:
    """``int(digits)`` for a validated ``[+-]digits`` string of any length."""
    if len(digits) <= _DIGITS_AT_ONCE:
        return int(digits)
    sign = -1 if digits[:1] == b"-" else 1
    body = digits.lstrip(b"+-")
    value = 0
    # Chunks keep each conversion under the interpreter's digit limit.
    for start in range(0, len(body), _DIGITS_AT_ONCE):
        chunk = body[start : start + _DIGITS_AT_ONCE]
        value = value * 10 ** len(chunk) + int(chunk)
    return sign * value


def _fast_length(header: bytes, max_line: int, max_bulk: int) -> int:
    """The length a ``$<digits>`` header line declares, or -1 for the general path."""
    digits = header[1:]
    if (
        header[:1] != b"$"
        or len(header) > max_line
        or not digits.isdigit()
        or (digits[0] == 48 and len(digits) > 1)
        or len(digits) > _MAX_DIGITS
    ):
        return -1
    length = int(digits)
    return length if length <= max_bulk else -1


def _same_blobs(
    data: bytes, pos: int, n: int, limit: int, max_line: int, max_bulk: int
) -> tuple[list[bytes], int] | None:
    """Up to ``limit`` complete blob strings of one length at ``data[pos:n]``, and their end.

    All or nothing, at C speed: with ``h`` the first header and ``L`` its
    length, the bytes between the first header's CRLF and the last
    payload's are split on ``CRLF h CRLF``. Exactly ``count`` pieces, none
    shorter than ``L``, in a region of ``count * L`` bytes plus the
    separators, means every piece is exactly ``L`` long, so the region is
    ``count`` well-formed blobs back to back (whatever their payloads hold).
    Anything else, valid or not, returns None for the per-line path to see.
    """
    eol = data.find(b"\r\n", pos, pos + 22)  # a longer header is not a fast one
    if eol < 0:
        return None
    header = data[pos:eol]
    length = _fast_length(header, max_line, max_bulk)
    size = eol - pos + length + 4  # one whole blob
    count = min(limit, (n - pos) // size)
    if length < 0 or length > _SAME_BLOB_MAX or count < 2:
        return None
    end = pos + count * size
    pieces = data[eol + 2 : end - 2].split(b"\r\n" + header + b"\r\n")
    if (
        len(pieces) != count
        or min(map(len, pieces)) != length
        or data[end - 2] != 13
        or data[end - 1] != 10
    ):
        return None
    return pieces, end


def _error(message: str, offset: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"{message} at byte {offset}", offset=offset)


def _build(frame: list[Any], offset: int) -> Any:
    """The value of a completed aggregate frame."""
    kind = frame[0]
    items = frame[2]
    if kind == _ARRAY:
        return items
    if kind == _SET:
        if not _UNSAFE_KEYS.isdisjoint(map(type, items)):
            return SetMembers(items)
        try:
            members = set(items)
        except TypeError:
            return SetMembers(items)
        return members if len(members) == len(items) else SetMembers(items)
    if len(items) % 2:
        raise _error("a streamed map ended after a key with no value", offset)
    return _pairs(items)


def _pairs(items: list[Any]) -> Any:
    keys = items[::2]
    values = items[1::2]
    if not _UNSAFE_KEYS.isdisjoint(map(type, keys)):
        return MapPairs(zip(keys, values, strict=True))
    try:
        mapping = dict(zip(keys, values, strict=True))
    except TypeError:
        return MapPairs(zip(keys, values, strict=True))
    if len(mapping) == len(keys):
        return mapping
    return MapPairs(zip(keys, values, strict=True))


def _merge(first: Any, second: Any) -> Any:
    """Merge consecutive attribute maps; later keys win where a dict can say so."""
    if first is None:
        return second
    if type(first) is dict and type(second) is dict:
        return {**first, **second}
    return MapPairs([*_items(first), *_items(second)])


def _items(mapping: Any) -> list[tuple[Any, Any]]:
    return list(mapping.items()) if type(mapping) is dict else list(mapping)


class ReplyParser(IncrementalParser):
    """Parses RESP2/RESP3 values out of a receive buffer into a queue.

    Call :meth:`fill` when the queue is empty; it returns ``True`` when it
    queued something. Queued items are plain values, :class:`Attributed`
    (a top-level value with attributes), :class:`Push` events, or a
    :class:`RemoteProtocolError` to raise once the values before it are out.
    """

    __slots__ = ("_attrs", "_limits", "_simple_run", "_stack")

    def __init__(self, buffer: ReceiveBuffer, limits: Limits) -> None:
        super().__init__(buffer, limits.max_buffer_size)
        self._limits = limits
        self._stack: list[list[Any]] = []
        self._attrs: Any = None
        # A run of simple strings, each within the line limit (no CR or LF
        # inside). A longer one, within a larger limit, just ends the run.
        longest = max(0, min(limits.max_line_length, _SIMPLE_RUN_LINE))
        self._simple_run = re.compile(rb"(?:\+[^\r\n]{0,%d}\r\n)+" % longest)

    @property
    def idle(self) -> bool:
        """Whether no value is partly received (end of file here is clean)."""
        return not (self._rest or self._acc or self._stack or self._attrs is not None)

    def _too_big(self, start: int) -> RemoteProtocolError:
        limit = self._limits.max_buffer_size
        return _error(f"a reply spans more than the limit of {limit} bytes", start)

    def _fill(self, visible: int) -> bool:
        rest = self._rest
        need = self._need
        if (
            need >= _LARGE_BLOB
            and need <= len(rest) + visible
            and rest[0] == 36
            and not self._stack
            and self._attrs is None
        ):
            missing = need - 2 - len(rest)
            if missing >= 0:
                return self._large_blob(rest, self._buffer, need, missing)
        return super()._fill(visible)

    # -- internals ----------------------------------------------------------

    def _large_blob(self, rest: bytes, buffer: ReceiveBuffer, need: int, missing: int) -> bool:
        """Complete a large top-level blob string that has all arrived.

        Its bytes are taken from the buffer directly, not joined to the
        partial item first: one copy of the payload fewer than the general path.
        """
        body = rest.find(b"\r\n") + 2
        payload = buffer.read_at_most(missing)  # all there: fill() checked
        if len(rest) > body:
            payload = rest[body:] + payload
        end = buffer.read_at_most(2)
        start = self._offset
        self._rest = b""
        self._need = 0
        self._offset = start + need
        if end != b"\r\n":
            raise _error("a blob is not followed by CRLF", start + need - 2)
        self.ready.append(payload)
        return True

    def _grow_line(self, acc: bytearray, new: bytes) -> None:
        """Grow a partial line by bytes holding no LF, checking only the new bytes."""
        start = self._offset
        if acc[-1] == 13 or new.find(b"\r", 0, len(new) - 1) >= 0:
            raise _error("CR not followed by LF in a line", start)
        acc += new
        if len(acc) - 1 - (acc[-1] == 13) > self._limits.max_line_length:
            raise _error(
                f"a line is longer than the limit of {self._limits.max_line_length} bytes", start
            )

    def _check_line(self, data: bytes, pos: int, offset: int) -> None:
        """Check a partial line, data[pos:], which holds no CRLF."""
        if data.find(b"\n", pos) >= 0:
            raise _error("LF without CR in a line", offset)
        if data.find(b"\r", pos, len(data) - 1) >= 0:
            raise _error("CR not followed by LF in a line", offset)
        if len(data) - pos - 1 - (data[-1] == 13) > self._limits.max_line_length:
            raise _error(
                f"a line is longer than the limit of {self._limits.max_line_length} bytes",
                offset,
            )

    def _run(self, data: bytes, pos: int, n: int) -> int:
        """Parse a run of complete top-level ``+ - : $`` values; return where it stops.

        The run's lines are split out at C speed, a window at a time (growing
        while the run lasts). Anything unusual, valid or not, ends the run
        where it is: the general path then parses it and reports any error.
        """
        out = self.ready.append
        max_line = self._limits.max_line_length + 1
        # The common lines are at most 7 bytes: only then are they all within the limit.
        common = _COMMON_LINES if max_line > 7 else {}
        max_bulk = self._limits.max_bulk_length
        pos = self._batches(data, pos, n, max_line, max_bulk)
        window = 256
        last_header: bytes | None = None  # the last blob header, and its length
        last_length = 0
        while True:
            stop = pos + window
            lines = data[pos:stop].split(b"\r\n", window // 4)
            complete = len(lines) - 1  # the last piece had no CRLF after it
            widen = True  # unless something the general path must see stops the run
            j = 0
            while j < complete:
                line = lines[j]
                value = common.get(line)
                if value is not None:
                    out(value)
                    j += 1
                    continue
                if line == last_header:  # same-sized blobs need no new checks
                    if j + 1 >= complete:
                        break  # the payload ends beyond the window
                    if len(lines[j + 1]) != last_length:
                        widen = False  # holding CRLF
                        break
                    out(lines[j + 1])
                    j += 2
                    continue
                kind = line[:1]
                if len(line) > max_line:
                    widen = False
                    break
                if kind == b"+" or kind == b"-":
                    text = line[1:]
                    if text.find(b"\n") >= 0 or text.find(b"\r") >= 0:
                        widen = False
                        break
                    out(SimpleString(text) if kind == b"+" else ErrorReply(text))
                    j += 1
                    continue
                digits = line[1:]
                if (
                    (kind != b":" and kind != b"$")
                    or not digits.isdigit()
                    or (digits[0] == 48 and len(digits) > 1)
                    or len(digits) > _MAX_DIGITS
                ):
                    widen = False  # signed integers, nulls, other types, bad lengths
                    break
                if kind == b":":
                    out(int(digits))
                    j += 1
                    continue
                if j + 1 >= complete:
                    break  # the payload ends beyond the window
                length = int(digits)
                if length > max_bulk or len(lines[j + 1]) != length:
                    widen = False  # too long, or holding CRLF
                    break
                out(lines[j + 1])
                j += 2
                last_header = line
                last_length = length
            consumed = sum(map(len, lines[:j])) + 2 * j
            pos += consumed
            if not widen or stop >= n or (not consumed and window >= _RUN_WINDOW):
                return pos
            window = min(window * 4, _RUN_WINDOW)

    def _batches(self, data: bytes, pos: int, n: int, max_line: int, max_bulk: int) -> int:
        """Take runs of integers, simple strings or same-sized blobs in batches; return their end.

        Pipelines of one command (``INCR``, ``SET``, ``GET`` of same-sized
        values) answer this way. Each batch is validated as a whole at C speed; a
        run that ends, or anything else, is left to the per-line loop.
        """
        extend = self.ready.extend
        # The line limit counts no type byte: max_line is that limit plus one.
        integers = max_line >= _INTEGER_LINE
        limit = _SAME_BLOB_FIRST
        while pos < n:
            kind = data[pos]
            if kind == 58 and integers:  # :
                match = _INTEGER_RUN.match(data, pos)
                if match is None:
                    break
                end = match.end()
                # With commas for the colons after the first, it is a JSON array
                # (CRLF is JSON whitespace), converted at C speed.
                extend(json.loads(b"[%b]" % data[pos + 1 : end].replace(b":", b",")))
                pos = end
            elif kind == 43:  # +
                match = self._simple_run.match(data, pos)
                if match is None:
                    break
                end = match.end()
                texts = data[pos + 1 : end - 2].split(b"\r\n+")
                found = list(map(_SIMPLE.get, texts))  # the frequent ones are shared
                if None in found:
                    found = [
                        SimpleString(text) if value is None else value
                        for value, text in zip(found, texts, strict=True)
                    ]
                extend(found)
                pos = end
            elif kind == 36:  # $
                blobs = _same_blobs(data, pos, n, limit, max_line, max_bulk)
                if blobs is None:
                    break
                extend(blobs[0])
                pos = blobs[1]
                limit *= 4  # while the run lasts; a failed batch wastes at most this much
            else:
                break
        return pos

    def _parse(self, data: bytes) -> None:  # one loop: the fast path
        limits = self._limits
        max_line = limits.max_line_length + 1
        # The fast path's header search stays within the line limit.
        span = min(22, max_line + 2)
        last_header: bytes | None = None  # the last blob header in an array, and its length
        last_length = 0
        max_bulk = limits.max_bulk_length
        max_agg = limits.max_aggregate_length
        max_depth = limits.max_depth
        streak = 0
        stack = self._stack
        out = self.ready.append
        attrs = self._attrs
        base = self._offset
        start = self._start
        simple = _SIMPLE
        find = data.find
        n = len(data)
        pos = 0
        value: Any
        try:
            while pos < n:
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if not stack and attrs is None:
                        start = base + pos
                    self._check_line(data, pos, base + pos)
                    self._acc = bytearray(data[pos:])
                    break
                if eol - pos > max_line:
                    raise _error(
                        f"a line is longer than the limit of {max_line - 1} bytes", base + pos
                    )
                t = data[pos]
                if not stack and attrs is None:
                    start = base + pos
                if t in _BLOBS:  # $ = ! ;
                    s = data[pos + 1 : eol]
                    if s.isdigit() and (s[0] != 48 or len(s) == 1):
                        # Longer than any limit; int() would also refuse 4300+ digits.
                        length = int(s) if len(s) <= _MAX_DIGITS else _TOO_LONG
                    elif s == b"-1" and t == 36:
                        length = -1
                    elif s == b"?" and t == 36:
                        if len(stack) >= max_depth:
                            raise _error(f"nesting deeper than {max_depth}", base + pos)
                        if stack and stack[-1][0] == _STREAM:
                            raise _error("a streamed string holds a non-chunk", base + pos)
                        stack.append([_STREAM, -1, [], attrs, 0])
                        attrs = None
                        pos = eol + 2
                        continue
                    else:
                        raise _error(f"invalid {_TYPE_NAMES[t]} length {s[:40]!r}", base + pos)
                    if t == 59:
                        if not stack or stack[-1][0] != _STREAM:
                            raise _error(
                                "a streamed string chunk outside a streamed string", base + pos
                            )
                        # No attributes can be pending here: an attribute
                        # inside a streamed string was refused at its header.
                        frame = stack[-1]
                        if not length:
                            pos = eol + 2
                            stack.pop()
                            value = b"".join(frame[2])
                            attrs = frame[3]
                            length = -2
                    if length == -1:
                        value = None
                        pos = eol + 2
                    elif length >= 0:
                        if length > max_bulk:
                            raise _error(
                                f"a blob of {s[:40].decode()} bytes exceeds the limit"
                                f" of {max_bulk}",
                                base + pos,
                            )
                        end = eol + 2 + length
                        if end + 2 > n:
                            self._need = end + 2 - pos
                            self._rest = data[pos:]
                            break
                        if data[end] != 13 or data[end + 1] != 10:
                            raise _error("a blob is not followed by CRLF", base + end)
                        value = data[eol + 2 : end]
                        pos = end + 2
                        if t == 59:
                            frame[4] += length
                            if frame[4] > max_bulk:
                                raise _error(
                                    f"a streamed string exceeds the limit of {max_bulk} bytes",
                                    base + pos,
                                )
                            frame[2].append(value)
                            continue
                        if t == 61:
                            if length < 4 or value[3] != 58:
                                raise _error(
                                    "a verbatim string lacks its 'xxx:' format prefix",
                                    base + eol + 2,
                                )
                            value = Verbatim(value[:3].decode("latin-1"), value[4:])
                        elif t == 33:
                            value = ErrorReply(value, True)
                elif t == 58:  # : integer
                    s = data[pos + 1 : eol]
                    if not ((s.isdigit() and (s[0] != 48 or len(s) == 1)) or _SIGNED.fullmatch(s)):
                        raise _error(f"invalid integer {s[:40]!r}", base + pos)
                    if len(s) > 18 and (len(s) > 20 or not _INT64_MIN <= int(s) <= _INT64_MAX):
                        raise _error(f"integer {s[:40]!r} is out of the 64-bit range", base + pos)
                    value = int(s)
                    pos = eol + 2
                elif t == 43 or t == 45:  # + simple string, - simple error
                    s = data[pos + 1 : eol]
                    value = simple.get(s) if t == 43 else None
                    if value is None:
                        if s.find(b"\r") >= 0 or s.find(b"\n") >= 0:
                            raise _error("CR or LF inside a line", base + pos)
                        value = SimpleString(s) if t == 43 else ErrorReply(s)
                    pos = eol + 2
                elif t in _KINDS:  # * % ~ > | aggregates
                    s = data[pos + 1 : eol]
                    kind = _KINDS[t]
                    if s.isdigit() and (s[0] != 48 or len(s) == 1):
                        count = int(s) if len(s) <= _MAX_DIGITS else _TOO_LONG
                        if count > max_agg:
                            raise _error(
                                f"a {_NAMES[kind]} of {s[:40].decode()} elements exceeds the limit"
                                f" of {max_agg}",
                                base + pos,
                            )
                    elif s == b"-1" and t == 42:
                        count = -1
                    elif s == b"?" and kind <= _SET:
                        count = -2
                    else:
                        raise _error(f"invalid {_NAMES[kind]} length {s[:40]!r}", base + pos)
                    if count != -1:
                        if stack and stack[-1][0] == _STREAM:
                            raise _error("a streamed string holds a non-chunk", base + pos)
                        if count and len(stack) >= max_depth:
                            raise _error(f"nesting deeper than {max_depth}", base + pos)
                    pos = eol + 2
                    if count == -1:
                        value = None
                    elif count:
                        if count > 0 and kind in (_MAP, _ATTR):
                            count *= 2
                        stack.append([kind, count if count > 0 else -1, [], attrs])
                        attrs = None
                        continue
                    elif kind == _ATTR:
                        continue  # an empty attribute map says nothing
                    elif kind == _PUSH:
                        value = Push([], attrs)
                        attrs = None
                        if stack:
                            out(value)
                            continue
                    else:
                        value = [] if kind == _ARRAY else set() if kind == _SET else {}
                elif t == 44:  # , double
                    s = data[pos + 1 : eol]
                    if not _DOUBLE.fullmatch(s):
                        raise _error(f"invalid double {s[:40]!r}", base + pos)
                    value = float(s)
                    if value != value:
                        value = NAN
                    pos = eol + 2
                elif t == 35:  # # boolean
                    s = data[pos + 1 : eol]
                    if s == b"t":
                        value = True
                    elif s == b"f":
                        value = False
                    else:
                        raise _error(f"invalid boolean {s[:40]!r}", base + pos)
                    pos = eol + 2
                elif t == 95:  # _ null
                    if eol != pos + 1:
                        raise _error(f"invalid null {data[pos:eol][:40]!r}", base + pos)
                    value = None
                    pos = eol + 2
                elif t == 40:  # ( big number
                    s = data[pos + 1 : eol]
                    if not _SIGNED.fullmatch(s):
                        raise _error(f"invalid big number {s[:40]!r}", base + pos)
                    value = BigNumber(parse_big_int(s))
                    pos = eol + 2
                elif t == 46:  # . end of a streamed aggregate
                    if eol != pos + 1:
                        raise _error("invalid end of a streamed aggregate", base + pos)
                    if not stack or stack[-1][1] >= 0 or stack[-1][0] == _STREAM:
                        raise _error("an end marker outside a streamed aggregate", base + pos)
                    if attrs is not None:
                        raise _error("attributes with no value after them", base + pos)
                    frame = stack.pop()
                    value = _build(frame, base + pos)
                    attrs = frame[3]
                    pos = eol + 2
                else:
                    raise _error(f"unknown type byte {bytes([t])!r}", base + pos)
                # A value is complete: attach it to its parent, completing parents.
                while True:
                    if attrs is not None:
                        value = Attributed(value, attrs)
                        attrs = None
                    if not stack:
                        out(value)
                        # (A run holds whole values only, all in the bytes fill() let the
                        # parser see: none can break max_buffer_size.)
                        if start >= base and data[start - base] in _RUNS:
                            streak += 1
                            if streak > 3 and pos < n and data[pos] in _RUNS:
                                # Several top-level scalars in a row: a run, likely.
                                pos = self._run(data, pos, n)
                                streak = 0
                        else:
                            streak = 0
                        break
                    frame = stack[-1]
                    kind = frame[0]
                    if kind == _STREAM:
                        raise _error("a streamed string holds a non-chunk", base + pos)
                    items = frame[2]
                    items.append(value)
                    remaining = frame[1] - 1
                    if kind == _ARRAY and remaining > 0:
                        # Fast paths: the blob strings that follow in this array.
                        # Equal headers (same-sized values) skip re-validation.
                        append = items.append
                        blobs = None
                        if remaining > 8 and type(value) is bytes and pos < n and data[pos] == 36:
                            # Many, likely all of one size: take them in one batch.
                            blobs = _same_blobs(data, pos, n, remaining, max_line, max_bulk)
                        if blobs is not None:
                            items.extend(blobs[0])
                            remaining -= len(blobs[0])
                            pos = blobs[1]
                        elif remaining > 8 and type(value) is bytes and pos < n and data[pos] == 36:
                            # Many of several sizes: split their likely extent
                            # into lines at C speed and take (header, payload)
                            # pairs. A payload holding CRLF splits short and
                            # ends this path.
                            window = min(n, pos + remaining * (len(value) + 24))
                            lines = data[pos:window].split(b"\r\n", 2 * remaining)
                            complete = len(lines) - 1  # the last piece had no CRLF after it
                            j = 0
                            while remaining and j + 1 < complete:
                                header = lines[j]
                                if header != last_header:
                                    length = _fast_length(header, max_line, max_bulk)
                                    if length < 0:
                                        break  # the general path reports it
                                    last_length = length
                                    last_header = header
                                payload = lines[j + 1]
                                if len(payload) != last_length:
                                    break
                                append(payload)
                                j += 2
                                remaining -= 1
                            pos += sum(map(len, lines[:j])) + 2 * j
                        while remaining and pos < n and data[pos] == 36:
                            eol = find(b"\r\n", pos, pos + span)
                            if eol < 0:
                                break
                            s = data[pos:eol]
                            if s != last_header:
                                digits = s[1:]
                                if (
                                    not digits.isdigit()
                                    or (digits[0] == 48 and len(digits) > 1)
                                    or len(digits) > _MAX_DIGITS
                                ):
                                    break
                                last_length = int(digits)
                                if last_length > max_bulk:
                                    break  # the general path reports it
                                last_header = s
                            end = eol + 2 + last_length
                            if end + 2 > n or data[end] != 13 or data[end + 1] != 10:
                                break  # the general path waits, or reports it
                            append(data[eol + 2 : end])
                            pos = end + 2
                            remaining -= 1
                    frame[1] = remaining
                    if remaining:
                        if remaining < 0 and len(items) > max_agg * (1 + (kind == _MAP)):
                            raise _error(
                                f"a streamed {_NAMES[kind]} exceeds the limit of {max_agg}"
                                " elements",
                                base + pos,
                            )
                        break
                    stack.pop()
                    if kind == _ARRAY:
                        value = items
                    elif kind == _PUSH:
                        # Out of band even when nested (Redis 7.0 inside EXEC):
                        # its own event now, not an element of its parent.
                        value = Push(items, frame[3])
                        if stack:
                            out(value)
                            break
                        continue
                    elif kind == _ATTR:
                        attrs = _merge(frame[3], _pairs(items))
                        break
                    else:
                        value = _build(frame, base + pos)
                    attrs = frame[3]
        finally:
            self._attrs = attrs
            self._start = start
            self._offset = base + pos
