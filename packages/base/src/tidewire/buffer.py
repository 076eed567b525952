"""The receive buffer every core parses from.

Bytes are appended at the back and consumed from the front of one
``bytearray``; ``del data[:n]`` is amortised O(1) per byte in CPython, so
consuming never copies the rest of the buffer. A delimiter search remembers
how far it has already looked, so a line that arrives one byte at a time is
found in linear time, not quadratic.
"""

from __future__ import annotations

import re

from .errors import RemoteProtocolError

__all__ = ["BytesLike", "Delimiter", "ReceiveBuffer"]

BytesLike = bytes | bytearray | memoryview
"""What :meth:`ReceiveBuffer.append` and :meth:`~tidewire.Connection.receive_data` accept."""

Delimiter = bytes | tuple[bytes, ...]
"""One delimiter, or several of which the earliest match in the stream wins."""

# Below this size, copying a bytearray slice twice beats making a memoryview.
_VIEW_THRESHOLD = 4096
# A first line at least this long makes read_lines find lines one by one.
_LONG_LINE = 512
# A buffer up to this size holding whole lines only is split in one pass.
_SMALL = 4096
# False hits of a delimiter's last byte before falling back to a plain find.
_MISSES = 8


def _find_bytes(data: bytes | bytearray, delimiter: bytes, begin: int) -> int:
    """Index of the first ``delimiter`` at or after ``begin``, or -1.

    A one-byte find is memchr; a longer needle takes CPython's generic
    search, many times slower. So look for the delimiter's last byte and
    check the bytes before it; if that byte keeps turning up alone (bare LFs
    in CRLF lines), fall back to the plain find, so the worst case stays find's.
    """
    size = len(delimiter)  # more than 1: a one-byte delimiter never hits falsely
    last = delimiter[-1:]
    index = begin + size - 1
    for _ in range(_MISSES):
        index = data.find(last, index)
        if index < 0:
            return -1
        if data.startswith(delimiter, index - size + 1):
            return index - size + 1
        index += 1
    return data.find(delimiter, index - size + 1)


