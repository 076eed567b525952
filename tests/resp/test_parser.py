"""The reply grammar, through ReplyReader: every type, the malformed corpus, limits, splits."""

from __future__ import annotations

import math
from typing import Any

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidewire import NEED_DATA, ConnectionClosed, ReceiveState, RemoteProtocolError
from tidewire.testing import assert_split_invariant, bytewise, run
from tidewire_resp import (
    NAN,
    Attributed,
    BigNumber,
    ErrorReply,
    MapPairs,
    Push,
    Reply,
    ReplyReader,
    ServerConnection,
    SetMembers,
    SimpleString,
    Verbatim,
)


def reader(**limits: Any) -> Any:
    return lambda: ReplyReader(**limits)


def parse_all(data: bytes, **limits: Any) -> list[Any]:
    outcome = assert_split_invariant(reader(**limits), data, eof=True)
    assert outcome.error is None, outcome.error
    assert isinstance(outcome.events[-1], ConnectionClosed)
    return outcome.events[:-1]


def values(data: bytes, **limits: Any) -> list[Any]:
    events = parse_all(data, **limits)
    assert all(type(event) is Reply for event in events), events
    return [event.value for event in events]


def value(data: bytes, **limits: Any) -> Any:
    (only,) = values(data, **limits)
    return only


def rejected(data: bytes, **limits: Any) -> RemoteProtocolError:
    outcome = assert_split_invariant(reader(**limits), data)
    assert isinstance(outcome.error, RemoteProtocolError), f"{data!r} was accepted"
    assert outcome.error.offset is not None and f"at byte {outcome.error.offset}" in str(
        outcome.error
    )
    assert isinstance(run(reader(**limits), [data], eof=True).error, RemoteProtocolError)
    return outcome.error


# -- every type ---------------------------------------------------------------


def test_simple_string_is_bytes_that_remember_their_type() -> None:
    got = values(b"+OK\r\n+hello world\r\n+\r\n+a\x00b\r\n")
    assert got == [b"OK", b"hello world", b"", b"a\x00b"]
    assert all(type(v) is SimpleString for v in got)


def test_simple_error_is_a_value_with_a_code() -> None:
    got = value(b"-WRONGTYPE Operation against a key\r\n")
    assert got == ErrorReply(b"WRONGTYPE Operation against a key")
    assert got.code == "WRONGTYPE"
    assert got.message == "WRONGTYPE Operation against a key"


def test_integers() -> None:
    data = b":0\r\n:12\r\n:-3\r\n:+5\r\n:-0\r\n:9223372036854775807\r\n:-9223372036854775808\r\n"
    assert values(data) == [0, 12, -3, 5, 0, 2**63 - 1, -(2**63)]


def test_blob_strings_and_their_nulls() -> None:
    data = b"$3\r\nfoo\r\n$0\r\n\r\n$4\r\na\r\nb\r\n$-1\r\n*-1\r\n_\r\n"
    assert values(data) == [b"foo", b"", b"a\r\nb", None, None, None]


def test_doubles() -> None:
    got = values(
        b",1.5\r\n,10\r\n,-0\r\n,1e300\r\n,1.0000000000000001e+300\r\n,-2.5E-3\r\n"
        b",inf\r\n,-inf\r\n,+inf\r\n,nan\r\n,-nan\r\n,NAN\r\n,3.14159265358979323846\r\n"
    )
    assert got[:6] == [1.5, 10.0, -0.0, 1e300, 1.0000000000000001e300, -2.5e-3]
    assert type(got[1]) is float and math.copysign(1, got[2]) == -1
    assert got[6:9] == [math.inf, -math.inf, math.inf]
    assert got[9] is NAN and got[10] is NAN and got[11] is NAN
    assert got[12] == 3.141592653589793


def test_double_edge_magnitudes_are_exact() -> None:
    texts = [b"5e-324", b"2.2250738585072014e-308", b"1.7976931348623157e308", b"1e308"]
    assert values(b"".join(b"," + t + b"\r\n" for t in texts)) == [float(t) for t in texts]


def test_booleans_and_null() -> None:
    assert values(b"#t\r\n#f\r\n_\r\n") == [True, False, None]


def test_big_numbers_of_any_size() -> None:
    huge = b"9" * 5000  # beyond CPython's 4300-digit conversion limit
    got = values(
        b"(1234567999999999999999999999999999999\r\n(-12345678901234567890\r\n("
        + huge
        + b"\r\n(0\r\n"
    )
    assert got[:2] == [1234567999999999999999999999999999999, -12345678901234567890]
    assert got[2] == 10**5000 - 1 and type(got[2]) is BigNumber
    assert got[3] == 0


def test_blob_error_and_verbatim() -> None:
    got = values(
        b"!22\r\nSYNTAX invalid\r\nsyntax\r\n=29\r\ntxt:This is a verbatim\nstring\r\n"
        b"=8\r\nmkd:# hi\r\n=4\r\ntxt:\r\n"
    )
    assert got[0] == ErrorReply(b"SYNTAX invalid\r\nsyntax", blob=True)
    assert got[0].code == "SYNTAX"
    assert got[1] == Verbatim("txt", b"This is a verbatim\nstring")
    assert got[2] == Verbatim("mkd", b"# hi")
    assert got[3] == Verbatim("txt", b"")


