"""Under small limits, the outcome does not depend on how the input is split (issue 12, item 11).

``max_buffer_size`` is a rule about the stream: a reply (or a command)
spans at most that many bytes, so the limit error is raised when the
stream goes past ``start + limit`` with the value still incomplete, and
nothing the parser could only see beyond that point comes first. Every
feed (whole, byte by byte, random splits) gives the same events, the same
error and the same offset.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tidewire import RemoteProtocolError
from tidewire.testing import bytewise, random_splits, run
from tidewire_resp import ClientConnection, Push, ReplyReader, ServerConnection


def outcome(factory: Any, chunks: list[bytes], eof: bool = False) -> tuple[Any, ...]:
    """Events, and the error's class, code, offset and the offset its message gives."""
    result = run(factory, chunks, eof=eof)
    error = result.error
    if error is None:
        return (result.events, None)
    said = re.findall(r"at byte (\d+)", str(error))
    return (result.events, type(error), error.code, error.offset, said)


def assert_same_for_every_split(factory: Any, data: bytes, eof: bool = False) -> tuple[Any, ...]:
    whole = outcome(factory, [data], eof)
    assert outcome(factory, bytewise(data), eof) == whole, "byte by byte"
    for seed in range(6):
        assert outcome(factory, random_splits(data, seed), eof) == whole, f"seed {seed}"
    return whole


def test_a_push_nested_in_a_push_past_the_limit_is_not_delivered() -> None:
    # The nested push ends at byte 19, past the limit of 17: the limit error
    # comes first however the bytes arrive.
    data = b">3\r\n$1\r\na\r\n>1\r\n:1\r\n$2\r\nxy\r\n"
    events, error, _, offset, _ = assert_same_for_every_split(
        lambda: ReplyReader(max_buffer_size=17), data
    )
    assert events == [] and error is RemoteProtocolError and offset == 0
    # Within the limit, it is delivered before the error, however split.
    events, error, *_ = assert_same_for_every_split(lambda: ReplyReader(max_buffer_size=20), data)
    assert events == [Push([1])] and error is RemoteProtocolError


def test_an_inline_command_longer_than_max_buffer_size_is_refused_whole_too() -> None:
    data = b"PING hello world\r\n"
    events, error, _, offset, _ = assert_same_for_every_split(
        lambda: ServerConnection(max_buffer_size=10), data
    )
    assert events == [] and error is RemoteProtocolError and offset == 0
    events, error, *_ = assert_same_for_every_split(
        lambda: ServerConnection(max_buffer_size=18), data
    )
    assert error is None and len(events) == 1


def test_a_bad_byte_past_the_limit_does_not_come_before_the_limit() -> None:
    data = b"*3\r\n:1\r\n:2\r\n:x\r\n"  # the bad integer is past the limit of 12
    events, error, _, offset, said = assert_same_for_every_split(
        lambda: ReplyReader(max_buffer_size=12), data
    )
    assert events == [] and error is RemoteProtocolError
    assert offset == 0 and set(said) == {"0"}
    big = b"$70000\r\n" + b"x" * 70_000 + b"\r\r"  # a large blob with a bad end, over the limit
    _, error, _, offset, _ = assert_same_for_every_split(
        lambda: ReplyReader(max_buffer_size=70_008), big
    )
    assert error is RemoteProtocolError and offset == 0


def test_the_end_of_stream_inside_a_reply_is_reported_at_the_same_offset() -> None:
    data = b"+OK\r\n*2\r\n$100\r\n" + b"x" * 50
    _, error, _, offset, said = assert_same_for_every_split(ReplyReader, data, eof=True)
    assert error is RemoteProtocolError and offset == len(data) and set(said) == {str(len(data))}
    client_data = b"*1\r\n:1\r\n*2\r\n:"

    def client() -> ClientConnection:
        connection = ClientConnection()
        connection.command("GET", "a")
        connection.command("GET", "b")
        return connection

    _, error, _, offset, _ = assert_same_for_every_split(client, client_data, eof=True)
    assert offset == len(client_data)
    server_data = b"*2\r\n$4\r\nECHO\r\n$5\r\nhel"
    _, error, _, offset, _ = assert_same_for_every_split(ServerConnection, server_data, eof=True)
    assert offset == len(server_data)


