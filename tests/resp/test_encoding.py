"""Encoding: commands (client role) and every reply type in both protocols (server role)."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from tidewire import LocalProtocolError
from tidewire_resp import (
    Attributed,
    BigNumber,
    ClientConnection,
    Command,
    ErrorReply,
    MapPairs,
    Push,
    Reply,
    ServerConnection,
    SetMembers,
    SimpleString,
    Verbatim,
)

# -- commands -------------------------------------------------------------------


def test_commands_are_encoded_as_arrays_of_blobs() -> None:
    client = ClientConnection()
    client.send(Command((b"SET", "ключ", 42, -7, 0.1, 1e100, float("inf"))))
    assert client.data_to_send() == (
        b"*7\r\n$3\r\nSET\r\n$8\r\n\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\r\n$2\r\n42\r\n$2\r\n-7\r\n"
        b"$3\r\n0.1\r\n$6\r\n1e+100\r\n$3\r\ninf\r\n"
    )


def test_floats_round_trip_exactly() -> None:
    for number in (0.1, 1 / 3, 2.5e-308, 1.7976931348623157e308, -0.0):
        client = ClientConnection()
        client.command("ZADD", "z", number, "m")
        wire = client.data_to_send()
        text = wire.split(b"\r\n")[6]
        assert float(text) == number and str(float(text)) == str(number)


class Color(enum.IntEnum):
    RED = 3


class Text(str):
    pass


class Real(float):
    pass


class Blob(bytes):
    pass


def test_subclasses_of_accepted_types_are_converted() -> None:
    client = ClientConnection()
    client.command(Text("GET"), Color.RED, Real(0.5), Blob(b"b"))
    assert client.data_to_send() == b"*4\r\n$3\r\nGET\r\n$1\r\n3\r\n$3\r\n0.5\r\n$1\r\nb\r\n"


def test_memoryviews_are_sent_without_a_copy_and_cast_to_bytes() -> None:
    import array

    big = bytes(range(256)) * 100
    client = ClientConnection()
    client.command("SET", "k", memoryview(big), memoryview(array.array("H", [1, 2])))
    wire = client.data_to_send()
    assert wire.startswith(b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$25600\r\n" + big + b"\r\n$4\r\n")
    assert wire.endswith(b"\r\n")
    large = b"x" * 100_000
    client.command("SET", "k", large)
    assert client.data_to_send() == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n" + large + b"\r\n"


def test_bad_arguments_are_refused_before_anything_is_written() -> None:
    client = ClientConnection()
    for bad in ((b"SET", b"k", None), (b"SET", False), (b"GET", [b"k"]), ()):
        with pytest.raises(LocalProtocolError):
            client.command(*bad)
    strided = memoryview(b"abcdef")[::2]
    with pytest.raises(LocalProtocolError, match="contiguous"):
        client.command("SET", "k", strided)
    assert client.data_to_send() == b""
    assert client.pending == 0


# -- replies ---------------------------------------------------------------------


def encoded(value: Any, protocol: int, attributes: Any = None) -> bytes:
    connection = ServerConnection(protocol=protocol)
    connection.send(Reply(value, attributes))
    return connection.data_to_send()


@pytest.mark.parametrize(
    ("value", "resp3", "resp2"),
    [
        (SimpleString(b"OK"), b"+OK\r\n", b"+OK\r\n"),
        (b"foo", b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n"),
        (bytearray(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
        (memoryview(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
        ("é", b"$2\r\n\xc3\xa9\r\n", b"$2\r\n\xc3\xa9\r\n"),
        (12, b":12\r\n", b":12\r\n"),
        (None, b"_\r\n", b"$-1\r\n"),
        (True, b"#t\r\n", b":1\r\n"),
        (False, b"#f\r\n", b":0\r\n"),
        (1.5, b",1.5\r\n", b"$3\r\n1.5\r\n"),
        (float("inf"), b",inf\r\n", b"$3\r\ninf\r\n"),
        (float("-inf"), b",-inf\r\n", b"$4\r\n-inf\r\n"),
        (float("nan"), b",nan\r\n", b"$3\r\nnan\r\n"),
    ],
    ids=repr,
)
def test_scalars_in_both_protocols(value: Any, resp3: bytes, resp2: bytes) -> None:
    assert encoded(value, 3) == resp3
    assert encoded(value, 2) == resp2


def test_resp3_types_and_their_resp2_forms() -> None:

    big = BigNumber(-(10**30))
    assert encoded(big, 3) == b"(-1000000000000000000000000000000\r\n"
    assert encoded(big, 2) == b"$32\r\n-1000000000000000000000000000000\r\n"
    assert encoded(ErrorReply(b"ERR x"), 3) == b"-ERR x\r\n"
    assert encoded(ErrorReply(b"ERR\r\nx", blob=True), 3) == b"!6\r\nERR\r\nx\r\n"
    assert encoded(ErrorReply(b"ERR x", blob=True), 2) == b"-ERR x\r\n"
    assert encoded(Verbatim("txt", b"hi"), 3) == b"=6\r\ntxt:hi\r\n"
    assert encoded(Verbatim("mkd", b"hi"), 2) == b"$2\r\nhi\r\n"
    # Any three bytes, as the parser takes them: the fourth is the separator.
    assert encoded(Verbatim("a:b", b"x"), 3) == b"=5\r\na:b:x\r\n"
    assert encoded([1, [b"a"], ()], 3) == b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n*0\r\n"
    assert encoded({b"k": 1}, 3) == b"%1\r\n$1\r\nk\r\n:1\r\n"
    assert encoded({b"k": 1}, 2) == b"*2\r\n$1\r\nk\r\n:1\r\n"
    assert encoded(MapPairs([(1, 2), (1, 3)]), 3) == b"%2\r\n:1\r\n:2\r\n:1\r\n:3\r\n"
    assert encoded({b"a"}, 3) == b"~1\r\n$1\r\na\r\n"
    assert encoded(frozenset({b"a"}), 2) == b"*1\r\n$1\r\na\r\n"
    assert encoded(SetMembers([1, 1]), 3) == b"~2\r\n:1\r\n:1\r\n"
    assert encoded(b"v", 3, {b"ttl": 1}) == b"|1\r\n$3\r\nttl\r\n:1\r\n$1\r\nv\r\n"
    assert encoded(b"v", 2, {b"ttl": 1}) == b"$1\r\nv\r\n"
    assert (
        encoded([Attributed(1, MapPairs([(b"a", 2)]))], 3) == b"*1\r\n|1\r\n$1\r\na\r\n:2\r\n:1\r\n"
    )
    deep: Any = 1
    for _ in range(1024):
        deep = [deep]
    assert encoded(deep, 3) == b"*1\r\n" * 1024 + b":1\r\n"


def test_pushes_in_both_protocols() -> None:
    connection = ServerConnection(protocol=3)
    connection.send(Push([b"message", b"c", b"m"], {b"a": 1}))
    assert (
        connection.data_to_send()
        == b"|1\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
    )
    connection.set_protocol(2)
    assert connection.protocol == 2
    connection.send(Push([b"message", b"c", b"m"], {b"a": 1}))
    assert connection.data_to_send() == b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"


def test_unsendable_values_are_refused_and_nothing_is_written() -> None:

    connection = ServerConnection(protocol=3)
    for bad in (
        SimpleString(b"a\nb"),
        ErrorReply(b"ERR\r\n"),
        Verbatim("text", b"x"),
        2**64,
        [1, object()],
        {b"k": {1.5j}},
    ):
        with pytest.raises(LocalProtocolError):
            connection.send(Reply(bad))
    assert connection.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        connection.set_protocol(1)
    with pytest.raises(LocalProtocolError):
        ServerConnection(protocol=4)
