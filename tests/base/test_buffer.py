import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import ReceiveBuffer, RemoteProtocolError
from tidewire.testing import chunkings, split_at


def filled(*chunks: bytes) -> ReceiveBuffer:
    buffer = ReceiveBuffer()
    for chunk in chunks:
        buffer.append(chunk)
    return buffer


def test_append_accepts_bytes_like_and_len_counts_unread():
    buffer = filled(b"ab", bytearray(b"cd"), memoryview(b"ef"))
    assert len(buffer) == 6
    assert buffer
    assert buffer.read_exactly(2) == b"ab"
    assert len(buffer) == 4
    assert buffer.offset == 2
    assert repr(buffer) == "<ReceiveBuffer 4 bytes at offset 2>"
    assert buffer.read_all() == b"cdef"
    assert not buffer
    assert buffer.read_all() == b""


def test_reads_return_bytes():
    buffer = filled(b"x" * 10_000 + b"\r\nabc")
    line = buffer.read_until(b"\r\n")
    assert type(line) is bytes and len(line) == 10_000
    assert type(buffer.read_exactly(1)) is bytes


def test_read_exactly_and_at_most():
    buffer = filled(b"hello")
    assert buffer.read_exactly(6) is None
    assert buffer.read_exactly(0) == b""
    assert buffer.read_at_most(3) == b"hel"
    assert buffer.read_at_most(10) == b"lo"
    assert buffer.read_at_most(10) == b""


def test_peek_does_not_consume():
    buffer = filled(b"hello")
    assert buffer.peek(2) == b"he"
    assert buffer.peek() == b"hello"
    assert buffer.peek(99) == b"hello"
    assert len(buffer) == 5


def test_read_until_single_delimiter():
    buffer = filled(b"one\r\ntwo\r")
    assert buffer.read_until(b"\r\n") == b"one"
    assert buffer.read_until(b"\r\n") is None
    buffer.append(b"\nthree")
    assert buffer.read_until(b"\r\n") == b"two"
    assert buffer.read_until(b"\r\n") is None
    assert buffer.read_all() == b"three"


def test_read_until_empty_delimiter_is_rejected():
    with pytest.raises(ValueError, match="must not be empty"):
        filled(b"x").read_until(b"")
    with pytest.raises(ValueError, match="must be non-empty"):
        filled(b"x").read_until((b"\n", b""))
    with pytest.raises(ValueError, match="must be non-empty"):
        filled(b"x").read_until(())


def test_search_memory_is_per_delimiter():
    buffer = filled(b"a:b")
    assert buffer.read_until(b"\n") is None  # remembers b"\n" was searched to the end
    assert buffer.read_until(b":") == b"a"  # a different delimiter searches afresh
    buffer.append(b"\n")
    assert buffer.read_until(b"\n") == b"b"


def test_max_length_found_delimiter():
    assert filled(b"abc\n").read_until(b"\n", max_length=3) == b"abc"
    with pytest.raises(RemoteProtocolError, match="longer than the limit of 3 bytes") as info:
        filled(b"ok\nabcd\n").read_lines(b"\n", max_length=3)[0:0] or filled(b"abcd\n").read_until(
            b"\n", max_length=3
        )
    assert info.value.offset == 0


def test_max_length_before_the_delimiter_arrives():
    buffer = filled(b"abc")
    assert buffer.read_until(b"\r\n", max_length=3) is None
    buffer.append(b"\r")  # may still be an exact-limit line whose CRLF straddles chunks
    assert buffer.read_until(b"\r\n", max_length=3) is None
    buffer.append(b"\n")
    assert buffer.read_until(b"\r\n", max_length=3) == b"abc"
    buffer.append(b"abcd")
    with pytest.raises(RemoteProtocolError) as info:
        buffer.read_until(b"\r\n", max_length=3)
    assert info.value.offset == 5


def test_max_length_with_a_tail_that_is_not_a_delimiter_prefix():
    buffer = filled(b"abcx")
    with pytest.raises(RemoteProtocolError):
        buffer.read_until(b"\r\n", max_length=3)


def test_several_delimiters_earliest_wins():
    buffer = filled(b"a\nb\r\nc")
    assert buffer.read_until((b"\r\n", b"\n")) == b"a"
    assert buffer.read_until((b"\r\n", b"\n")) == b"b"
    assert buffer.read_until((b"\r\n", b"\n")) is None
    assert buffer.read_all() == b"c"


def test_several_delimiters_wait_when_an_earlier_one_may_still_match():
    delimiters = (b"\r\n", b"\r")
    buffer = filled(b"a\r")
    assert buffer.read_until(delimiters) is None
    buffer.append(b"\n")
    assert buffer.read_until(delimiters) == b"a"
    buffer.append(b"b\rc")
    assert buffer.read_until(delimiters) == b"b"


def test_several_delimiters_wait_for_a_match_starting_earlier():
    delimiters = (b"\r\n\r\n", b"\n")
    buffer = filled(b"head\r\n")
    assert buffer.read_until(delimiters) is None  # "\r\n" may begin "\r\n\r\n"
    buffer.append(b"\r")
    assert buffer.read_until(delimiters) is None
    buffer.append(b"\n")
    assert buffer.read_until(delimiters) == b"head"