# -- the class of bug: small limits, random valid and mutated input, every split --------

scalar_lines = st.sampled_from(
    [
        *(b"+OK\r\n", b"-ERR x\r\n", b":12\r\n", b"$3\r\nabc\r\n", b"$-1\r\n", b"_\r\n"),
        *(b",1.5\r\n", b"#t\r\n", b"(123\r\n", b"=7\r\ntxt:abc\r\n", b"!2\r\nno\r\n"),
        b"$?\r\n;2\r\nab\r\n;0\r\n",
    ]
)


def aggregate(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    def build(kind: bytes, items: list[bytes]) -> bytes:
        count = len(items) // 2 if kind in (b"%", b"|") else len(items)
        body = b"".join(items[: count * 2] if kind in (b"%", b"|") else items)
        return kind + b"%d\r\n" % count + body

    return st.builds(build, st.sampled_from([b"*", b"%", b"~", b">", b"|"]), st.lists(children))


replies = st.recursive(scalar_lines, aggregate, max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(b"".join(draw(st.lists(valid, min_size=1, max_size=4))))
    for _ in range(draw(st.integers(0, 2))):
        if not data:
            break
        index = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[index] = draw(st.sampled_from(b"\r\n:*$>%|0x-?"))
        elif action == "cut":
            del data[index]
        else:
            data.insert(index, draw(st.sampled_from(b"\r\n:*$0")))
    return bytes(data)


@given(
    data=mutated(replies),
    max_buffer_size=st.integers(0, 60),
    max_line_length=st.integers(0, 12),
    max_depth=st.integers(0, 4),
    max_bulk_length=st.integers(0, 8),
    eof=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fuzz_small_limits_give_the_same_outcome_for_every_split(
    data: bytes,
    max_buffer_size: int,
    max_line_length: int,
    max_depth: int,
    max_bulk_length: int,
    eof: bool,
    seed: int,
) -> None:
    def reader() -> ReplyReader:
        return ReplyReader(
            max_buffer_size=max_buffer_size,
            max_line_length=max_line_length,
            max_depth=max_depth,
            max_bulk_length=max_bulk_length,
            max_aggregate_length=6,
        )

    whole = outcome(reader, [data], eof)
    assert outcome(reader, bytewise(data), eof) == whole
    assert outcome(reader, random_splits(data, seed), eof) == whole


commands = st.one_of(
    st.lists(st.binary(max_size=6), min_size=1, max_size=4).map(
        lambda args: b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)
    ),
    st.lists(st.sampled_from([b"PING", b"a", b'"x y"', b"'q'", b"\\x41"]), max_size=4).map(
        lambda words: b" ".join(words) + b"\r\n"
    ),
)


@given(
    data=mutated(commands),
    max_buffer_size=st.integers(0, 40),
    max_inline_length=st.integers(0, 20),
    max_bulk_length=st.integers(0, 8),
    eof=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fuzz_small_limits_give_the_same_commands_for_every_split(
    data: bytes,
    max_buffer_size: int,
    max_inline_length: int,
    max_bulk_length: int,
    eof: bool,
    seed: int,
) -> None:
    def server() -> ServerConnection:
        return ServerConnection(
            max_buffer_size=max_buffer_size,
            max_inline_length=max_inline_length,
            max_bulk_length=max_bulk_length,
            max_arguments=3,
        )

    whole = outcome(server, [data], eof)
    assert outcome(server, bytewise(data), eof) == whole
    assert outcome(server, random_splits(data, seed), eof) == whole