def test_arrays_nested_and_empty() -> None:
    assert value(b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n_\r\n*0\r\n") == [1, [b"a", None], []]
    assert value(b"*2\r\n*-1\r\n$-1\r\n") == [None, None]
    assert value(b"*1\r\n,3.14\r\n") == [3.14]
    assert value(b"*2\r\n-ERR x\r\n:1\r\n") == [ErrorReply(b"ERR x"), 1]


def test_arrays_of_blobs_with_odd_content() -> None:
    # The fast path for blob elements must hand odd cases to the general path.
    data = b"*6\r\n$1\r\na\r\n$2\r\n\r\n\r\n$0\r\n\r\n:1\r\n$1\r\nb\r\n$3\r\nc\r\n\r\n"
    assert value(data) == [b"a", b"\r\n", b"", 1, b"b", b"c\r\n"]


def test_maps() -> None:
    assert value(b"%2\r\n+first\r\n:123\r\n$6\r\nsecond\r\n#t\r\n") == {
        b"first": 123,
        b"second": True,
    }
    assert value(b"%0\r\n") == {}
    assert value(b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n") == {0: False, 1: True, 2: False}
    assert value(b"%1\r\n,1.5\r\n_\r\n") == MapPairs([(1.5, None)])  # a double key: see values


def test_maps_that_a_dict_cannot_hold_keep_every_pair() -> None:
    dup = value(b"%3\r\n+a\r\n:1\r\n+b\r\n:2\r\n+a\r\n:3\r\n")
    assert type(dup) is MapPairs and dup == [(b"a", 1), (b"b", 2), (b"a", 3)]
    assert dup.to_dict() == {b"a": 3, b"b": 2}
    equal = value(b"%2\r\n:1\r\n+x\r\n#t\r\n+y\r\n")
    assert type(equal) is MapPairs and equal == [(1, b"x"), (True, b"y")]
    unhashable = value(b"%2\r\n*1\r\n:1\r\n+list\r\n%1\r\n+k\r\n+v\r\n+map\r\n")
    assert unhashable == MapPairs([([1], b"list"), ({b"k": b"v"}, b"map")])


def test_sets() -> None:
    assert value(b"~3\r\n+a\r\n:1\r\n#f\r\n") == {b"a", 1, False}
    assert value(b"~0\r\n") == set()
    dup = value(b"~3\r\n+a\r\n+b\r\n+a\r\n")
    assert type(dup) is SetMembers and dup == [b"a", b"b", b"a"]
    assert value(b"~2\r\n:1\r\n#t\r\n") == SetMembers([1, True])
    assert value(b"~2\r\n%1\r\n+k\r\n:1\r\n*0\r\n") == SetMembers([{b"k": 1}, []])


def test_attributes_at_top_level_go_on_the_reply() -> None:
    data = b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$5\r\nreply\r\n+next\r\n"
    first, second = parse_all(data)
    assert first == Reply(b"reply", {b"key-popularity": [b"key:123", 90]})
    assert second == Reply(b"next")  # attributes never outlive their value


def test_attributes_are_never_elements() -> None:
    got = value(b"*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n")
    assert got == [1, 2, Attributed(3, {b"ttl": 3600})]


def test_attributes_inside_maps_before_key_and_value() -> None:
    got = value(b"%1\r\n|1\r\n+a\r\n:1\r\n+k\r\n|1\r\n+b\r\n:2\r\n+v\r\n")
    # An attributed key holds a dict, so it is unhashable: the map keeps pairs.
    assert got == MapPairs([(Attributed(b"k", {b"a": 1}), Attributed(b"v", {b"b": 2}))])


def test_attributes_on_aggregates_and_consecutive_attributes_merge() -> None:
    got = value(b"*1\r\n|1\r\n+a\r\n:1\r\n|2\r\n+a\r\n:2\r\n+b\r\n:3\r\n*1\r\n:7\r\n")
    assert got == [Attributed([7], {b"a": 2, b"b": 3})]
    first, _ = parse_all(b"|1\r\n+a\r\n:1\r\n|0\r\n|1\r\n+a\r\n:2\r\n%1\r\n+k\r\n+v\r\n+x\r\n")
    assert first == Reply({b"k": b"v"}, {b"a": 2})


def test_attributes_that_a_dict_cannot_hold() -> None:
    event = parse_all(b"|2\r\n+a\r\n:1\r\n+a\r\n:2\r\n|1\r\n:1\r\n:3\r\n:0\r\n")[0]
    assert event == Reply(0, MapPairs([(b"a", 1), (b"a", 2), (1, 3)]))
    event = parse_all(b"|1\r\n*0\r\n:1\r\n|1\r\n+b\r\n:2\r\n:0\r\n")[0]
    assert event == Reply(0, MapPairs([([], 1), (b"b", 2)]))


def test_attributes_before_a_push_go_on_the_push() -> None:
    got = parse_all(b"|1\r\n+a\r\n:1\r\n>2\r\n+kind\r\n:1\r\n")
    assert got == [Push([b"kind", 1], {b"a": 1})]


def test_attributes_before_a_streamed_value() -> None:
    got = value(b"*1\r\n|1\r\n+a\r\n:1\r\n$?\r\n;2\r\nhi\r\n;0\r\n")
    assert got == [Attributed(b"hi", {b"a": 1})]
    got = value(b"*1\r\n|1\r\n+a\r\n:1\r\n*?\r\n:1\r\n.\r\n")
    assert got == [Attributed([1], {b"a": 1})]


def test_pushes_are_events_of_their_own() -> None:
    data = (
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n+OK\r\n"
        b">2\r\n$10\r\ninvalidate\r\n_\r\n>0\r\n"
    )
    got = parse_all(data)
    assert got == [
        Push([b"message", b"c", b"hi"]),
        Reply(b"OK"),
        Push([b"invalidate", None]),
        Push([]),
    ]
    assert got[0].kind == b"message" and got[3].kind is None


def test_push_nested_in_exec_comes_out_first_and_is_not_counted() -> None:
    # Redis 7.0.15, MULTI; PING x; PUBLISH to self; PING y; EXEC.
    data = b"*3\r\n$1\r\nx\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nm1\r\n:1\r\n$1\r\ny\r\n"
    assert parse_all(data) == [Push([b"message", b"a", b"m1"]), Reply([b"x", 1, b"y"])]


def test_pushes_nested_anywhere_and_empty_nested_pushes() -> None:
    data = b"%1\r\n>1\r\n+p\r\n+k\r\n*2\r\n>0\r\n:1\r\n|1\r\n+a\r\n:1\r\n>1\r\n+q\r\n:2\r\n"
    assert parse_all(data) == [
        Push([b"p"]),
        Push([]),
        Push([b"q"], {b"a": 1}),
        Reply({b"k": [1, 2]}),
    ]


def test_thousands_of_pushes_before_a_reply() -> None:
    data = b">2\r\n+p\r\n:1\r\n" * 3000 + b"+OK\r\n"
    reader = ReplyReader()
    reader.receive_data(data)
    events = list(reader.events())
    assert len(events) == 3001 and events[-1] == Reply(b"OK")


def test_streamed_strings() -> None:
    got = values(b"$?\r\n;4\r\nHell\r\n;6\r\no worl\r\n;1\r\nd\r\n;0\r\n$?\r\n;0\r\n")
    assert got == [b"Hello world", b""]


def test_streamed_aggregates() -> None:
    got = values(
        b"*?\r\n:1\r\n:2\r\n:3\r\n.\r\n%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n~?\r\n+x\r\n.\r\n*?\r\n.\r\n"
        b"*?\r\n*?\r\n:1\r\n.\r\n%?\r\n.\r\n*1\r\n:2\r\n.\r\n"
    )
    assert got == [[1, 2, 3], {b"a": 1, b"b": 2}, {b"x"}, [], [[1], {}, [2]]]


def test_many_replies_in_one_feed_and_interleaved_need_data() -> None:
    reader = ReplyReader()
    reader.receive_data(b"+a\r\n:1\r\n$3\r\nfo")
    assert reader.next_event() == Reply(b"a")
    assert reader.next_event() == Reply(1)
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"o\r\n")
    assert reader.next_event() == Reply(b"foo")
    assert reader.next_event() is NEED_DATA


def test_deep_nesting_is_iterative() -> None:
    depth = 5000
    outcome = run(reader(max_depth=depth), bytewise(b"*1\r\n" * depth + b":1\r\n"))
    assert outcome.error is None
    got = outcome.events[0].value
    for _ in range(depth):
        got = got[0]
    assert got == 1
    assert value(b"*1\r\n" * 3 + b"*0\r\n", max_depth=3) == [[[[]]]]


def test_a_large_array_arriving_slowly_is_not_reparsed() -> None:
    # Each element is parsed once: feeding one element at a time stays linear.
    count = 20000
    reader = ReplyReader()
    reader.receive_data(b"*%d\r\n" % count)
    for i in range(count - 1):
        reader.receive_data(b":%d\r\n" % i)
        assert reader.next_event() is NEED_DATA
    reader.receive_data(b":%d\r\n" % (count - 1))
    assert reader.next_event() == Reply(list(range(count)))


def test_a_large_blob_arriving_slowly_waits_in_the_buffer() -> None:
    payload = bytes(range(256)) * 4096
    data = b"$%d\r\n" % len(payload) + payload + b"\r\n"
    reader = ReplyReader()
    for i in range(0, len(data), 1000):
        reader.receive_data(data[i : i + 1000])
        event = reader.next_event()
    assert event == Reply(payload)


def test_eof_between_replies_closes_cleanly_and_inside_one_fails() -> None:
    assert run(reader(), [b"+OK\r\n"], eof=True).events == [Reply(b"OK"), ConnectionClosed()]
    for partial in (b"%1\r\n+a\r\n", b"$3\r\nfo", b"+O", b"|1\r\n+a\r\n:1\r\n", b"*?\r\n"):
        outcome = run(reader(), [partial], eof=True)
        assert isinstance(outcome.error, RemoteProtocolError), partial
        assert "inside a reply" in outcome.error.message


# -- the malformed corpus -----------------------------------------------------

MALFORMED = [
    b"@foo\r\n",
    b"\x00\r\n",
    b".\r\n",
    b";3\r\nabc\r\n",
    b"*2\r\n$5\r\nhello\r\n@foo\r\n",
    b"$-2\r\n",
    b"*-2\r\n",
    b"$+3\r\nabc\r\n",
    b"$03\r\nabc\r\n",
    b"$ 3\r\nabc\r\n",
    b"$3_0\r\n",
    b"$abc\r\n",
    b"$\r\n",
    b"*+1\r\n:1\r\n",
    b"*01\r\n:1\r\n",
    b"* 1\r\n:1\r\n",
    b"*\r\n",
    b"%-1\r\n",
    b">?\r\n",
    b"|?\r\n",
    b"!-1\r\n",
    b"=-1\r\n",
    b"$3\r\nfooXY:1\r\n",
    b"$3\r\nfoo\rX",
    b"+a\nb\r\n",
    b"+a\rb\r\n",
    b"-a\nb\r\n",
    b"+ab\ncd",
    b"+ab\rcd",
    b"#x\r\n",
    b"#\r\n",
    b"#tt\r\n",
    b"#T\r\n",
    b"_x\r\n",
    b"_nil\r\n",
    b",\r\n",
    b",.5\r\n",
    b",1.\r\n",
    b",1_0\r\n",
    b",infinity\r\n",
    b", 1\r\n",
    b",1e\r\n",
    b",1.2.3\r\n",
    b",+\r\n",
    b",1,5\r\n",
    b",3.14x\r\n",
    b",3.14\x00159\r\n",
    b",nan(123)\r\n",
    b"(12.5\r\n",
    b"(\r\n",
    b"(+-1\r\n",
    b"(007\r\n",
    b"=3\r\ntxt\r\n",
    b"=2\r\ntx\r\n",
    b"=5\r\ntxt;x\r\n",
    b":\r\n",
    b":1.5\r\n",
    b":1_000\r\n",
    b": 1\r\n",
    b":007\r\n",
    b":-007\r\n",
    b":9223372036854775808\r\n",
    b":-9223372036854775809\r\n",
    b":12 \r\n",
    b"%?\r\n+a\r\n.\r\n",
    b"*?\r\n|1\r\n+a\r\n:1\r\n.\r\n",
    b"$?\r\n:1\r\n",
    b"$?\r\n$1\r\na\r\n",
    b"$?\r\n$?\r\n",
    b"$?\r\n*1\r\n",
    b"$?\r\n$-1\r\n",
    b"$?\r\n|1\r\n+a\r\n:1\r\n;1\r\na\r\n",
    b"$?\r\n;1\r\nab\r\n",
    b"*1\r\n;1\r\na\r\n",
    b"*1\r\n.\r\n",
    b".x\r\n",
    b"$?\r\n.\r\n",
    b"_\n",
    b":1\n",
    b"*1\r\n:1\n:2\r\n",
]


@pytest.mark.parametrize("data", MALFORMED, ids=repr)
def test_malformed_input_is_a_terminal_remote_error(data: bytes) -> None:
    error = rejected(data)
    assert error.message
    reader = ReplyReader()
    reader.receive_data(data)
    with pytest.raises(RemoteProtocolError):
        list(reader.events())
    assert reader.receive_state is ReceiveState.ERROR
    with pytest.raises(RemoteProtocolError):
        reader.next_event()


def test_error_messages_say_what_and_where() -> None:
    error = rejected(b"+OK\r\n:1_000\r\n")
    assert error.offset == 5 and "1_000" in error.message
    assert "unknown type byte" in rejected(b"@foo\r\n").message
    assert "CRLF" in rejected(b"$3\r\nfooXY").message


def test_replies_before_an_error_are_delivered_first() -> None:
    outcome = run(reader(), [b"+a\r\n:2\r\n#x\r\n"])
    assert outcome.events == [Reply(b"a"), Reply(2)]
    assert isinstance(outcome.error, RemoteProtocolError)


# -- limits -------------------------------------------------------------------


def test_bulk_length_limit() -> None:
    assert value(b"$4\r\nabcd\r\n", max_bulk_length=4) == b"abcd"
    assert "limit" in rejected(b"$5\r\n", max_bulk_length=4).message
    assert "limit" in rejected(b"=9\r\ntxt:abcde\r\n", max_bulk_length=8).message
    assert value(b"$?\r\n;2\r\nab\r\n;2\r\ncd\r\n;0\r\n", max_bulk_length=4) == b"abcd"
    rejected(b"$?\r\n;2\r\nab\r\n;3\r\ncde\r\n", max_bulk_length=4)
    rejected(b"$9223372036854775808\r\n")


def test_aggregate_length_limit() -> None:
    assert value(b"*2\r\n:1\r\n:2\r\n", max_aggregate_length=2) == [1, 2]
    rejected(b"*3\r\n", max_aggregate_length=2)
    rejected(b"%3\r\n", max_aggregate_length=2)
    rejected(b"*4294967296\r\n")
    assert value(b"%?\r\n:1\r\n:1\r\n:2\r\n:2\r\n.\r\n", max_aggregate_length=2) == {1: 1, 2: 2}
    rejected(b"*?\r\n:1\r\n:2\r\n:3\r\n", max_aggregate_length=2)
    rejected(b"%?\r\n:1\r\n:1\r\n:2\r\n:2\r\n:3\r\n", max_aggregate_length=2)


def test_nesting_limit() -> None:
    assert value(b"*1\r\n*1\r\n:1\r\n", max_depth=2) == [[1]]
    rejected(b"*1\r\n*1\r\n*1\r\n:1\r\n", max_depth=2)
    rejected(b"*1\r\n*1\r\n$?\r\n", max_depth=2)
    rejected(b"*1\r\n" * 1025 + b":1\r\n")


def test_line_length_limit_holds_however_split() -> None:
    assert value(b"+" + b"a" * 10 + b"\r\n", max_line_length=10) == b"a" * 10
    rejected(b"+" + b"a" * 11 + b"\r\n", max_line_length=10)
    rejected(b"+" + b"a" * 11, max_line_length=10)
    rejected(b":" + b"1" * 11 + b"\r", max_line_length=10)
    # A final CR may still become the CRLF: not too long yet.
    outcome = run(reader(max_line_length=10), [b"+" + b"a" * 10 + b"\r"])
    assert outcome.error is None


def test_a_long_line_arriving_byte_by_byte_is_linear() -> None:
    line = b"+" + b"a" * 60000 + b"\r\n"
    outcome = run(reader(), bytewise(line))
    assert outcome.events == [Reply(b"a" * 60000)]


def test_reply_size_limit_holds_however_split() -> None:
    data = b"*3\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n"
    assert value(data, max_buffer_size=len(data)) == [b"abc"] * 3
    rejected(data, max_buffer_size=len(data) - 1)
    rejected(data[:-3], max_buffer_size=len(data) - 4)
    rejected(b"$20\r\n" + b"x" * 20 + b"\r\n", max_buffer_size=20)
    rejected(b"$20\r\n" + b"x" * 10, max_buffer_size=12)
    rejected(b"+" + b"x" * 30, max_buffer_size=20)
    rejected(b"|1\r\n+a\r\n:1\r\n+" + b"x" * 30 + b"\r\n", max_buffer_size=20)
    assert values(b"+abc\r\n" * 10, max_buffer_size=6) == [b"abc"] * 10
    assert values(b"+abc\r\n+abc\r\n", max_buffer_size=None) == [b"abc"] * 2


def test_a_huge_declared_count_allocates_nothing() -> None:
    reader = ReplyReader()
    reader.receive_data(b"*4000000000\r\n:1\r\n")
    assert reader.next_event() is NEED_DATA


# -- differential testing against hiredis, where hiredis is right --------------

_text = st.binary(max_size=20)
_simple = _text.filter(lambda b: b"\r" not in b and b"\n" not in b)
_scalars = st.one_of(
    _text,
    _simple.map(SimpleString),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=True),
    _simple.map(ErrorReply),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=25,
)