def test_several_delimiters_later_listed_loses_at_equal_start():
    assert filled(b"a\r\n").read_until((b"\r", b"\r\n")) == b"a"
    # At the very end too: no waiting for a "\n" that could only make the
    # later-listed delimiter match at the same place.
    assert filled(b"a\r").read_until((b"\r", b"\r\n")) == b"a"


def test_several_delimiters_partial_line_limit():
    delimiters = (b"\r\n", b"\n")
    buffer = filled(b"abc\r")
    assert buffer.read_until(delimiters, max_length=3) is None
    buffer.append(b"x")
    with pytest.raises(RemoteProtocolError):
        buffer.read_until(delimiters, max_length=3)


def test_read_lines_single_delimiter():
    buffer = filled(b"a\nbb\nccc")
    assert buffer.read_lines(b"\n") == [b"a", b"bb"]
    assert buffer.read_lines(b"\n") == []
    buffer.append(b"\n\n")
    assert buffer.read_lines(b"\n") == [b"ccc", b""]


def test_read_lines_of_whole_lines_empties_the_buffer_and_counts_the_offset():
    buffer = filled(b"a\nbb\n")
    assert buffer.read_lines(b"\n") == [b"a", b"bb"]
    assert (len(buffer), buffer.offset) == (0, 5)
    buffer.append(b"c\n")
    assert buffer.read_lines(b"\n") == [b"c"]
    assert buffer.offset == 7


def test_read_lines_in_a_transaction_can_be_rolled_back():
    buffer = filled(b"a\nbb\n")
    buffer.begin()
    assert buffer.read_lines(b"\n") == [b"a", b"bb"]
    buffer.rollback()
    assert buffer.read_lines(b"\n") == [b"a", b"bb"]


def test_read_lines_leaves_a_self_overlapping_delimiter_as_the_leftmost_parse_does():
    # b"xaaa" ends with b"aa", but the leftmost parse takes b"x" + b"aa" and
    # leaves b"a", which may start the next delimiter.
    buffer = filled(b"xaaa")
    assert buffer.read_lines(b"aa") == [b"x"]
    assert (buffer.peek(), buffer.offset) == (b"a", 3)
    buffer.append(b"ay")
    assert buffer.read_lines(b"aa") == [b""]
    assert buffer.peek() == b"y"


def test_read_lines_stops_before_an_overlong_line():
    buffer = filled(b"ok\nfine\ntoolong\nnext\n")
    assert buffer.read_lines(b"\n", max_length=4) == [b"ok", b"fine"]
    with pytest.raises(RemoteProtocolError) as info:
        buffer.read_lines(b"\n", max_length=4)
    assert info.value.offset == 8


def test_read_lines_checks_the_partial_tail():
    buffer = filled(b"abcdef")
    with pytest.raises(RemoteProtocolError):
        buffer.read_lines(b"\n", max_length=4)
    assert filled(b"abc").read_lines((b"\n",), max_length=4) == []
    with pytest.raises(RemoteProtocolError):
        filled(b"abcdef").read_lines((b"\r\n", b"\n"), max_length=4)


def test_read_lines_several_delimiters():
    buffer = filled(b"a\r\nb\nlong\nc")
    assert buffer.read_lines((b"\r\n", b"\n"), max_length=3) == [b"a", b"b"]
    assert buffer.offset == 5
    with pytest.raises(RemoteProtocolError):
        buffer.read_lines((b"\r\n", b"\n"), max_length=3)
    assert filled(b"x").read_lines((b"\r\n", b"\n")) == []


def test_transaction_commit_and_rollback():
    buffer = filled(b"*2\r\n$3\r\nfoo\r\n$3\r\nba")
    buffer.begin()
    assert buffer.read_until(b"\r\n") == b"*2"
    assert buffer.read_until(b"\r\n") == b"$3"
    assert buffer.read_exactly(5) == b"foo\r\n"
    assert buffer.offset == 13
    assert buffer.read_exactly(7) is None
    buffer.rollback()
    assert buffer.offset == 0 and len(buffer) == 19
    buffer.begin()
    assert buffer.read_until(b"\r\n") == b"*2"
    buffer.commit()
    assert buffer.offset == 4 and len(buffer) == 15
    assert buffer.peek(2) == b"$3"


def test_transaction_search_memory_is_reset_by_rollback():
    buffer = filled(b"a\nb")
    buffer.begin()
    assert buffer.read_until(b"\n") == b"a"
    assert buffer.read_until(b"\n") is None
    buffer.rollback()
    assert buffer.read_until(b"\n") == b"a"


def reference_lines(data: bytes, delimiters: tuple[bytes, ...], max_length: int):
    """Leftmost-first over the whole stream; data ends in a byte no delimiter holds."""
    pattern = re.compile(b"|".join(map(re.escape, delimiters)))
    lines, pos = [], 0
    for match in pattern.finditer(data):
        line = data[pos : match.start()]
        if len(line) > max_length:
            return lines, True
        lines.append(line)
        pos = match.end()
    return lines, len(data) - pos > max_length


