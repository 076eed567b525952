"""The line protocol state machine: :class:`LineConnection`."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from tidewire import (
    DEFAULT_MAX_BUFFER_SIZE,
    NEED_DATA,
    Connection,
    Delimiter,
    Event,
    LocalProtocolError,
    NeedData,
    ReceiveState,
    RemoteProtocolError,
)

from .events import Line, LinesClosed, RawData

__all__ = ["BaseLineConnection", "LineConnection", "Mode"]

ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)

_BYTES_LIKE = (bytes, bytearray, memoryview)


class Mode(enum.Enum):
    """How a :class:`LineConnection` reads the bytes it receives next."""

    LINES = "LINES"
    """Split the stream into :class:`~tidewire_lines.Line` events (the initial mode)."""
    RAW = "RAW"
    """Hand the bytes over verbatim as :class:`~tidewire_lines.RawData` events."""


class BaseLineConnection(Connection[ReceivedT, SentT]):
    r"""What :class:`LineConnection` and :class:`~tidewire_lines.TextLineConnection` share.

    The delimiters and limits, raw mode, end of file and the checks on
    outgoing lines live here; the subclasses only build their line events.
    Not used directly.

    Args:
        delimiter: As for :class:`LineConnection`.
        max_line_length: As for :class:`LineConnection`.
        max_raw_size: As for :class:`LineConnection`.

    Raises:
        ValueError: an empty delimiter or a negative limit.
    """

    def __init__(
        self,
        delimiter: Delimiter = b"\r\n",
        *,
        max_line_length: int = 65536,
        max_raw_size: int = DEFAULT_MAX_BUFFER_SIZE,
    ) -> None:
        delimiters = (delimiter,) if isinstance(delimiter, bytes) else tuple(delimiter)
        if not delimiters or not all(isinstance(d, bytes) and d for d in delimiters):
            raise ValueError(f"delimiters must be non-empty bytes, not {delimiter!r}")
        if max_line_length < 0 or max_raw_size < 0:
            raise ValueError("max_line_length and max_raw_size must not be negative")
        longest = max(map(len, delimiters))
        # The limits below already bound every incomplete event, so the
        # base's buffered-bytes cap only needs to sit above them.
        super().__init__(max_buffer_size=max(max_raw_size, max_line_length + longest))
        self._delimiters = delimiters
        self._delimiter: Delimiter = delimiters[0] if len(delimiters) == 1 else delimiters
        self._max_line_length = max_line_length
        self._max_raw_size = max_raw_size
        # Lines split from the buffer but not yet returned, last line first
        # (so pop() is O(1)); a switch to raw mode puts them back in the
        # buffer. Tuple delimiters are read one line at a time instead.
        self._pending: list[bytes] = []
        self._batch = len(delimiters) == 1
        self._mode = Mode.LINES
        self._raw_remaining: int | None = None
        self._chunked = False
        self._line_start = 0  # where the line being read starts, one at a time

    # -- configuration and mode ----------------------------------------------

    @property
    def delimiters(self) -> tuple[bytes, ...]:
        """The delimiters, in order of preference; sending uses the first."""
        return self._delimiters

    @property
    def max_line_length(self) -> int:
        """The longest line accepted from the peer, in bytes, without the delimiter."""
        return self._max_line_length

    @property
    def max_raw_size(self) -> int:
        """The largest counted raw block delivered whole, in bytes; larger ones come in pieces."""
        return self._max_raw_size

    @property
    def mode(self) -> Mode:
        """How the next received bytes are read, as :attr:`Mode.LINES` or :attr:`Mode.RAW`.

        A counted raw block sets it back to :attr:`Mode.LINES` when its last
        byte is returned.
        """
        return self._mode

    @property
    def raw_remaining(self) -> int | None:
        """Bytes of the current counted raw block not yet returned; ``None`` otherwise."""
        return self._raw_remaining

    def peek_unparsed(self, size: int | None = None) -> bytes:
        """Return up to ``size`` received bytes not yet parsed (all if ``None``), keeping them.

        After a line too long, they start with that line: a LineReceiver-style
        ``lineLengthExceeded(line)`` callback gets its first bytes from here,
        the same however the bytes were split. Lines already split off
        (:attr:`lines_ready`) are not included.
        """
        return self._buffer.peek(size)

    @property
    def lines_ready(self) -> int:
        """How many received lines are already split off and wait to be returned.

        The next that many calls of :meth:`~tidewire.Connection.next_event`
        (or steps of ``lines()``) return them without more data. An adapter
        answering a burst of lines uses it to write the answers together, once
        the burst's last line is handed over. Lines are split in bursts only
        with a single delimiter; with several it is always 0.
        """
        return len(self._pending)

    def set_raw_mode(self, size: int | None = None, *, chunked: bool = False) -> None:
        """Receive the following bytes verbatim, as :class:`RawData` events.

        Call it between two :meth:`~tidewire.Connection.next_event` calls,
        typically right after the line that announced the block. The bytes
        after the last event returned, whether already received or not, are
        the raw bytes: lines split but not yet returned are given back to the
        stream, in order.

        - ``size=None``: open-ended. Each
          :meth:`~tidewire.Connection.next_event` returns every byte buffered
          so far as one :class:`RawData` (``remaining`` is ``None``), or
          :data:`~tidewire.NEED_DATA`, until :meth:`set_line_mode`.
        - ``size=n``: a block of exactly ``n`` bytes (a memcached value, an
          SMTP ``BDAT`` chunk). By default
          :meth:`~tidewire.Connection.next_event` returns
          :data:`~tidewire.NEED_DATA` until all ``n`` have arrived, then one
          ``RawData(data, remaining=0)``; ``n`` may be at most
          ``max_raw_size``. With ``chunked=True`` it returns the block in
          pieces as the bytes arrive, each carrying how many are still to
          come, the last with ``remaining=0``; any ``n`` is allowed and
          nothing is buffered. ``n=0`` gives one empty ``RawData``. Line
          mode then resumes by itself with the next byte.

        At end of file inside a counted block, :class:`LinesClosed` carries
        the bytes of the block that arrived but were not returned (whole
        mode) in ``leftover``, and the count that never arrived in
        ``missing``. In open-ended mode every byte has been returned, so the
        stream ends cleanly.

        Calling it again replaces the current raw mode, abandoning what is
        left of a counted block (those bytes become the new raw bytes).

        Args:
            size: The length of the block, or ``None`` for open-ended raw mode.
            chunked: Return a counted block in pieces as it arrives.

        Raises:
            LocalProtocolError: ``size`` is not a non-negative ``int``, or
                larger than ``max_raw_size`` without ``chunked``, or the
                receiving side is already closed or failed. Nothing changed.
        """
        self._check_open()
        if size is not None:
            if type(size) is not int or size < 0:
                raise LocalProtocolError(f"raw block size must be an int >= 0, not {size!r}")
            if size > self._max_raw_size and not chunked:
                raise LocalProtocolError(
                    f"a raw block of {size} bytes is larger than max_raw_size"
                    f" ({self._max_raw_size}): receive it in pieces,"
                    f" with set_raw_mode({size}, chunked=True)"
                )
        self._give_back_pending()
        self._mode = Mode.RAW
        self._raw_remaining = size
        self._chunked = chunked

    def set_line_mode(self) -> None:
        """Go back to reading lines, starting with the next byte not yet returned.

        Needed after open-ended raw mode; after a counted block it happens by
        itself. In the middle of a counted block, the rest of the block is
        read as lines. In line mode it does nothing.

        Raises:
            LocalProtocolError: the receiving side is already closed or
                failed. Nothing changed.
        """
        self._check_open()
        self._mode = Mode.LINES
        self._raw_remaining = None

    def _check_open(self) -> None:
        if self.receive_state is ReceiveState.CLOSED or self.receive_state is ReceiveState.ERROR:
            raise LocalProtocolError(
                f"cannot change the receive mode: the receiving side is {self.receive_state.value}"
            )

    def _give_back_pending(self) -> None:
        """Put the lines split off but not yet returned back in the buffer, as bytes."""
        pending = self._pending
        if not pending:
            return
        # A batch only splits on a single delimiter, so joining with it
        # rebuilds exactly the bytes that were received.
        delimiter = self._delimiters[0]
        self._buffer.unread(delimiter.join(reversed(pending)) + delimiter)
        pending.clear()  # in place: LineConnection.lines() may hold this list
        # A protocol that switches modes inside a batch would make every
        # batch re-split the rest of the buffer (quadratic); one line at a
        # time is linear whatever the switching pattern.
        self._batch = False

    # -- receiving --------------------------------------------------------------

    def _next_line(self) -> bytes | NeedData:
        """Split off the next line, or lines (the rest go to ``_pending``); return the first."""
        buffer = self._buffer
        try:
            if self._batch:
                if not buffer:
                    return NEED_DATA  # the usual answer between two chunks, made cheap
                lines = buffer.read_lines(self._delimiter, max_length=self._max_line_length)
                if not lines:
                    return NEED_DATA
                lines.reverse()
                self._pending = lines
                return lines.pop()
            self._line_start = buffer.offset
            line = buffer.read_until(self._delimiter, max_length=self._max_line_length)
            if line is None and self.receive_state is ReceiveState.EOF:
                line = self._read_final_line()
        except RemoteProtocolError:
            raise self._line_too_long() from None
        return NEED_DATA if line is None else line

    def _line_offset(self, line: bytes) -> int:
        """Where ``line``, the line just returned, starts in the stream."""
        if not self._batch:
            return self._line_start
        # The buffer's cursor is past the whole batch: step back over the
        # lines not yet returned, then over this one.
        size = len(self._delimiters[0])
        unread = sum(map(len, self._pending)) + len(self._pending) * size
        return self._buffer.offset - unread - len(line) - size

    def _read_final_line(self) -> bytes | None:
        # After end of file no delimiter can grow any longer, so one that
        # was waiting for the next byte, like b"\r" before a possible
        # b"\r\n", ends the line. Only delimiters present can match.
        tail = self._buffer.peek()
        present = tuple(d for d in self._delimiters if d in tail)
        if not present:
            return None
        return self._buffer.read_until(present, max_length=self._max_line_length)

    def _line_too_long(self) -> RemoteProtocolError:
        buffer = self._buffer  # its cursor is at the start of the long line
        tail = buffer.peek()
        ends = [end for end in map(tail.find, self._delimiters) if end >= 0]
        limit = self._max_line_length
        what = (
            f"a line of {min(ends)} bytes"
            if ends
            else f"no delimiter in the first {len(tail)} bytes of a line"
        )
        return RemoteProtocolError(f"{what}; max_line_length is {limit}", offset=buffer.offset)

    def _next_raw(self) -> RawData | NeedData:
        buffer = self._buffer
        remaining = self._raw_remaining
        if remaining is None:
            return RawData(buffer.read_all()) if buffer else NEED_DATA
        if self._chunked:
            data = buffer.read_at_most(remaining)
            if not data and remaining:
                return NEED_DATA
            remaining -= len(data)
        else:
            block = buffer.read_exactly(remaining)
            if block is None:
                return NEED_DATA
            data, remaining = block, 0
        if remaining:
            self._raw_remaining = remaining
        else:
            self._mode = Mode.LINES
            self._raw_remaining = None
        return RawData(data, remaining)

    def _end_of_stream(self) -> LinesClosed:
        leftover = self._buffer.read_all()
        remaining = self._raw_remaining
        missing = 0 if remaining is None else remaining - len(leftover)
        return LinesClosed(leftover, missing)

    # -- sending ----------------------------------------------------------------

    def _line_bytes(self, line: object, kind: Callable[[Any], Event], value: object) -> bytes:
        """``line`` with the delimiter appended, if the peer will read it back as sent.

        ``kind(value)`` is the event being sent, built for an error message
        only: the fast paths never build one.
        """
        if type(line) is not bytes:
            if not isinstance(line, _BYTES_LIKE):
                raise LocalProtocolError(f"a line must be bytes, not {type(line).__name__}")
            line = bytes(line)
        delimiters = self._delimiters
        data = line + delimiters[0]
        end = len(line)
        for delimiter in delimiters:
            # find() < end also catches a line whose end forms a delimiter
            # with the start of the one appended (b"a" before b"aa").
            if 0 <= data.find(delimiter) < end:
                raise LocalProtocolError(
                    f"cannot send {kind(value)!r}: it would be read as more than one line"
                    f" (it contains the delimiter {delimiter!r})"
                )
        return data

    def _raw_bytes(self, event: RawData) -> bytes:
        if not isinstance(event.data, _BYTES_LIKE):
            raise LocalProtocolError(f"raw data must be bytes, not {type(event.data).__name__}")
        return bytes(event.data)


class LineConnection(BaseLineConnection[Line | RawData, Line | RawData]):
    r"""Either end of a delimited line protocol (SMTP, IRC, POP3, memcached, NDJSON...).

    Received bytes come out of :meth:`~tidewire.Connection.next_event` as
    :class:`Line` events, one per line, without the delimiter. Between two
    calls the caller may switch to raw mode
    (:meth:`~BaseLineConnection.set_raw_mode`) to take a block of bytes
    verbatim, then back (:meth:`~BaseLineConnection.set_line_mode`, or by
    itself after a counted block); bytes already received are handed over
    in order, never lost or parsed twice.

    Limits hold however the input is split: a line longer than
    ``max_line_length`` raises :class:`~tidewire.RemoteProtocolError` as soon
    as it can no longer fit, before its delimiter arrives, and the receiving
    side stays failed (it never resynchronises on the tail of the long line).
    The complete lines received before it are still delivered first.

    After :meth:`~tidewire.Connection.receive_eof` the last event is a
    :class:`LinesClosed`, which carries any bytes left over (an unterminated
    last line) and says whether the stream ended cleanly. End of file is
    never an error.

    :meth:`~tidewire.Connection.send` accepts :class:`Line` (the delimiter
    is appended; a line that would be read back differently, because it
    contains a delimiter, is refused) and :class:`RawData` (written
    verbatim).

    Args:
        delimiter: The bytes that end a line, or a tuple of several: a line
            then ends at the earliest match, and at equal starts the one
            listed first wins, so ``(b"\r\n", b"\n")`` reads CRLF or bare
            LF lines. A delimiter that could still grow into one listed before
            it waits for the next byte (``(b"\r\n", b"\r")`` waits after a
            final ``\r``), except after end of file. Sending uses the first.
            Must not be empty.
        max_line_length: The longest line accepted from the peer, in bytes,
            not counting the delimiter.
        max_raw_size: The largest counted raw block that
            :meth:`~BaseLineConnection.set_raw_mode` may deliver whole (it is
            buffered until complete). Larger blocks must be received with ``chunked=True``.

    Raises:
        ValueError: an empty delimiter or a negative limit.
    """

    def _next_event(self) -> Line | RawData | NeedData:
        # The hot path: one pop and one event per call.
        pending = self._pending
        if pending:
            return Line(pending.pop())
        if self._mode is Mode.RAW:
            return self._next_raw()
        line = self._next_line()
        return line if line is NEED_DATA else Line(line)

    def lines(self) -> Iterator[bytes]:
        """Yield the received lines as bytes, without building an event per line.

        The fast path for line-heavy protocols: the same lines, in the same
        order, that :meth:`~tidewire.Connection.next_event` would return as
        :class:`Line` events, at a fraction of the cost, and mixable with it.
        The iterator stops when the next thing is not a line: more data is
        needed, raw mode is on (:meth:`~BaseLineConnection.set_raw_mode`
        may be called between two lines, and the lines not yet yielded go to
        the raw block, as with ``next_event()``), or the stream ended. Call
        ``next_event()`` then to see which (:data:`~tidewire.NEED_DATA`, a
        :class:`RawData`, or the :class:`LinesClosed` it returns on every
        call after end of file).

        Raises:
            RemoteProtocolError: as ``next_event()``, with the same terminal
                state: a line too long, after the lines before it.
        """
        while True:
            pending = self._pending
            while pending:  # set_raw_mode() empties it in place
                yield pending.pop()
            if self._mode is Mode.RAW or not self._buffer:
                return  # an empty buffer holds no line: skip asking (a request-reply loop's case)
            event = self.next_event()  # a new batch, through the base's error handling
            if not isinstance(event, Line):
                return
            yield event.line

    def send_line(self, line: bytes) -> None:
        """Queue ``line`` and the first delimiter: ``send(Line(line))`` without building the event.

        The fast path for line-heavy protocols, as :meth:`lines` is for
        receiving; the bytes and the checks are those of
        :meth:`~tidewire.Connection.send`.

        Raises:
            LocalProtocolError: ``line`` is not bytes, or contains a
                delimiter. Nothing changed.
        """
        self._write(self.line_bytes(line))

    def line_bytes(self, line: bytes) -> bytes:
        """Return the bytes :meth:`send_line` would queue, checked the same way, queueing nothing.

        For an adapter that writes each line as it is sent (a
        ``LineReceiver``-style ``sendLine``): it skips the queue and
        :meth:`~tidewire.Connection.data_to_send`. Bytes it returns must be
        written before anything queued later.

        Raises:
            LocalProtocolError: as :meth:`send_line`.
        """
        delimiter = self._delimiter
        if type(line) is bytes and type(delimiter) is bytes:
            # The common case in two C calls: the only delimiter in the
            # result must be the one appended.
            data = line + delimiter
            if data.find(delimiter) == len(line):
                return data
        return self._line_bytes(line, Line, line)  # the general case, and the errors

    def _send(self, event: Line | RawData) -> None:
        if isinstance(event, Line):
            self.send_line(event.line)
        elif isinstance(event, RawData):
            self._write(self._raw_bytes(event))
        else:
            raise LocalProtocolError(f"cannot send {event!r}: expected a Line or RawData")