def _normal(value: Any) -> Any:
    if isinstance(value, ErrorReply):
        return ("error", value.message)
    if isinstance(value, hiredis.ReplyError):
        return ("error", str(value))
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {bytes(k): _normal(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return bytes(value)
    return value


@settings(max_examples=200)
@given(st.lists(_values, min_size=1, max_size=5), st.data())
def test_same_values_as_hiredis(replies: list[Any], data: st.DataObject) -> None:
    server = ServerConnection(protocol=3)
    for reply in replies:
        server.send(Reply(reply))
    wire = server.data_to_send()
    sentinel = object()
    hi = hiredis.Reader(notEnoughData=sentinel)
    hi.feed(wire)
    theirs = []
    while (item := hi.gets()) is not sentinel:
        theirs.append(item)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=8))
    points = sorted(set(cuts))
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True) if a < b]
    ours = run(reader(), chunks, eof=True)
    assert ours.error is None
    got = [event.value for event in ours.events[:-1]]
    assert [_normal(v) for v in got] == [_normal(v) for v in theirs]
    assert [_normal(v) for v in got] == [_normal(v) for v in replies]


# -- large blobs: the path that takes payloads straight from the buffer ----------


def _large_blob_feeds(payload: bytes, terminator: bytes = b"\r\n") -> list[list[bytes]]:
    header = b"$%d\r\n" % len(payload)
    whole = header + payload + terminator + b"+next\r\n"
    return [
        [header, payload[:1000], payload[1000:] + terminator + b"+next\r\n"],  # some payload first
        [header, payload + terminator + b"+next\r\n"],  # header alone first
        [header + payload[:-1], payload[-1:] + terminator, b"+next\r\n"],
        [whole[: len(header) + len(payload) + 1], whole[len(header) + len(payload) + 1 :]],
    ]