def streamed_lines(chunks, delimiter, max_length, *, bulk: bool):
    buffer = ReceiveBuffer()
    lines = []
    try:
        for chunk in chunks:
            buffer.append(chunk)
            if bulk:
                while more := buffer.read_lines(delimiter, max_length=max_length):
                    lines += more
            else:
                while (line := buffer.read_until(delimiter, max_length=max_length)) is not None:
                    lines.append(line)
    except RemoteProtocolError:
        return lines, True
    return lines, False


delimiter_sets = st.sampled_from(
    [
        (b"\r\n",),
        (b"\n",),
        (b"\r\n", b"\n"),
        (b"\r\n", b"\r"),
        (b"\r\n\r\n", b"\n"),
        (b"ab",),
        (b"aa",),  # overlaps itself
        (b"\r\n\r\n",),  # overlaps itself
        (b"aba",),
    ]
)


@given(delimiter_sets, st.binary(max_size=0) | st.text("ab\r\nx", max_size=80).map(str.encode),
       st.integers(0, 12) | st.just(10_000), st.data())  # fmt: skip
def test_streaming_matches_reference_however_split(delimiters, body, max_length, data):
    stream = body + b"z"  # no delimiter contains "z": the tail is never ambiguous
    chunks = data.draw(chunkings(stream))
    expected = reference_lines(stream, delimiters, max_length)
    delimiter = delimiters[0] if len(delimiters) == 1 else delimiters
    for bulk in (False, True):
        assert streamed_lines(chunks, delimiter, max_length, bulk=bulk) == expected
        assert streamed_lines([stream], delimiter, max_length, bulk=bulk) == expected


def test_long_line_byte_by_byte_is_found():
    line = b"x" * 5000
    chunks = split_at(line + b"\r\n", range(1, 5002))
    assert streamed_lines(chunks, b"\r\n", 5000, bulk=False) == ([line], False)
    assert streamed_lines(chunks, b"\r\n", 4999, bulk=True) == ([], True)


def test_overlapping_delimiters_split_leftmost():
    assert filled(b"x\r\n\r\n\r\ny").read_lines(b"\r\n\r\n") == [b"x"]
    assert filled(b"a" * 11).read_lines(b"aa") == [b"", b"", b"", b"", b""]
    assert filled(b"x\r\n\r\n\r\ny").read_until(b"\r\n\r\n") == b"x"


def test_crlf_search_survives_many_bare_line_feeds():
    buffer = filled(b"a\n" * 20 + b"end\r\nnext")
    assert buffer.read_until(b"\r\n") == b"a\n" * 20 + b"end"
    assert buffer.read_lines(b"\r\n") == []
    assert filled(b"a\nb\r\nc").read_until(b"\r\n") == b"a\nb"


def test_long_lines_with_bare_line_feeds_inside():
    long = b"x" * 600 + b"\n" + b"y" * 10
    buffer = filled(long + b"\r\n" + long + b"\r\n" + long)
    assert buffer.read_lines(b"\r\n") == [long, long]
    assert buffer.read_all() == long


def test_long_lines_are_split_one_by_one():
    long = b"x" * 600
    buffer = filled(long + b"\r\n" + long + b"\r\nshort\r\ntail")
    assert buffer.read_lines(b"\r\n") == [long, long, b"short"]
    assert buffer.read_all() == b"tail"


def test_long_lines_stop_before_an_overlong_one():
    long = b"x" * 600
    buffer = filled(long + b"\r\n" + long + b"y\r\n")
    assert buffer.read_lines(b"\r\n", max_length=600) == [long]
    with pytest.raises(RemoteProtocolError):
        buffer.read_lines(b"\r\n", max_length=600)


def test_skip_moves_without_copying():
    buffer = filled(b"abcdef")
    assert buffer.skip(2) == 2
    assert buffer.offset == 2
    assert buffer.skip(10) == 4
    assert not buffer
    buffer.append(b"xy")
    buffer.begin()
    assert buffer.skip(1) == 1
    buffer.rollback()
    assert buffer.read_all() == b"xy"


def test_raw_view_for_parsing_by_index():
    buffer = filled(b"\x81\x05hello")
    raw, start = buffer.raw, buffer.position
    assert raw[start] == 0x81
    size = raw[start + 1]
    buffer.append(b"more")  # indices stay valid across append
    assert bytes(buffer.raw[start + 2 : start + 2 + size]) == b"hello"
    buffer.skip(2 + size)
    assert buffer.position == 0
    assert bytes(buffer.raw) == b"more"
    buffer.begin()
    buffer.skip(2)
    assert buffer.position == 2
    assert bytes(buffer.raw[buffer.position :]) == b"re"


def test_unread_puts_bytes_back_in_front():
    buffer = filled(b"HEAD\r\n\r\nframes")
    head = buffer.read_all()
    assert buffer.offset == 14
    buffer.append(b" later")
    buffer.unread(head[8:])  # a parser over-read: hand back what follows the head
    assert buffer.offset == 8
    assert buffer.read_all() == b"frames later"
