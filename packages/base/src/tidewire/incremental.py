"""The skeleton of a parser that resumes where the input stopped, for cores to build on.

A core's parser pulls bytes from its connection's
:class:`~tidewire.ReceiveBuffer`, parses every complete item they hold in one
pass, and queues them. :class:`IncrementalParser` does what every such
parser does around its own ``_parse``: keeping the one partial item that
the last pass left (and how many bytes it needs before another pass can
progress), growing a partial line without rescanning it, queueing a
:class:`~tidewire.RemoteProtocolError` after the items parsed before it,
and applying ``max_buffer_size`` to whole items so that the verdict never
depends on how the input was split (:func:`fill_within`).
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Callable
from typing import Any

from .buffer import ReceiveBuffer
from .errors import RemoteProtocolError

__all__ = ["IncrementalParser", "fill_within"]


def fill_within(
    buffer: ReceiveBuffer,
    limit: int,
    value_start: Callable[[], int],
    fill: Callable[[int], bool],
    too_big: Callable[[int], RemoteProtocolError],
) -> bool:
    """Run ``fill(visible)`` over the buffer, never past ``limit`` bytes of one item.

    ``max_buffer_size`` is a rule about the stream: an item spans at most
    ``limit`` bytes from its first one (``value_start()``, a stream offset).
    The parser is shown no byte past that, so what it finds (items and
    errors) is the same however the input was split; an item still
    incomplete there, with more bytes waiting, is ``too_big(start)``.
    Returns what ``fill`` returned: whether anything was queued.
    """
    while True:
        available = len(buffer)
        if not available:
            return False
        position = buffer.offset
        start = value_start()
        visible = min(available, start + limit - position)
        if visible <= 0:
            raise too_big(start)
        if fill(visible):
            return True
        if visible == available:
            return False
        if buffer.offset == position:
            # Nothing taken: what is incomplete needs bytes past its limit.
            raise too_big(start)


class IncrementalParser(abc.ABC):
    """Parses items out of a receive buffer into :attr:`ready`, resuming where input stopped.

    A subclass writes ``_parse(data)``, which parses ``data`` from its
    start, appends every complete item to :attr:`ready`, and before
    returning either consumes all of ``data`` or leaves the rest as one of:
    ``self._rest`` (a partial item, with ``self._need``, how many bytes it
    must hold before parsing it again can progress) or ``self._acc`` (a
    partial line, as a ``bytearray``). ``self._offset`` is the stream offset
    of ``data[0]`` on entry, and ``_parse`` keeps it that of the first byte
    not consumed; ``self._start`` is where the current top-level item
    began. It raises :class:`~tidewire.RemoteProtocolError` for bad input,
    which is queued after the items found before it; :meth:`_payload`
    takes the payload after a length header. A subclass also writes
    :meth:`_grow_line` (checks for a partial line), :meth:`_too_big`,
    :meth:`_no_crlf` and, when it keeps more partial state, :attr:`idle`.

    Args:
        buffer: The connection's receive buffer.
        max_buffer_size: The most bytes one item may span; ``None`` for no limit.
    """

    __slots__ = ("_acc", "_buffer", "_max_size", "_need", "_offset", "_rest", "_start", "ready")

    def __init__(self, buffer: ReceiveBuffer, max_buffer_size: int | None) -> None:
        self._buffer = buffer
        self._max_size = max_buffer_size
        self._rest = b""  # pulled from the buffer, not parsed yet: one partial item
        self._offset = 0  # stream offset of _rest[0] (or _acc[0])
        self._need = 0  # bytes _rest + buffer must hold before parsing can progress
        self._acc: bytearray | None = None  # a partial line, grown without rescanning
        self._start = 0  # stream offset where the current top-level item began
        # Items parsed and not taken yet, and maybe an error to raise after them.
        self.ready: deque[Any] = deque()

    @property
    def idle(self) -> bool:
        """Whether no item is partly received (end of file here is clean)."""
        return not (self._rest or self._acc)

    def fill(self) -> bool:
        """Parse what the buffer holds; return whether anything was queued.

        Raises:
            RemoteProtocolError: bad bytes or a limit, with nothing queued
                before it (otherwise the error is queued after the items).
        """
        limit = self._max_size
        if limit is None:
            return self._fill(len(self._buffer))
        return fill_within(self._buffer, limit, self._value_start, self._fill, self._too_big)

    def _value_start(self) -> int:
        return self._buffer.offset if self.idle else self._start

    @abc.abstractmethod
    def _too_big(self, start: int) -> RemoteProtocolError:
        """The error for an item that spans more than ``max_buffer_size`` from ``start``."""

    @abc.abstractmethod
    def _grow_line(self, acc: bytearray, new: bytes) -> None:
        """Append ``new``, which holds no LF, to the partial line ``acc``, or raise."""

    @abc.abstractmethod
    def _no_crlf(self, offset: int) -> RemoteProtocolError:
        """The error for a payload not followed by CRLF (at stream offset ``offset``)."""

    def _payload(self, data: bytes, pos: int, eol: int, length: int) -> bytes | None:
        """The ``length`` bytes after the header line ``data[pos:eol]``, checked for their CRLF.

        ``None`` if they have not all arrived: the item from ``pos`` on is
        then kept, with the bytes it needs.
        """
        end = eol + 2 + length
        if end + 2 > len(data):
            self._need = end + 2 - pos
            self._rest = data[pos:]
            return None
        if data[end] != 13 or data[end + 1] != 10:
            raise self._no_crlf(self._offset + end)
        return data[eol + 2 : end]

    @abc.abstractmethod
    def _parse(self, data: bytes) -> None:
        """Parse ``data`` as described in the class docstring."""

    def _fill(self, visible: int) -> bool:
        """Parse the first ``visible`` bytes of the buffer; return whether anything was queued."""
        buffer = self._buffer
        rest = self._rest
        if self._need > len(rest) + visible:
            return False
        acc = self._acc
        new = buffer.read_all() if visible == len(buffer) else buffer.read_at_most(visible)
        if acc is not None:
            if new.find(b"\n") < 0:
                self._grow_line(acc, new)
                return False
            acc += new
            data = bytes(acc)
            self._acc = None
        else:
            data = rest + new if rest else new
        self._rest = b""
        self._need = 0
        ready = self.ready
        before = len(ready)
        try:
            self._parse(data)
        except RemoteProtocolError as error:
            if len(ready) == before:
                raise
            ready.append(error)
        return len(ready) > before