def test_large_top_level_blobs_however_split() -> None:
    payload = bytes(range(256)) * 1024
    for chunks in _large_blob_feeds(payload):
        outcome = run(reader(), chunks, eof=True)
        assert outcome.events == [Reply(payload), Reply(b"next"), ConnectionClosed()], chunks


def test_large_blob_without_crlf_and_over_the_size_limit() -> None:
    payload = b"z" * 100_000
    for chunks in _large_blob_feeds(payload, b"XY"):
        error = run(reader(), chunks).error
        assert isinstance(error, RemoteProtocolError) and "CRLF" in error.message
        assert error.offset == len(b"$100000\r\n") + len(payload)
    header = b"$100000\r\n"
    limited = reader(max_buffer_size=len(header) + len(payload) + 1)
    error = run(limited, [header, payload + b"\r\n"]).error
    assert isinstance(error, RemoteProtocolError) and "spans more" in error.message


def test_large_blobs_inside_aggregates_or_after_attributes() -> None:
    payload = b"q" * 100_000
    blob = b"$100000\r\n" + payload + b"\r\n"
    for prefix, expected in [
        (b"*1\r\n", [Reply([payload])]),
        (b"|1\r\n+a\r\n:1\r\n", [Reply(payload, {b"a": 1})]),
        (b"", [Reply(payload)]),
    ]:
        outcome = run(reader(), [prefix + blob[:20], blob[20:]], eof=True)
        assert outcome.events == [*expected, ConnectionClosed()]
    verbatim = b"=100004\r\ntxt:" + payload + b"\r\n"
    outcome = run(reader(), [verbatim[:20], verbatim[20:]])
    assert outcome.events == [Reply(Verbatim("txt", payload))]


