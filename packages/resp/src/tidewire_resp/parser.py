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

import re
from typing import Any

from tidewire import ReceiveBuffer, RemoteProtocolError
from tidewire.incremental import IncrementalParser

from .events import Push
from .fastpaths import MAX_DIGITS, RUNS, SIMPLE, array_blobs, scalar_run, simple_run
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
_MAX_DIGITS = MAX_DIGITS
_TOO_LONG = 10**_MAX_DIGITS

# Frame kinds of the aggregate stack.
_ARRAY, _MAP, _SET, _PUSH, _ATTR, _STREAM = range(6)
_BLOBS = frozenset(b"$=!;")
_KINDS = {42: _ARRAY, 37: _MAP, 126: _SET, 62: _PUSH, 124: _ATTR}
# Keys whose hashes a peer chooses: CPython does not randomise the hash of
# an int or a float (every multiple of 2**61 - 1 hashes to 0), so a dict or
# set of thousands of them would take quadratic time to build. A map or set
# holding one is kept as MapPairs or SetMembers instead, in linear time.
# (64-bit integers are safe: at most 9 of them share a hash. bytes and str
# hashes are randomised; Verbatim and ErrorReply hash their bytes.)
_UNSAFE_KEYS = frozenset((BigNumber, float))
_NAMES = {_ARRAY: "array", _MAP: "map", _SET: "set", _PUSH: "push", _ATTR: "attribute"}

# Values of no type: what a helper returns when no value is complete (a
# header began an aggregate...), or when a blob has not all arrived.
_MORE = object()
_WAIT = object()

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


def _error(message: str, offset: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"{message} at byte {offset}", offset=offset)


