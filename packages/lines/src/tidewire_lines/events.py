"""The events of the line protocol: lines, raw bytes, and the end of the stream."""

from __future__ import annotations

from tidewire import ConnectionClosed, Event

__all__ = ["Line", "LinesClosed", "RawData", "TextLine"]


class Line(Event):
    """One line, without its delimiter.

    Received from :meth:`~tidewire.Connection.next_event` in line
    mode, and accepted by :meth:`~tidewire.Connection.send`, which
    appends the delimiter.

    Attributes:
        line: The bytes of the line. A received line is never longer than the
            connection's ``max_line_length`` and never contains a delimiter.
    """

    line: bytes


class TextLine(Event):
    """One line as text, without its delimiter: the line event of text mode.

    Received from, and sent through, a
    :class:`~tidewire_lines.TextLineConnection`, which decodes and encodes it
    with its encoding.

    Attributes:
        text: The line.
    """

    text: str


class RawData(Event):
    """Bytes taken verbatim from the stream in raw mode, or sent verbatim.

    See :meth:`~tidewire_lines.BaseLineConnection.set_raw_mode` for when they are
    received. When sent, only :attr:`data` matters: it is written unchanged.

    Attributes:
        data: The bytes.
        remaining: For a counted raw block, how many bytes of the block are
            still to come after these; ``0`` on its last (or only) piece,
            after which the connection is back in line mode. ``None`` in
            open-ended raw mode.
    """

    data: bytes
    remaining: int | None = None


class LinesClosed(ConnectionClosed):
    """The peer closed its side; every complete line and raw block was delivered.

    Nothing received is ever dropped: whatever the peer sent after the last
    delivered event is in :attr:`leftover`.

    Attributes:
        leftover: Bytes received after the last delivered event: in line
            mode, an unterminated last line (it may end with part of a
            delimiter); in a counted raw block delivered whole, the part of the
            block that arrived. Empty if the stream ended cleanly.
        missing: In a counted raw block, how many of its bytes never arrived;
            ``0`` otherwise.
    """

    leftover: bytes = b""
    missing: int = 0

    @property
    def clean(self) -> bool:
        """True if the stream ended between two events, with nothing left over or missing."""
        return not self.leftover and not self.missing
