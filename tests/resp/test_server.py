"""ServerConnection: commands in (multibulk and inline), replies of every type out."""

from __future__ import annotations

from typing import Any

import pytest

from tidewire import ConnectionClosed, ReceiveState, RemoteProtocolError
from tidewire.testing import ConnectionContract, assert_split_invariant, run
from tidewire_resp import (
    Command,
    Push,
    Reply,
    ReplyReader,
    ServerConnection,
    SimpleString,
    split_inline,
)

REQUESTS = (
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
    b"PING\r\n"
    b'ECHO "a b\\x41"\n'
    b"\r\n"
    b"*-10\r\n*0\r\n"
    b"*1\r\n$4\r\nPING\r\n"
)


class TestServerContract(ConnectionContract):
    valid_input = REQUESTS
    invalid_input = b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"

    def make_connection(self) -> ServerConnection:
        return ServerConnection()

    def sendable_events(self) -> list[Any]:
        return [Reply(SimpleString(b"OK")), Reply([1, b"x", None]), Push([b"message", b"c", b"m"])]

    def unsendable_events(self) -> list[Any]:
        return [Command((b"PING",)), Reply(SimpleString(b"a\r\nb")), Reply(object())]


def server(**limits: Any) -> Any:
    return lambda: ServerConnection(**limits)


def commands(data: bytes, **limits: Any) -> list[tuple[bytes, ...]]:
    outcome = assert_split_invariant(server(**limits), data, eof=True)
    assert outcome.error is None, outcome.error
    assert isinstance(outcome.events[-1], ConnectionClosed)
    return [event.args for event in outcome.events[:-1]]


def rejected(data: bytes, **limits: Any) -> RemoteProtocolError:
    outcome = assert_split_invariant(server(**limits), data)
    assert isinstance(outcome.error, RemoteProtocolError), f"{data!r} was accepted"
    return outcome.error


def test_multibulk_and_inline_commands() -> None:
    assert commands(REQUESTS) == [
        (b"SET", b"k", b"a\r\nb"),
        (b"PING",),
        (b"ECHO", b"a bA"),
        (b"PING",),
    ]


def test_a_command_with_many_arguments_arriving_slowly() -> None:
    count = 20002
    data = b"*%d\r\n" % count + b"$1\r\nx\r\n" * count
    outcome = run(server(), [data[i : i + 7] for i in range(0, len(data), 7)])
    assert outcome.events == [Command((b"x",) * count)]


def test_inline_splitting_as_redis_does() -> None:
    cases = {
        b"": [],
        b"   ": [],
        b"set k v": [b"set", b"k", b"v"],
        b'  a  "b c"  ': [b"a", b"b c"],
        b'"\\n\\r\\t\\b\\a\\"\\\\\\q"': [b'\n\r\t\b\a"\\q'],
        b'"\\x41\\x4a\\x4"': [b"AJx4"],
        b"'it\\'s' 'a\\b'": [b"it's", b"a\\b"],
        b'a"b c" d': [b"ab c", b"d"],
        b"a'b c'": [b"ab c"],
        b"a\x00b": [b"a"],
        b"a\tb\x0bc": [b"a", b"b", b"c"],
        b'""': [b""],
        b'"\\': None,
    }
    for line, expected in cases.items():
        assert split_inline(line) == expected, line
    for bad in (b'"abc', b"'abc", b'"a"b', b"'a'b", b'"a\\"', b'a"b c"d'):
        assert split_inline(bad) is None, bad


def test_inline_lines_end_at_lf_with_or_without_cr() -> None:
    assert commands(b"PING\nECHO hi\r\n") == [(b"PING",), (b"ECHO", b"hi")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*3000000000\r\n", "invalid multibulk length"),
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*+3\r\n", "invalid multibulk length"),
        (b"*03\r\n", "invalid multibulk length"),
        (b"* 3\r\n", "invalid multibulk length"),
        (b"*-0\r\n", "invalid multibulk length"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "expected '$', got 'f'"),
        (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
        (b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "invalid bulk length"),
        (b"*1\r\n$2000000000\r\n", "invalid bulk length"),
        (b"*1\r\n$blabla\r\n", "invalid bulk length"),
        (b"*1\r\n$+3\r\nfoo\r\n", "invalid bulk length"),
        (b"*1\r\n$03\r\nfoo\r\n", "invalid bulk length"),
        (b"*1\r\n$ 3\r\nfoo\r\n", "invalid bulk length"),
        (b"*2\r\n$4\r\nECHO\r\n$2\r\nhiXX", "not followed by CRLF"),
        (b'set """test-key""" test-value\r\n', "unbalanced quotes"),
        (b"*1\n", "LF without CR"),
        (b"*1\r\n$1\n", "LF without CR"),
    ],
    ids=repr,
)
def test_malformed_requests(data: bytes, message: str) -> None:
    error = rejected(data, max_bulk_length=512 * 1024 * 1024)
    assert message in error.message and error.offset is not None