# -- long arrays of blob strings: the line-splitting fast path --------------------


def _array(*elements: bytes) -> bytes:
    return b"*%d\r\n" % len(elements) + b"".join(elements)


def _blob(payload: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(payload), payload)


def test_long_arrays_of_blobs() -> None:
    same = [b"%010d" % i for i in range(30)]
    assert value(_array(*map(_blob, same))) == same
    varied = [b"x" * (i % 7) for i in range(30)]
    assert value(_array(*map(_blob, varied))) == varied
    growing = [b"a"] * 2 + [b"b" * 300] * 20  # beyond the first guess of the extent
    assert value(_array(*map(_blob, growing))) == growing
    with_crlf = [b"v"] * 12 + [b"a\r\nb"] + [b"w"] * 12
    assert value(_array(*map(_blob, with_crlf))) == with_crlf
    mixed = [*map(_blob, [b"v"] * 12), b":7\r\n", *map(_blob, [b"w"] * 12)]
    assert value(_array(*mixed)) == [b"v"] * 12 + [7] + [b"w"] * 12
    nested = [*map(_blob, [b"v"] * 12), _array(_blob(b"in")), _blob(b"w")]
    assert value(_array(*nested)) == [b"v"] * 12 + [[b"in"], b"w"]


def test_long_arrays_of_blobs_with_bad_or_limited_elements() -> None:
    good = [_blob(b"v")] * 12
    rejected(_array(*good, b"$01\r\nv\r\n", *good))
    rejected(_array(*good, b"$1\r\nvX", *good))
    rejected(_array(*good, _blob(b"12345"), *good), max_bulk_length=4)
    rejected(_array(*good, _blob(b"x" * 100), *good), max_line_length=2)
    assert value(_array(*good, *good), max_line_length=2) == [b"v"] * 24


