"""tidewire.incremental: the skeleton the RESP reply and command parsers share."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import ReceiveBuffer, RemoteProtocolError
from tidewire.incremental import IncrementalParser
from tidewire.testing import chunkings

MAX_LINE = 8


class BlockParser(IncrementalParser):
    """Lines of at most MAX_LINE bytes; ``#n`` CRLF, n bytes, CRLF a block; ``!`` is bad."""

    def _too_big(self, start: int) -> RemoteProtocolError:
        return RemoteProtocolError(f"too big at {start}", offset=start)

    def _no_crlf(self, offset: int) -> RemoteProtocolError:
        return RemoteProtocolError("no CRLF", offset=offset)

    def _grow_line(self, acc: bytearray, new: bytes) -> None:
        acc += new
        if len(acc) > MAX_LINE:
            raise RemoteProtocolError("line too long", offset=self._offset)

    def _parse(self, data: bytes) -> None:
        pos = 0
        try:
            while pos < len(data):
                self._start = self._offset + pos
                eol = data.find(b"\n", pos)
                if eol < 0:
                    self._grow_line(bytearray(), data[pos:])
                    self._acc = bytearray(data[pos:])
                    return
                line = data[pos:eol]
                if b"!" in line:
                    raise RemoteProtocolError("bad line", offset=self._offset + pos)
                if line.startswith(b"#"):
                    # The payload after the header: CRLF, the bytes, CRLF.
                    payload = self._payload(data, pos, eol - 1, int(line[1:-1]))
                    if payload is None:
                        return
                    self.ready.append(payload)
                    pos = eol + 3 + len(payload)
                    continue
                self.ready.append(line)
                pos = eol + 1
        finally:
            self._offset += pos


def parse(chunks: list[bytes], limit: int | None = None) -> tuple[list[Any], str | None]:
    buffer = ReceiveBuffer()
    parser = BlockParser(buffer, limit)
    items: list[Any] = []
    for chunk in chunks:
        buffer.append(chunk)
        try:
            while parser.fill():
                while parser.ready:
                    item = parser.ready.popleft()
                    if isinstance(item, RemoteProtocolError):
                        return items, str(item)
                    items.append(item)
        except RemoteProtocolError as error:
            return items, str(error)
    assert parser.idle
    return items, None


STREAM = b"ab\n#5\r\nx\ny\nz\r\ncd\n#0\r\n\r\n"


@given(st.data())
def test_the_same_items_however_split(data: st.DataObject) -> None:
    assert parse(data.draw(chunkings(STREAM))) == ([b"ab", b"x\ny\nz", b"cd", b""], None)


@given(st.data())
def test_an_error_comes_after_the_items_before_it_however_split(data: st.DataObject) -> None:
    items, error = parse(data.draw(chunkings(b"ab\ncd\n!\nnever\n")))
    assert items == [b"ab", b"cd"] and error == "bad line (at byte 6)"


def test_a_partial_line_is_grown_and_checked() -> None:
    assert parse([b"ab", b"cd", b"e\n"]) == ([b"abcde"], None)
    assert parse([b"abcd", b"efghij"]) == ([], "line too long (at byte 0)")


@given(st.data())
def test_max_buffer_size_applies_to_whole_items_however_split(data: st.DataObject) -> None:
    stream = b"ab\n#4\r\nwxyz\r\n" + b"#9\r\n123456789\r\n"
    too_big = "too big at 13 (at byte 13)"
    assert parse(data.draw(chunkings(stream)), limit=10) == ([b"ab", b"wxyz"], too_big)
    line = b"abcdefgh\nz\n"
    assert parse(data.draw(chunkings(line)), limit=8) == ([], "too big at 0 (at byte 0)")


def is_idle(parser: IncrementalParser) -> bool:
    return parser.idle


def test_a_parser_waits_for_the_bytes_it_needs() -> None:
    buffer = ReceiveBuffer()
    parser = BlockParser(buffer, None)
    buffer.append(b"#4\r\nab")
    assert not parser.fill()
    assert not is_idle(parser)
    buffer.append(b"c")
    assert not parser.fill()  # still one short: not parsed again
    buffer.append(b"d\r")
    assert not parser.fill()
    buffer.append(b"\n")
    assert parser.fill()
    assert list(parser.ready) == [b"abcd"]
    assert is_idle(parser)
    assert not parser.fill()


def test_a_payload_must_end_in_crlf() -> None:
    assert parse([b"a\n#1\r\nxyz\r\n"]) == ([b"a"], "no CRLF (at byte 7)")


def test_the_skeleton_is_abstract() -> None:
    with pytest.raises(TypeError):
        IncrementalParser(ReceiveBuffer(), None)  # type: ignore[abstract]
