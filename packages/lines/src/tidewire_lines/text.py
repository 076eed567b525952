"""Text mode: :class:`TextLineConnection` decodes and encodes lines for you."""

from __future__ import annotations

import codecs

from tidewire import (
    DEFAULT_MAX_BUFFER_SIZE,
    NEED_DATA,
    Delimiter,
    LocalProtocolError,
    NeedData,
    RemoteProtocolError,
)

from .connection import BaseLineConnection, Mode
from .events import RawData, TextLine

__all__ = ["TextLineConnection"]


class TextLineConnection(BaseLineConnection[TextLine | RawData, TextLine | RawData]):
    r"""A :class:`~tidewire_lines.LineConnection` whose lines are ``str``.

    Everything works as in :class:`~tidewire_lines.LineConnection` (the
    delimiters, limits, raw mode and end of file are the same, and limits
    count bytes), except that received lines come out as
    :class:`~tidewire_lines.TextLine` events, decoded strictly, and
    :meth:`~tidewire.Connection.send` takes :class:`~tidewire_lines.TextLine`
    and encodes it. Raw data and the ``leftover`` of
    :class:`~tidewire_lines.LinesClosed` stay bytes.

    Delimiters are found in the bytes before decoding, so the encoding must
    encode them as themselves: UTF-8, ASCII, Latin-1 and the like, not UTF-16.

    A line that does not decode raises :class:`~tidewire.RemoteProtocolError`
    from :meth:`~tidewire.Connection.next_event` when its turn comes (the lines
    before it are delivered), with the offset of the bad byte in the stream.

    Args:
        delimiter: As for :class:`~tidewire_lines.LineConnection`.
        encoding: The name of the encoding of every line.
        max_line_length: As for :class:`~tidewire_lines.LineConnection`, in bytes.
        max_raw_size: As for :class:`~tidewire_lines.LineConnection`.

    Raises:
        ValueError: an unknown encoding, an empty delimiter or a negative limit.
    """

    def __init__(
        self,
        delimiter: Delimiter = b"\r\n",
        *,
        encoding: str = "utf-8",
        max_line_length: int = 65536,
        max_raw_size: int = DEFAULT_MAX_BUFFER_SIZE,
    ) -> None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        super().__init__(delimiter, max_line_length=max_line_length, max_raw_size=max_raw_size)
        self._encoding = encoding

    @property
    def encoding(self) -> str:
        """The encoding of every line, as given."""
        return self._encoding

    def _next_event(self) -> TextLine | RawData | NeedData:
        pending = self._pending
        if pending:
            return self._decode(pending.pop())
        if self._mode is Mode.RAW:
            return self._next_raw()
        line = self._next_line()
        return line if line is NEED_DATA else self._decode(line)

    def _decode(self, line: bytes) -> TextLine:
        try:
            return TextLine(line.decode(self._encoding))
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(
                f"a line is not valid {self._encoding}: {exc.reason} at byte {exc.start}"
                " of the line",
                offset=self._line_offset(line) + exc.start,
            ) from None

    def send_line(self, text: str) -> None:
        """Queue ``text``, encoded, and the first delimiter: ``send(TextLine(text))`` in one call.

        Raises:
            LocalProtocolError: ``text`` is not a ``str``, does not encode,
                or contains a delimiter. Nothing changed.
        """
        self._write(self._encoded_line(text))

    def _send(self, event: TextLine | RawData) -> None:
        if isinstance(event, TextLine):
            self._write(self._encoded_line(event.text))
        elif isinstance(event, RawData):
            self._write(self._raw_bytes(event))
        else:
            raise LocalProtocolError(f"cannot send {event!r}: expected a TextLine or RawData")

    def _encoded_line(self, text: object) -> bytes:
        if not isinstance(text, str):
            raise LocalProtocolError(f"a text line must be str, not {type(text).__name__}")
        try:
            line = text.encode(self._encoding)
        except UnicodeEncodeError as exc:
            raise LocalProtocolError(
                f"cannot send {TextLine(text)!r}: {exc.reason} in {self._encoding}"
            ) from None
        return self._line_bytes(line, TextLine, text)