def test_numbers_with_thousands_of_digits_are_refused_cleanly() -> None:
    many = b"1" * 5000
    assert "out of the 64-bit range" in rejected(b":" + many + b"\r\n").message
    assert "out of the 64-bit range" in rejected(b":-" + many + b"\r\n").message
    assert "out of the 64-bit range" in rejected(b":" + b"9" * 20 + b"\r\n").message
    for prefix in (b"$", b"=", b"!", b"*", b"%", b"~", b">", b"|"):
        assert "exceeds the limit" in rejected(prefix + many + b"\r\n").message
    assert "exceeds the limit" in rejected(b"$?\r\n;" + many + b"\r\n").message
    good = [_blob(b"v")] * 12
    assert "exceeds the limit" in rejected(_array(*good, b"$" + many + b"\r\n")).message
    assert "exceeds the limit" in rejected(_array(*good, *good, b"$" + many + b"\r\n")).message


# -- runs of top-level scalars: the line-splitting fast path ------------------------

_RUN = b"+OK\r\n+PONG\r\n:12\r\n$3\r\nfoo\r\n-ERR x\r\n+other\r\n"
_RUN_VALUES = [b"OK", b"PONG", 12, b"foo", ErrorReply(b"ERR x"), b"other"]


def test_runs_of_top_level_scalars() -> None:
    got = values(_RUN * 200)
    assert got == _RUN_VALUES * 200
    assert type(got[4]) is ErrorReply and type(got[5]) is SimpleString


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        (b":-5\r\n", [-5]),
        (b":0\r\n", [0]),
        (b"_\r\n", [None]),
        (b"$-1\r\n", [None]),
        (b"*1\r\n:1\r\n", [[1]]),
        (b"$4\r\na\r\nb\r\n", [b"a\r\nb"]),
        (b"$1000\r\n" + b"x" * 1000 + b"\r\n", [b"x" * 1000]),
        (b"$100000\r\n" + b"y" * 100_000 + b"\r\n", [b"y" * 100_000]),
        (b"$0\r\n\r\n", [b""]),
        (b"$3\r\na\r\n\r\n", [b"a\r\n"]),
        (b"$3\r\nbar\r\n" * 200 + b"$3\r\nb\r\n\r\n", [b"bar"] * 200 + [b"b\r\n"]),
    ],
    ids=repr,
)
def test_runs_end_at_anything_unusual(middle: bytes, expected: list[Any]) -> None:
    assert values(_RUN * 3 + middle + _RUN * 3) == _RUN_VALUES * 3 + expected + _RUN_VALUES * 3


