"""The reply parser's fast paths: runs of top-level scalars, and the blobs of an array.

Each takes what it can validate at C speed (splitting many lines at once,
converting a run of integers as one JSON array) and stops where anything is
unusual, valid or not, leaving it to the general path to parse or report. So
they change the speed, never the outcome.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

from .values import ErrorReply, SimpleString

__all__ = ["MAX_DIGITS", "RUNS", "SIMPLE", "array_blobs", "scalar_run", "simple_run"]

MAX_DIGITS = 18  # lengths and counts with more digits exceed every limit
RUNS = frozenset(b"+-:$")  # the type bytes of the values a run takes
_RUN_WINDOW = 64 * 1024  # the widest window a run of scalars is split in
# Integers of up to 18 digits (all within 64 bits), a line each, written as
# JSON writes them (no plus sign): a run of them converts as one JSON array.
_INTEGER_RUN = re.compile(rb"(?::-?(?:0|[1-9][0-9]{0,17})\r\n)+")
_INTEGER_LINE = 20  # the longest line _INTEGER_RUN takes, type byte included
_SIMPLE_RUN_LINE = 1024 * 1024  # the longest simple string a run of them takes
_SAME_BLOB_MAX = 8 * 1024  # longer blobs gain nothing from being split out in batches
_SAME_BLOB_FIRST = 8  # how many blobs a batch of top-level ones tries first
# Frequent simple strings are shared objects: no allocation, no checks.
SIMPLE = {s: SimpleString(s) for s in (b"OK", b"PONG", b"QUEUED", b"RESET")}
# Whole lines a run of scalars looks up first (a value of None would not do).
_COMMON_LINES: dict[bytes, Any] = {b"+" + s: v for s, v in SIMPLE.items()}
_COMMON_LINES.update({b":%d" % i: i for i in range(10)})


def _fast_length(header: bytes, max_line: int, max_bulk: int) -> int:
    """The length a ``$<digits>`` header line declares, or -1 for the general path."""
    digits = header[1:]
    if (
        header[:1] != b"$"
        or len(header) > max_line
        or not digits.isdigit()
        or (digits[0] == 48 and len(digits) > 1)
        or len(digits) > MAX_DIGITS
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


def array_blobs(
    data: bytes, pos: int, items: list[Any], remaining: int, value: Any, bounds: tuple[int, ...]
) -> tuple[int, int]:
    """Take the blob strings that follow in an array; return the new position and how many remain.

    ``value`` is the element just taken; ``data[pos]`` is ``$``; ``bounds``
    starts with the line limit plus one and the blob limit. Anything
    unusual, valid or not, stops this path where it is, for the general
    path to parse or report.
    """
    n = len(data)
    max_line, max_bulk = bounds[0], bounds[1]
    append = items.append
    last_header: bytes | None = None  # equal headers (same-sized values) skip re-validation
    last_length = 0
    if remaining > 8 and type(value) is bytes:
        # Many, likely all of one size: take them in one batch.
        blobs = _same_blobs(data, pos, n, remaining, max_line, max_bulk)
        if blobs is not None:
            items.extend(blobs[0])
            remaining -= len(blobs[0])
            pos = blobs[1]
        else:
            # Many of several sizes: split their likely extent into lines at C
            # speed and take (header, payload) pairs. A payload holding CRLF
            # splits short and ends this path.
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
    # The header search stays within the line limit.
    span = min(22, max_line + 2)
    find = data.find
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
                or len(digits) > MAX_DIGITS
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
    return pos, remaining


def scalar_run(
    ready: deque[Any], data: bytes, pos: int, n: int, limits: Any, simple_run: re.Pattern[bytes]
) -> int:
    """Parse a run of complete top-level ``+ - : $`` values; return where it stops.

    The run's lines are split out at C speed, a window at a time (growing
    while the run lasts). Anything unusual, valid or not, ends the run
    where it is: the general path then parses it and reports any error.
    """
    out = ready.append
    max_line = limits.max_line_length + 1
    # The common lines are at most 7 bytes: only then are they all within the limit.
    common = _COMMON_LINES if max_line > 7 else {}
    max_bulk = limits.max_bulk_length
    pos = _batches(ready, data, pos, n, max_line, max_bulk, simple_run)
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
                or len(digits) > MAX_DIGITS
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


def _batches(
    ready: deque[Any],
    data: bytes,
    pos: int,
    n: int,
    max_line: int,
    max_bulk: int,
    simple_run: re.Pattern[bytes],
) -> int:
    """Take runs of integers, simple strings or same-sized blobs in batches; return their end.

    Pipelines of one command (``INCR``, ``SET``, ``GET`` of same-sized
    values) answer this way. Each batch is validated as a whole at C speed; a
    run that ends, or anything else, is left to the per-line loop.
    """
    extend = ready.extend
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
            match = simple_run.match(data, pos)
            if match is None:
                break
            end = match.end()
            texts = data[pos + 1 : end - 2].split(b"\r\n+")
            found = list(map(SIMPLE.get, texts))  # the frequent ones are shared
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


def simple_run(max_line_length: int) -> re.Pattern[bytes]:
    """The pattern of a run of simple strings, each within the line limit (no CR or LF inside).

    A longer one, within a larger limit, just ends the run.
    """
    longest = max(0, min(max_line_length, _SIMPLE_RUN_LINE))
    return re.compile(rb"(?:\+[^\r\n]{0,%d}\r\n)+" % longest)