class ReceiveBuffer:
    """Bytes received and not yet consumed, with a read cursor.

    Reads (``read_*``) return bytes from the cursor and move it forward.
    Outside a transaction they also drop what they read at once. Inside one
    (:meth:`begin`), the bytes stay until :meth:`commit` drops them or
    :meth:`rollback` moves the cursor back to where the transaction began:
    this is how a core parses a header of several fields that may be
    incomplete, without copying or re-buffering anything.

    A read that cannot be satisfied yet returns ``None`` (or, for
    :meth:`read_lines`, fewer items) and consumes nothing.
    """

    __slots__ = ("_data", "_discarded", "_patterns", "_pos", "_search_key", "_searched", "_txn")

    def __init__(self) -> None:
        self._data = bytearray()
        self._pos = 0  # the read cursor, an index into _data
        self._discarded = 0  # bytes of the stream dropped before _data[0]
        self._txn = False
        # _data[_pos:_searched] is known to hold no start of _search_key.
        self._search_key: Delimiter | None = None
        self._searched = 0
        self._patterns: dict[tuple[bytes, ...], re.Pattern[bytes]] = {}

    def append(self, data: BytesLike) -> None:
        """Add received bytes at the back. Never parses."""
        self._data += data

    def unread(self, data: BytesLike) -> None:
        """Put ``data`` back in front of the cursor, as if it had not been read.

        For a layer that read past its end: an HTTP parser handing the bytes
        after a handshake back to the framing that follows (h11's
        ``trailing_data``). It costs a copy of the buffered bytes; use it
        once per switch, not per event.
        """
        self._data[self._pos : self._pos] = data
        self._discarded -= len(data)
        self._search_key = None

    def __len__(self) -> int:
        """The number of bytes after the cursor."""
        return len(self._data) - self._pos

    def __bool__(self) -> bool:
        return len(self._data) > self._pos

    def __repr__(self) -> str:
        return f"<ReceiveBuffer {len(self)} bytes at offset {self.offset}>"

    @property
    def raw(self) -> bytearray:
        """The buffer's own bytes, for a core that parses by index without copying.

        The unread bytes are ``raw[position:]``. Read it, never change it:
        move the cursor with :meth:`skip` or the ``read_*`` methods. Indices
        into it stay valid across :meth:`append`, and until the next read or
        skip outside a transaction, or the next :meth:`commit`, which drop
        the bytes before the cursor.
        """
        return self._data

    @property
    def position(self) -> int:
        """The cursor's index in :attr:`raw`."""
        return self._pos

    @property
    def offset(self) -> int:
        """The cursor's position in the whole stream, counted from its first byte."""
        return self._discarded + self._pos

    def peek(self, size: int | None = None) -> bytes:
        """Return up to ``size`` bytes after the cursor (all if ``None``) without reading them."""
        end = len(self._data) if size is None else min(len(self._data), self._pos + size)
        return self._copy(self._pos, end)

    # -- transactions -------------------------------------------------------

    def begin(self) -> None:
        """Start a transaction: reads keep their bytes until :meth:`commit`."""
        self._txn = True

    def commit(self) -> None:
        """End the transaction, dropping every byte read in it."""
        self._txn = False
        self._drop_read()

    def rollback(self) -> None:
        """End the transaction, moving the cursor back to where it began."""
        self._txn = False
        self._pos = 0
        self._search_key = None

    # -- reads --------------------------------------------------------------

    def read_exactly(self, size: int) -> bytes | None:
        """Read exactly ``size`` bytes, or return ``None`` if fewer are buffered."""
        end = self._pos + size
        if end > len(self._data):
            return None
        return self._take(end, end)

    def read_at_most(self, size: int) -> bytes:
        """Read up to ``size`` bytes: as many as are buffered, possibly none."""
        end = min(self._pos + size, len(self._data))
        return self._take(end, end)

    def read_all(self) -> bytes:
        """Read every buffered byte."""
        end = len(self._data)
        return self._take(end, end)

    def skip(self, size: int) -> int:
        """Move the cursor up to ``size`` bytes forward without copying them; return how many."""
        end = min(self._pos + size, len(self._data))
        skipped = end - self._pos
        self._skip(end)
        return skipped

    def read_until(self, delimiter: Delimiter, *, max_length: int | None = None) -> bytes | None:
        r"""Read through the next delimiter; return the bytes before it.

        ``delimiter`` is one non-empty bytes value or a tuple of them. With a
        tuple, the match that starts earliest wins, and at equal starts the
        one listed first; a match is not taken while a delimiter listed
        before it could still match at the same place once more bytes
        arrive (so ``(b"\r\n", b"\r")`` waits after a final ``\r``).

        Returns ``None`` if no delimiter is buffered yet.

        Raises:
            RemoteProtocolError: if the bytes before the delimiter are longer
                than ``max_length``, or, with no delimiter yet, already longer
                than ``max_length`` however the next bytes turn out. The
                verdict does not depend on how the input was split.
        """
        start, end = self._find(delimiter)
        if start < 0:
            if max_length is not None:
                self._check_partial(delimiter, max_length)
            return None
        if max_length is not None and start - self._pos > max_length:
            self._too_long(max_length)
        return self._take(start, end)

    def read_lines(self, delimiter: Delimiter, *, max_length: int | None = None) -> list[bytes]:
        """Read every complete line at once; return them without delimiters.

        The same as calling :meth:`read_until` until it returns ``None``, in
        one pass at C speed. If a line is too long, the lines before it are
        returned and the cursor stops at its start, so the next call raises:
        nothing valid is lost to the error.

        Raises:
            RemoteProtocolError: as :meth:`read_until`, when the first line
                is too long.
        """
        data = self._data
        pos = self._pos
        if isinstance(delimiter, bytes):
            if not pos and len(data) <= _SMALL and not self._txn and data.endswith(delimiter):
                # A request-reply loop's chunk: whole short lines, nothing before
                # them. One split, no search bookkeeping, the buffer emptied.
                lines = bytes(data).split(delimiter)
                # The leftmost parse ends at the last byte only if the split
                # leaves nothing after the last match (b"aa" in b"xaaa" does not).
                if not lines.pop() and (max_length is None or max(map(len, lines)) <= max_length):
                    self._discarded += len(data)
                    self._search_key = None
                    data.clear()
                    return lines
            first, _ = self._find(delimiter)  # searches only bytes not seen before
            if first < 0:
                if max_length is not None:
                    self._check_partial(delimiter, max_length)
                return []
            if first - pos >= _LONG_LINE:
                # Few, long lines: bytes.split scans at ~0.7 GB/s with CRLF,
                # memchr at ~25 GB/s. Find them one by one, copying each once.
                lines = []
                start, size, last = pos, len(delimiter), delimiter[-1:]
                # One view for the batch: making a memoryview of a bytearray
                # costs as much as copying a few KiB out of it.
                with memoryview(data) as view:
                    while first >= 0 and (max_length is None or first - start <= max_length):
                        lines.append(view[start:first].tobytes())
                        start = first + size
                        # _find_bytes's first probe, inline: a call costs more
                        # than the memchr over a long line.
                        first = data.find(last, start + size - 1) - size + 1
                        if first >= 0 and not data.startswith(delimiter, first):
                            first = _find_bytes(data, delimiter, first + 1)
                if not lines:
                    self._too_long(max_length or 0)
                self._search_key = None  # it may have searched beyond the cursor
                self._skip(start)
                return lines
            # Split everything and drop the unterminated rest: splitting only
            # up to rfind()'s match mis-splits a delimiter that can overlap
            # itself (b"aa", CRLFCRLF), whose last match need not be one the
            # leftmost parse makes.
            lines = self._copy(pos, len(data)).split(delimiter)
            end = len(data) - len(lines.pop())  # the unterminated rest stays
            ends = None
        else:
            lines, ends = [], []
            while (span := self._find(delimiter))[0] >= 0:  # one match at a time, still linear
                lines.append(self._copy(self._pos, span[0]))
                ends.append(span[1])
                self._pos = span[1]
            self._pos = pos
            if not lines:
                if max_length is not None:
                    self._check_partial(delimiter, max_length)
                return []
            end = ends[-1]
        if max_length is not None and max(map(len, lines)) > max_length:
            keep = next(i for i, line in enumerate(lines) if len(line) > max_length)
            if keep == 0:
                self._too_long(max_length)
            del lines[keep:]
            end = ends[keep - 1] if ends else pos + sum(map(len, lines)) + keep * len(delimiter)
            self._search_key = None  # what was searched lies beyond the new cursor
        self._skip(end)  # not _take: that would copy the bytes just split, for nothing
        return lines

    # -- internals ----------------------------------------------------------

    def _find(self, delimiter: Delimiter) -> tuple[int, int]:
        """Locate the next delimiter after the cursor: (start, end) or (-1, -1)."""
        data = self._data
        pos = self._pos
        begin = max(pos, self._searched) if delimiter == self._search_key else pos
        if isinstance(delimiter, bytes):
            if not delimiter:
                raise ValueError("the delimiter must not be empty")
            longest = len(delimiter)
            start = data.find(delimiter[-1:], begin + longest - 1) - longest + 1
            if start >= 0 and not data.startswith(delimiter, start):
                start = _find_bytes(data, delimiter, start + 1)
            if start >= 0:
                return start, start + longest
        else:
            pattern = self._pattern(delimiter)
            longest = max(map(len, delimiter))
            match = pattern.search(data, begin)
            if match is not None:
                start = match.start()
                waiting = self._undecided(delimiter, begin, start, match.group())
                if waiting < 0:
                    return start, match.end()
                self._search_key = delimiter
                self._searched = waiting
                return -1, -1
        self._search_key = delimiter
        self._searched = max(pos, len(data) - longest + 1)
        return -1, -1

    def _undecided(
        self, delimiters: tuple[bytes, ...], begin: int, start: int, found: bytes
    ) -> int:
        """Where a delimiter could still start once more bytes arrive, or -1.

        Only the last bytes of the buffer can be a proper prefix of a
        delimiter, so only they are looked at.
        """
        data = self._data
        longest = max(map(len, delimiters))
        for index in range(max(begin, len(data) - longest + 1), start + 1):
            tail = data[index:]
            for candidate in delimiters:
                if index == start and candidate == found:
                    break
                if len(candidate) > len(tail) and candidate.startswith(tail):
                    return index
        return -1

    def _pattern(self, delimiters: tuple[bytes, ...]) -> re.Pattern[bytes]:
        pattern = self._patterns.get(delimiters)
        if pattern is None:
            if not delimiters or not all(delimiters):
                raise ValueError("delimiters must be non-empty")
            pattern = re.compile(b"|".join(map(re.escape, delimiters)))
            self._patterns[delimiters] = pattern
        return pattern

    def _check_partial(self, delimiter: Delimiter, max_length: int) -> None:
        """Raise if the undelimited tail is too long whatever bytes come next."""
        data = self._data
        length = len(data) - self._pos
        if length <= max_length:
            return
        # A trailing proper prefix of a delimiter may yet become that delimiter.
        slack = 0
        for candidate in (delimiter,) if isinstance(delimiter, bytes) else delimiter:
            for size in range(min(len(candidate) - 1, length), slack, -1):
                if data.endswith(candidate[:size]):
                    slack = size
                    break
        if length - slack > max_length:
            self._too_long(max_length)

    def _too_long(self, max_length: int) -> None:
        raise RemoteProtocolError(
            f"line longer than the limit of {max_length} bytes", offset=self.offset
        )

    def _copy(self, start: int, end: int) -> bytes:
        if end - start < _VIEW_THRESHOLD:
            return bytes(self._data[start:end])
        with memoryview(self._data) as view:
            return view[start:end].tobytes()

    def _take(self, stop: int, resume: int) -> bytes:
        """Return the bytes from the cursor to ``stop``; move the cursor to ``resume``."""
        out = self._copy(self._pos, stop)
        self._pos = resume
        if not self._txn:
            self._drop_read()
        return out

    def _skip(self, end: int) -> None:
        """Move the cursor to ``end`` without copying what it passes."""
        self._pos = end
        if not self._txn:
            self._drop_read()

    def _drop_read(self) -> None:
        pos = self._pos
        if pos:
            del self._data[:pos]
            self._discarded += pos
            self._searched -= pos
            self._pos = 0