def _simple(t: int, s: bytes, offset: int) -> SimpleString | ErrorReply:
    """The simple string (``+``) or simple error (``-``) whose line holds ``s``."""
    if s.find(b"\r") >= 0 or s.find(b"\n") >= 0:
        raise _error("CR or LF inside a line", offset)
    return SimpleString(s) if t == 43 else ErrorReply(s)


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

    __slots__ = ("_attrs", "_bounds", "_limits", "_simple_run", "_stack")

    def __init__(self, buffer: ReceiveBuffer, limits: Limits) -> None:
        super().__init__(buffer, limits.max_buffer_size)
        self._limits = limits
        self._stack: list[list[Any]] = []
        self._attrs: Any = None
        self._simple_run = simple_run(limits.max_line_length)
        # What _parse() checks most: the line limit counts no type byte, so one more.
        self._bounds = (
            limits.max_line_length + 1,
            limits.max_bulk_length,
            limits.max_aggregate_length,
            limits.max_depth,
        )

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

    def _parse(self, data: bytes) -> None:
        """Parse ``data`` (see IncrementalParser); the common types inline, for speed."""
        limits = self._limits
        bounds = self._bounds
        max_line, max_bulk, max_agg, max_depth = bounds
        streak = pos = 0  # streak: top-level scalars in a row, maybe a run of them
        stack = self._stack
        attrs = self._attrs
        base = self._offset
        start = self._start
        n = len(data)
        value: Any
        try:
            while pos < n:
                if not stack and attrs is None:
                    start = base + pos
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._keep_line(data, pos)
                    break
                if eol - pos > max_line:
                    raise self._too_long(base + pos)
                t = data[pos]
                s = data[pos + 1 : eol]
                # Digits with no leading zero, few enough for any limit and for 64 bits.
                number = s.isdigit() and (s[0] != 48 or len(s) == 1) and len(s) <= MAX_DIGITS
                if t == 36 and number and int(s) <= max_bulk:
                    value = self._payload(data, pos, eol, int(s))
                    if value is None:
                        break
                    pos = eol + 4 + len(value)
                elif t == 58 and number:
                    value = int(s)
                    pos = eol + 2
                elif t == 42 and number and 0 < int(s) <= max_agg and len(stack) < max_depth:
                    if stack and stack[-1][0] == _STREAM:
                        raise _error("a streamed string holds a non-chunk", base + pos)
                    stack.append([_ARRAY, int(s), [], attrs])  # an array begins
                    attrs = None
                    pos = eol + 2
                    continue
                elif t == 43 or t == 45:  # + simple string, - simple error
                    value = SIMPLE.get(s) if t == 43 else None
                    if value is None:
                        value = _simple(t, s, base + pos)
                    pos = eol + 2
                else:
                    value, pos, attrs = self._other(t, s, data, pos, eol, attrs)
                    if value is _MORE:
                        continue
                    if value is _WAIT:
                        break
                # A value is complete: attach it to its parent, completing parents.
                while True:
                    if attrs is not None:
                        value = Attributed(value, attrs)
                        attrs = None
                    if not stack:
                        self.ready.append(value)
                        # (A run takes only whole values fill() let the parser see.)
                        streak = streak + 1 if start >= base and data[start - base] in RUNS else 0
                        if streak > 3 and pos < n and data[pos] in RUNS:
                            pos = scalar_run(self.ready, data, pos, n, limits, self._simple_run)
                            streak = 0
                        break
                    frame = stack[-1]
                    kind = frame[0]
                    if kind == _STREAM:
                        raise _error("a streamed string holds a non-chunk", base + pos)
                    items = frame[2]
                    items.append(value)
                    remaining = frame[1] - 1
                    if kind == _ARRAY and remaining > 0 and pos < n and data[pos] == 36:
                        pos, remaining = array_blobs(data, pos, items, remaining, value, bounds)
                    frame[1] = remaining
                    if remaining:
                        if remaining < 0:
                            self._check_streamed(kind, items, base + pos)
                        break
                    stack.pop()
                    if kind == _ARRAY:
                        value, attrs = items, frame[3]
                        continue
                    value, attrs = self._close(frame, base + pos)
                    if value is _MORE:
                        break
        finally:
            self._attrs = attrs
            self._start = start
            self._offset = base + pos

    def _no_crlf(self, offset: int) -> RemoteProtocolError:
        return _error("a blob is not followed by CRLF", offset)

    def _keep_line(self, data: bytes, pos: int) -> None:
        """Keep the partial line ``data[pos:]`` (which holds no CRLF), checked, for later."""
        self._check_line(data, pos, self._offset + pos)
        self._acc = bytearray(data[pos:])

    def _too_long(self, offset: int) -> RemoteProtocolError:
        limit = self._limits.max_line_length
        return _error(f"a line is longer than the limit of {limit} bytes", offset)

    def _check_streamed(self, kind: int, items: list[Any], offset: int) -> None:
        """Refuse a streamed aggregate that has grown past the limit."""
        limit = self._limits.max_aggregate_length
        if len(items) > limit * (1 + (kind == _MAP)):
            raise _error(f"a streamed {_NAMES[kind]} exceeds the limit of {limit} elements", offset)

    def _close(self, frame: list[Any], offset: int) -> tuple[Any, Any]:
        """The value of a completed frame (not an array's) and the attributes it goes with.

        ``_MORE`` for no value to attach: an attribute map (now pending), or
        a push nested in a reply (out on its own now, out of band).
        """
        kind = frame[0]
        items = frame[2]
        if kind == _PUSH:
            # Out of band even when nested (Redis 7.0 inside EXEC): its own event
            # now, not an element of its parent.
            push = Push(items, frame[3])
            if self._stack:
                self.ready.append(push)
                return _MORE, None
            return push, None
        if kind == _ATTR:
            return _MORE, _merge(frame[3], _pairs(items))
        return _build(frame, offset), frame[3]

    def _other(
        self, t: int, s: bytes, data: bytes, pos: int, eol: int, attrs: Any
    ) -> tuple[Any, int, Any]:
        """Parse a value of the less frequent kinds (or a header), with ``attrs`` pending.

        Returns the value, the new position and the attributes pending
        after it. The value is ``_MORE`` when none is complete (an aggregate
        or streamed string began, a chunk was taken), ``_WAIT`` when a blob
        has not all arrived.
        """
        self._attrs = attrs
        offset = self._offset + pos
        if t in _KINDS:
            return self._aggregate(_KINDS[t], s, offset), eol + 2, self._attrs
        if t in _BLOBS:
            value, pos = self._blob(t, s, data, pos, eol)
            return value, pos, self._attrs
        if t == 58 or t == 40:  # : integer (signed, or long), ( big number
            if not _SIGNED.fullmatch(s):
                raise _error(f"invalid {_TYPE_NAMES[t]} {s[:40]!r}", offset)
            if t == 40:
                return BigNumber(parse_big_int(s)), eol + 2, attrs
            if len(s) > 18 and (len(s) > 20 or not _INT64_MIN <= int(s) <= _INT64_MAX):
                raise _error(f"integer {s[:40]!r} is out of the 64-bit range", offset)
            return int(s), eol + 2, attrs
        if t == 44:  # , double
            if not _DOUBLE.fullmatch(s):
                raise _error(f"invalid double {s[:40]!r}", offset)
            value = float(s)
            return (NAN if value != value else value), eol + 2, attrs
        if t == 35:  # # boolean
            if s != b"t" and s != b"f":
                raise _error(f"invalid boolean {s[:40]!r}", offset)
            return s == b"t", eol + 2, attrs
        if t == 95:  # _ null
            if s:
                raise _error(f"invalid null {data[pos:eol][:40]!r}", offset)
            return None, eol + 2, attrs
        if t == 46:  # . end of a streamed aggregate
            if s:
                raise _error("invalid end of a streamed aggregate", offset)
            return self._end_marker(offset), eol + 2, self._attrs
        raise _error(f"unknown type byte {bytes([t])!r}", offset)

    def _end_marker(self, offset: int) -> Any:
        stack = self._stack
        if not stack or stack[-1][1] >= 0 or stack[-1][0] == _STREAM:
            raise _error("an end marker outside a streamed aggregate", offset)
        if self._attrs is not None:
            raise _error("attributes with no value after them", offset)
        frame = stack.pop()
        self._attrs = frame[3]
        return _build(frame, offset)

    def _aggregate(self, kind: int, s: bytes, offset: int) -> Any:
        """Begin an aggregate whose header says ``s``; return ``_MORE``, or its value if empty."""
        stack = self._stack
        max_agg = self._limits.max_aggregate_length
        if s.isdigit() and (s[0] != 48 or len(s) == 1):
            count = int(s) if len(s) <= _MAX_DIGITS else _TOO_LONG
            if count > max_agg:
                raise _error(
                    f"a {_NAMES[kind]} of {s[:40].decode()} elements exceeds"
                    f" the limit of {max_agg}",
                    offset,
                )
        elif s == b"-1" and kind == _ARRAY:
            return None
        elif s == b"?" and kind <= _SET:
            count = -2
        else:
            raise _error(f"invalid {_NAMES[kind]} length {s[:40]!r}", offset)
        if stack and stack[-1][0] == _STREAM:
            raise _error("a streamed string holds a non-chunk", offset)
        if count and len(stack) >= self._limits.max_depth:
            raise _error(f"nesting deeper than {self._limits.max_depth}", offset)
        attrs = self._attrs
        if count:
            if count > 0 and kind in (_MAP, _ATTR):
                count *= 2
            stack.append([kind, count if count > 0 else -1, [], attrs])
            self._attrs = None
            return _MORE
        if kind == _ATTR:
            return _MORE  # an empty attribute map says nothing
        if kind == _PUSH:
            self._attrs = None
            push = Push([], attrs)
            if not stack:
                return push
            self.ready.append(push)
            return _MORE
        return [] if kind == _ARRAY else set() if kind == _SET else {}

    def _blob(self, t: int, s: bytes, data: bytes, pos: int, eol: int) -> tuple[Any, int]:
        """Parse a blob of any kind but a short enough ``$``: as :meth:`_other`."""
        offset = self._offset + pos
        stack = self._stack
        if s.isdigit() and (s[0] != 48 or len(s) == 1):
            # Longer than any limit; int() would also refuse 4300+ digits.
            length = int(s) if len(s) <= _MAX_DIGITS else _TOO_LONG
        elif s == b"-1" and t == 36:
            return None, eol + 2
        elif s == b"?" and t == 36:
            if len(stack) >= self._limits.max_depth:
                raise _error(f"nesting deeper than {self._limits.max_depth}", offset)
            if stack and stack[-1][0] == _STREAM:
                raise _error("a streamed string holds a non-chunk", offset)
            stack.append([_STREAM, -1, [], self._attrs, 0])
            self._attrs = None
            return _MORE, eol + 2
        else:
            raise _error(f"invalid {_TYPE_NAMES[t]} length {s[:40]!r}", offset)
        if t == 59 and (not stack or stack[-1][0] != _STREAM):
            raise _error("a streamed string chunk outside a streamed string", offset)
        if t == 59 and not length:
            # The end of a streamed string. No attributes can be pending here:
            # an attribute inside a streamed string was refused at its header.
            frame = stack.pop()
            self._attrs = frame[3]
            return b"".join(frame[2]), eol + 2
        max_bulk = self._limits.max_bulk_length
        if length > max_bulk:
            raise _error(
                f"a blob of {s[:40].decode()} bytes exceeds the limit of {max_bulk}", offset
            )
        value = self._payload(data, pos, eol, length)
        if value is None:
            return _WAIT, pos
        end = eol + 2 + length
        if t == 59:
            frame = stack[-1]
            frame[4] += length
            if frame[4] > max_bulk:
                raise _error(
                    f"a streamed string exceeds the limit of {max_bulk} bytes",
                    self._offset + end + 2,
                )
            frame[2].append(value)
            return _MORE, end + 2
        if t == 61:
            if length < 4 or value[3] != 58:
                raise _error(
                    "a verbatim string lacks its 'xxx:' format prefix", self._offset + eol + 2
                )
            return Verbatim(value[:3].decode("latin-1"), value[4:]), end + 2
        return ErrorReply(value, True), end + 2