@pytest.mark.parametrize(
    ("middle", "limits"),
    [
        (b"+a\nb\r\n", {}),
        (b"-a\rb\r\n", {}),
        (b":01\r\n", {}),
        (b"$1\r\nabc\r\n", {}),
        (b"$01\r\na\r\n", {}),
        (b"$" + b"1" * 30 + b"\r\n", {}),
        (b"$5\r\nabcde\r\n", {"max_bulk_length": 4}),
        (b"+" + b"a" * 20 + b"\r\n", {"max_line_length": 10}),
    ],
    ids=repr,
)
def test_errors_inside_runs_are_reported_by_the_general_path(
    middle: bytes, limits: dict[str, Any]
) -> None:
    data = _RUN * 3 + middle + _RUN
    error = rejected(data, **limits)
    assert error.offset is not None
    assert len(_RUN) * 3 <= error.offset < len(_RUN) * 3 + len(middle)


# -- round trips of every type, with random chunking --------------------------------

_hashable = st.one_of(
    _text,
    _simple.map(SimpleString),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.none(),
)
_every_scalar = st.one_of(
    _scalars,
    st.integers(-(10**60), 10**60).map(BigNumber),
    st.binary(max_size=20).map(lambda data: ErrorReply(data, blob=True)),
    st.tuples(st.sampled_from(["txt", "mkd"]), _text).map(lambda pair: Verbatim(*pair)),
    st.lists(_text, min_size=9, max_size=40),  # long arrays of blobs: the fast paths
)
_every_value = st.recursive(
    _every_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_hashable, inner, max_size=4),
        st.sets(_hashable, max_size=4),
        st.tuples(inner, st.dictionaries(_text, inner, min_size=1, max_size=2)).map(
            lambda pair: [Attributed(*pair)]
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=200)
@given(st.lists(_every_value, min_size=1, max_size=12), st.data())
def test_every_type_round_trips_however_split(replies: list[Any], data: st.DataObject) -> None:
    server = ServerConnection(protocol=3)
    for reply in replies:
        server.send(Reply(reply))
    wire = server.data_to_send()
    cuts = data.draw(st.lists(st.integers(1, max(1, len(wire) - 1)), max_size=12))
    points = sorted(set(cuts))
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True) if a < b]
    outcome = run(reader(), chunks, eof=True)
    assert outcome.error is None
    assert [event.value for event in outcome.events[:-1]] == replies


def test_runs_respect_a_tiny_line_limit() -> None:
    assert values(b"+OK\r\n" * 10, max_line_length=2) == [b"OK"] * 10
    rejected(b"+OK\r\n" * 10 + b"+QUEUED\r\n", max_line_length=2)
    rejected(b":1\r\n" * 10 + b":10\r\n", max_line_length=1)


# -- runs of one kind: integers, and blobs of one size, a batch at a time -----------


def test_runs_of_integers() -> None:
    numbers = [1234567, -5, 0, 0, 999_999_999_999_999_999, -999_999_999_999_999_999, 42]
    data = b":1234567\r\n:-5\r\n:0\r\n:-0\r\n:999999999999999999\r\n:-999999999999999999\r\n:42\r\n"
    got = values(data * 100)
    assert got == numbers * 100
    assert all(type(v) is int for v in got)