def test_a_protocol_error_is_answered_before_closing() -> None:
    connection = ServerConnection()
    connection.receive_data(b"PING\r\n*1\r\nfoo\r\n")
    assert connection.next_event() == Command((b"PING",))
    with pytest.raises(RemoteProtocolError):
        connection.next_event()
    assert connection.receive_state is ReceiveState.ERROR
    assert (
        connection.data_to_send() == b"-ERR Protocol error: expected '$', got 'f' (at byte 10)\r\n"
    )


def test_desync_regressions_end_in_an_error_not_unbounded_buffering() -> None:
    for start in (b"\x00", b"*\x00", b"$\x00"):
        assert rejected(start + b"A" * 70_000 + b"\n").message.startswith("Protocol error")
        error = rejected(start + b"A" * 70_000)
        assert "too big" in error.message


def test_inline_and_header_length_limits() -> None:
    assert commands(b"ECHO " + b"a" * 5 + b"\r\n", max_inline_length=11) == [(b"ECHO", b"aaaaa")]
    assert (
        "too big inline request"
        in rejected(b"ECHO " + b"a" * 10 + b"\r\n", max_inline_length=11).message
    )
    assert "too big inline request" in rejected(b"ECHO " + b"a" * 10, max_inline_length=11).message
    assert "too big mbulk count string" in rejected(b"*" + b"1" * 12, max_inline_length=11).message
    assert (
        "too big mbulk count string"
        in rejected(b"*" + b"1" * 12 + b"\r\n", max_inline_length=11).message
    )
    error = rejected(b"*1\r\n$" + b"1" * 12, max_inline_length=11)
    assert "too big bulk count string" in error.message
    # A final CR may still become the CRLF.
    assert run(server(max_inline_length=3), [b"*12\r"]).error is None
    assert run(server(max_inline_length=3), [b"*1\r\n$12\r"]).error is None


def test_argument_count_bulk_and_size_limits() -> None:
    assert commands(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", max_arguments=2) == [(b"a", b"b")]
    assert "invalid multibulk length" in rejected(b"*3\r\n", max_arguments=2).message
    assert "invalid bulk length" in rejected(b"*1\r\n$5\r\n", max_bulk_length=4).message
    data = b"*2\r\n$3\r\nabc\r\n$3\r\nabc\r\n"
    assert commands(data, max_buffer_size=len(data)) == [(b"abc", b"abc")]
    assert "spans more" in rejected(data, max_buffer_size=len(data) - 1).message
    assert "spans more" in rejected(data[:-4], max_buffer_size=len(data) - 6).message
    assert "spans more" in rejected(b"*1\r\n$1" + b"0" * 3, max_buffer_size=6).message
    assert commands(b"PING\r\n" * 3, max_buffer_size=None) == [(b"PING",)] * 3


def test_eof_inside_a_command_is_an_error() -> None:
    for partial in (b"*2\r\n$1\r\na\r\n", b"PIN", b"*1\r\n$3\r\nab"):
        outcome = run(server(), [partial], eof=True)
        assert isinstance(outcome.error, RemoteProtocolError), partial


# -- replies out ------------------------------------------------------------------


def test_replies_the_client_parses_back() -> None:
    connection = ServerConnection(protocol=3)
    value = {b"list": [1, 2.5, None, True, SimpleString(b"ok")], b"set": {b"x"}}
    connection.send(Reply(value))
    reader = ReplyReader()
    reader.receive_data(connection.data_to_send())
    assert reader.next_event() == Reply(value)


def test_lengths_with_thousands_of_digits_are_refused_cleanly() -> None:
    many = b"1" * 5000
    assert "invalid multibulk length" in rejected(b"*" + many + b"\r\n").message
    assert "invalid bulk length" in rejected(b"*1\r\n$" + many + b"\r\n").message