@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        (b":+5\r\n", [5]),
        (b":9223372036854775807\r\n", [2**63 - 1]),
        (b":-9223372036854775808\r\n", [-(2**63)]),
        (b"+OK\r\n", [b"OK"]),
        (b"$1\r\nx\r\n", [b"x"]),
    ],
    ids=repr,
)
def test_runs_of_integers_end_at_anything_else(middle: bytes, expected: list[Any]) -> None:
    run = b":7\r\n:-8\r\n" * 40
    assert values(run + middle + run) == [7, -8] * 40 + expected + [7, -8] * 40


@pytest.mark.parametrize(
    "middle",
    [
        *(b":01\r\n", b":-01\r\n", b":1_000\r\n", b": 1\r\n", b":1 \r\n", b":\r\n", b":-\r\n"),
        *(b":9223372036854775808\r\n", b":1\n", b":1\r\r\n"),
    ],
    ids=repr,
)
def test_bad_integers_inside_runs_are_reported_where_they_are(middle: bytes) -> None:
    run = b":7\r\n" * 40
    error = rejected(run + middle + run)
    assert error.offset == len(run)


def test_integer_runs_respect_a_short_line_limit() -> None:
    # With a limit under 19 bytes a batch could take a line over it: none is taken.
    assert values(b":123\r\n" * 50, max_line_length=18) == [123] * 50
    long = b":-" + b"9" * 18 + b"\r\n"
    assert values(b":123\r\n" * 50 + long, max_line_length=19)[-1] == -int(b"9" * 18)
    error = rejected(b":123\r\n" * 50 + long, max_line_length=18)
    assert error.offset == 6 * 50


def _blobs(payloads: list[bytes]) -> bytes:
    return b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in payloads)


@pytest.mark.parametrize(
    "payloads",
    [
        [b"x" * 100] * 300,
        [b""] * 100,
        [b"%09d" % i for i in range(500)],
        # Payloads holding CRLF, or the very separator of their run.
        [b"0123456789"] * 30 + [b"\r\n$10\r\nabc"] + [b"0123456789"] * 30,
        [b"\r\n$10\r\nabc"] * 40,
        [b"abc\r\n"] * 40,
        # The size changes mid-run, once or often.
        [b"x" * 10] * 50 + [b"y" * 11] + [b"x" * 10] * 50,
        [b"x" * (i % 3) for i in range(200)],
        [b"a" * 9000] * 5,  # too long to gain anything from a batch
    ],
    ids=lambda payloads: f"{len(payloads)} blobs, {payloads[len(payloads) // 2][:12]!r}",
)
def test_runs_of_blobs(payloads: list[bytes]) -> None:
    got = values(_blobs(payloads))
    assert got == payloads
    assert all(type(v) is bytes for v in got)


def test_a_bad_blob_ending_anywhere_in_a_run_is_reported_there() -> None:
    # Wherever the bad one falls, at the edge of a batch or inside one.
    good = b"$3\r\nabc\r\n"
    for index in range(60):
        data = good * index + b"$3\r\nabcXY" + good * (70 - index)
        assert rejected(data).offset == len(good) * index + 7


def test_blob_runs_respect_the_limits() -> None:
    data = _blobs([b"x" * 100] * 50)
    assert rejected(data, max_bulk_length=99).offset == 0
    assert values(data, max_bulk_length=100) == [b"x" * 100] * 50
    assert rejected(data, max_line_length=2).offset == 0
    assert values(data, max_line_length=3) == [b"x" * 100] * 50
    assert values(data, max_buffer_size=108) == [b"x" * 100] * 50  # each blob spans 108
    assert rejected(data, max_buffer_size=107).offset == 0


def test_arrays_of_blobs_of_one_size_however_split() -> None:
    elements = [b"%010d" % i for i in range(100)]
    replies: list[list[Any]] = [elements, [b"x"] * 9 + [b"yy"], [b"x"] * 20 + [1]]
    data = _array(*map(_blob, elements)) + _array(*map(_blob, replies[1]))
    data += _array(*map(_blob, [b"x"] * 20), b":1\r\n")
    assert values(data * 3) == replies * 3


def test_runs_of_simple_strings() -> None:
    data = b"+OK\r\n+hello\r\n+QUEUED\r\n+\r\n" * 100
    got = values(data, max_line_length=6)
    assert got == [b"OK", b"hello", b"QUEUED", b""] * 100
    assert all(type(v) is SimpleString for v in got)
    assert got[0] is got[4]  # the frequent ones are shared objects
    assert rejected(data + b"+hello!!\r\n" + data, max_line_length=6).offset == len(data)
    for bad in (b"+a\rb\r\n", b"+a\nb\r\n", b"+ab\r\r\n"):
        assert rejected(data + bad + data).offset == len(data)
    # Lines longer than a run takes, under a larger limit, are still simple strings.
    huge = b"+" + b"x" * (1024 * 1024 + 1) + b"\r\n"
    got = run(reader(max_line_length=10**12), [data + huge + data], eof=True).events
    assert [event.value for event in got[:-1]] == [*values(data), huge[1:-2], *values(data)]
