"""Sending never raises anything but LocalProtocolError, and a refusal changes nothing (issue 12).

Items 1 and 12: every sending method of both roles refuses what RESP cannot
carry with a LocalProtocolError that says what was wrong, before anything is
written or recorded; and a transaction is one unit that cannot leave the
connection inside ``MULTI``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    ReplyReader,
    ServerConnection,
    SetMembers,
    SimpleString,
    Verbatim,
)

SURROGATE = "\ud800"


def assert_refused_cleanly(client: ClientConnection, send: Callable[[], Any], match: str) -> None:
    """``send()`` raises LocalProtocolError matching ``match``; nothing was written or recorded."""
    before = client.pending
    with pytest.raises(LocalProtocolError, match=match):
        send()
    assert client.data_to_send() == b""
    assert client.pending == before


# -- item 12: each sending method, one bad value each --------------------------------


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.command("SET", "k", SURROGATE),
        lambda c: c.command("SET", SURROGATE),
        lambda c: c.command(SURROGATE),
        lambda c: c.send(Command(("SET", "k", "ok" + SURROGATE))),
        lambda c: c.batch([("SET", "a", "1"), ("SET", "b", SURROGATE)]),
        lambda c: c.batch([(SURROGATE, "b")]),
        lambda c: c.transaction([("SET", "a", "1"), ("SET", "b", SURROGATE)]),
        lambda c: c.setup(client_name=SURROGATE),
        lambda c: c.setup(password="ok", lib_name="x" + SURROGATE),
    ],
    ids=[
        "command",
        "command-key",
        "command-name",
        "send",
        "batch",
        "batch-name",
        "transaction",
        "setup",
        "setup-second",
    ],
)
def test_lone_surrogates_are_refused_before_anything_is_written(
    send: Callable[[ClientConnection], Any],
) -> None:
    client = ClientConnection()
    client.command("PING")
    client.data_to_send()
    assert_refused_cleanly(client, lambda: send(client), "not valid Unicode")


def test_a_refused_batch_command_is_named() -> None:
    client = ClientConnection()
    assert_refused_cleanly(
        client,
        lambda: client.batch([("GET", "a"), ("SET", "b", SURROGATE)]),
        r"command 1 of the batch: .*index 0 of '\\ud800'",
    )
    assert_refused_cleanly(
        client, lambda: client.setup(client_name=SURROGATE), "setup\\(\\): command 1: argument 2"
    )


def test_a_request_id_that_is_not_an_int_is_refused() -> None:
    client = ClientConnection()
    client.command("GET", "a")
    client.command("GET", "b")
    client.data_to_send()
    assert_refused_cleanly(client, lambda: client.cancel("x"), "request id is an int")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="request id is an int"):
        client.is_pending(None)  # type: ignore[arg-type]
    assert client.is_pending(1)


def test_huge_integers_are_sent_in_full() -> None:
    huge = 10**5000 + 1
    digits = b"1" + b"0" * 4999 + b"1"
    client = ClientConnection()
    client.command("SET", "k", huge)
    client.batch([("SET", "k", huge)])
    client.send(Command(("SET", "k", -huge)))
    expected = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5001\r\n" + digits + b"\r\n"
    negative = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5002\r\n-" + digits + b"\r\n"
    assert client.data_to_send() == expected + expected + negative


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (Reply(SURROGATE), "not valid Unicode"),
        (Reply([b"ok", "x" + SURROGATE]), "not valid Unicode"),
        (Reply(Verbatim("€€€", b"x")), "verbatim format must be 3 bytes"),
        (Reply(Verbatim(SURROGATE * 3, b"x")), "verbatim format must be 3 bytes"),
        (Reply(Verbatim(b"txt", b"x")), "verbatim format is a str"),  # type: ignore[arg-type]
        (Reply(Verbatim("txt", "text")), "verbatim string of type str"),  # type: ignore[arg-type]
        (Reply(ErrorReply(SURROGATE)), "simple error of type str"),  # type: ignore[arg-type]
        (Reply(ErrorReply("ERR", blob=True)), "error of type str"),  # type: ignore[arg-type]
        (Push(None), "a push's data is a list"),  # type: ignore[arg-type]
        (Push([b"a"], attributes=5), "must be a dict or MapPairs"),
        (Reply(b"v", attributes=[1]), "must be a dict or MapPairs"),
        (Reply(MapPairs([(1, 2, 3)])), "MapPairs are \\(key, value\\) tuples"),
        (Reply(Attributed(1, "not a map")), "must be a dict or MapPairs"),
        (Reply(10**20), "out of the 64-bit range"),
        (Reply(object()), "cannot send a object"),
    ],
    ids=repr,
)
def test_a_server_refuses_values_resp_cannot_carry(event: Any, match: str) -> None:
    for protocol in (2, 3):
        server = ServerConnection(protocol=protocol)
        server.send(Reply(b"before"))
        server.data_to_send()
        with pytest.raises(LocalProtocolError, match=match):
            server.send(event)
        assert server.data_to_send() == b""


def test_a_released_memoryview_is_refused() -> None:
    view = memoryview(b"abc")
    view.release()
    server = ServerConnection()
    with pytest.raises(LocalProtocolError, match="released"):
        server.send(Reply([view]))
    with pytest.raises(LocalProtocolError, match="released"):
        server.send(Reply(ErrorReply(view, blob=True)))  # type: ignore[arg-type]
    client = ClientConnection()
    assert_refused_cleanly(client, lambda: client.command("SET", "k", view), "released")
    assert_refused_cleanly(client, lambda: client.batch([("SET", "k", view)]), "released")


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = [b"a"]
    loop.append(loop)
    mapping: dict[bytes, Any] = {}
    mapping[b"self"] = [mapping]
    for value in (loop, mapping, Push([b"p", loop])):
        server = ServerConnection(protocol=3)
        with pytest.raises(LocalProtocolError, match="deeper than 1024 levels"):
            server.send(value if type(value) is Push else Reply(value))
        assert server.data_to_send() == b""


def test_nesting_is_bounded_at_1024_levels() -> None:
    deep: Any = 1
    for _ in range(1025):
        deep = [deep]
    server = ServerConnection(protocol=3)
    with pytest.raises(LocalProtocolError, match="deeper than 1024"):
        server.send(Reply(deep))
    server.send(Reply(deep[0]))
    assert server.data_to_send() == b"*1\r\n" * 1024 + b":1\r\n"


def test_every_big_number_parsed_can_be_repred_and_sent_back() -> None:
    digits = b"-" + b"7" * 20_000
    reader = ReplyReader()
    reader.receive_data(b"(" + digits + b"\r\n")
    (reply,) = list(reader.events())
    assert repr(reply.value) == f"BigNumber({digits.decode()})"
    assert str(reply.value) == f"{reply.value}" == digits.decode()
    assert repr(reply).startswith("Reply(value=BigNumber(-7777")
    server = ServerConnection(protocol=3)
    server.send(Reply(reply.value))
    assert server.data_to_send() == b"(" + digits + b"\r\n"
    server.set_protocol(2)
    server.send(Reply(reply.value))
    assert server.data_to_send() == b"$20001\r\n" + digits + b"\r\n"


# -- item 1: transactions ---------------------------------------------------------


def test_a_transaction_is_written_as_one_unit_and_answered_by_one_reply() -> None:
    client = ClientConnection()
    before = client.command("GET", "x")
    request = client.transaction([("SET", "k", "v"), ["INCR", b"n"]])
    after = client.command("GET", "y")
    assert client.data_to_send() == (
        b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"
        b"*1\r\n$5\r\nMULTI\r\n"
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
        b"*1\r\n$4\r\nEXEC\r\n"
        b"*2\r\n$3\r\nGET\r\n$1\r\ny\r\n"
    )
    assert client.pending == 3
    client.receive_data(b"$1\r\n1\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:5\r\n$1\r\n2\r\n")
    assert list(client.events()) == [
        Reply(b"1", None, before),
        Reply([b"OK", b"QUEUED", b"QUEUED", [b"OK", 5]], None, request),
        Reply(b"2", None, after),
    ]


def test_a_transaction_that_did_not_run_says_why() -> None:
    client = ClientConnection(protocol=3)
    watched = client.transaction([("SET", "k", "v")])
    aborted = client.transaction([("SET", "k", "v"), ("NOSUCH",)])
    client.receive_data(b"+OK\r\n+QUEUED\r\n_\r\n")
    client.receive_data(
        b"+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH'\r\n"
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    )
    watched_reply, aborted_reply = list(client.events())
    assert watched_reply == Reply([b"OK", b"QUEUED", None], None, watched)
    values = aborted_reply.value
    assert aborted_reply.request == aborted
    assert values[2] == ErrorReply(b"ERR unknown command 'NOSUCH'")
    assert values[-1].code == "EXECABORT"


def test_a_transaction_with_a_push_inside_exec_keeps_sync() -> None:
    client = ClientConnection(protocol=3)
    request = client.transaction([("GET", "k")])
    client.receive_data(b"+OK\r\n+QUEUED\r\n*1\r\n>2\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nv\r\n")
    assert list(client.events()) == [
        Push([b"message", b"c"]),
        Reply([b"OK", b"QUEUED", [b"v"]], None, request),
    ]


def test_a_refused_transaction_sends_and_records_nothing() -> None:
    client = ClientConnection()
    for bad, match in (
        ([], "needs at least one command"),
        ([("SUBSCRIBE", "c")], "send it with command"),
        ([("MULTI",)], "send it with command"),
        ([("GET", None)], "command 0 of the transaction"),
        (5, "takes a list of commands, not a int"),
    ):
        assert_refused_cleanly(client, lambda bad=bad: client.transaction(bad), match)
    client.command("MULTI")
    client.data_to_send()
    assert_refused_cleanly(
        client, lambda: client.transaction([("GET", "k")]), "cannot start inside MULTI"
    )


def test_a_cancelled_transaction_is_read_and_dropped_and_takes_any_iterable() -> None:
    client = ClientConnection()
    request = client.transaction(iter([("INCR", "n")]))
    after = client.command("PING")
    assert client.cancel(request)
    client.receive_data(b"+OK\r\n+QUEUED\r\n*1\r\n:1\r\n+PONG\r\n")
    assert list(client.events()) == [Reply(b"PONG", None, after)]


def test_bad_transactions_never_give_a_caller_another_callers_reply() -> None:
    # The scenario of issue 12, item 1: SET k_i v_i; GET k_i from many
    # callers, with bad transactions attempted in between, against a
    # loopback Redis double that queues inside MULTI as Redis does.
    client = ClientConnection()
    server = ServerConnection()
    store: dict[bytes, bytes] = {}
    queue: list[tuple[bytes, ...]] | None = None
    expected: dict[int, Any] = {}
    for i in range(20):
        key, value = b"k%d" % i, b"v%d" % i
        expected[client.command("SET", key, value)] = b"OK"
        expected[client.command("GET", key)] = value
        with pytest.raises(LocalProtocolError):
            client.transaction([("SET", key, b"bad"), ("GET", SURROGATE)])
        with pytest.raises(LocalProtocolError):
            client.command("SET", key, SURROGATE)
    server.receive_data(client.data_to_send())

    def run(args: tuple[bytes, ...]) -> Any:
        if args[0] == b"SET":
            store[args[1]] = args[2]
            return SimpleString(b"OK")
        return store.get(args[1])

    for command in list(server.events()):
        args = command.args
        if args[0] == b"MULTI":
            queue = []
            server.send(Reply(SimpleString(b"OK")))
        elif args[0] == b"EXEC":
            assert queue is not None
            server.send(Reply([run(queued) for queued in queue]))
            queue = None
        elif queue is not None:
            queue.append(args)
            server.send(Reply(SimpleString(b"QUEUED")))
        else:
            server.send(Reply(run(args)))
    client.receive_data(server.data_to_send())
    assert {reply.request: reply.value for reply in list(client.events())} == expected


# -- the class of bug: random values through every sending method -------------------


class Weird:
    def __repr__(self) -> str:
        return "Weird()"


class Text(str):
    pass


scalars = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=())),
    st.text(max_size=4).map(lambda s: s + SURROGATE),
    st.binary(max_size=20),
    st.binary(max_size=8).map(bytearray),
    st.binary(max_size=8).map(memoryview),
    st.integers(),
    st.integers(min_value=4290, max_value=4400).map(lambda digits: 10**digits),
    st.integers().map(BigNumber),
    st.floats(),
    st.booleans(),
    st.none(),
    st.just(math.nan),
    st.builds(SimpleString, st.binary(max_size=8)),
    st.builds(ErrorReply, st.one_of(st.binary(max_size=8), st.text(max_size=4)), st.booleans()),
    st.builds(Verbatim, st.text(max_size=4), st.one_of(st.binary(max_size=4), st.text(max_size=2))),
    st.builds(Weird),
    st.text(max_size=4).map(Text),
    st.just(object),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.lists(inner, max_size=4).map(SetMembers),
        st.lists(st.tuples(inner, inner), max_size=3).map(MapPairs),
        st.lists(inner, max_size=3).map(MapPairs),
        st.dictionaries(st.binary(max_size=4), inner, max_size=3),
        st.builds(Attributed, inner, inner),
        st.builds(Push, inner, st.none() | inner),
    ),
    max_leaves=12,
)
argument_lists = st.lists(values, max_size=5)


def refuses_cleanly(
    connection: ClientConnection | ServerConnection, send: Callable[..., Any], *args: Any
) -> None:
    """Call ``send(*args)``: it succeeds, or it raises LocalProtocolError having changed nothing."""
    client = connection if isinstance(connection, ClientConnection) else None
    pending = client.pending if client is not None else None
    try:
        send(*args)
    except LocalProtocolError as error:
        assert str(error)
        assert connection.data_to_send() == b""
        if client is not None:
            assert client.pending == pending
    else:
        connection.data_to_send()


SETUP_ARGUMENTS = ("protocol", "username", "password", "client_name", "db", "lib_name")


@given(
    args=argument_lists,
    commands=st.one_of(st.lists(argument_lists, max_size=3), values),
    setup=st.fixed_dictionaries({}, optional=dict.fromkeys(SETUP_ARGUMENTS, values)),
    request=values,
)
def test_fuzz_random_values_through_every_client_sending_method(
    args: list[Any], commands: Any, setup: dict[str, Any], request: Any
) -> None:
    for protocol in (2, 3):
        client = ClientConnection(protocol=protocol)
        client.command("PING")
        client.data_to_send()
        refuses_cleanly(client, client.command, *args)
        refuses_cleanly(client, client.send, Command(tuple(args)))
        refuses_cleanly(client, client.send, args)
        refuses_cleanly(client, client.batch, commands)
        refuses_cleanly(client, client.transaction, commands)
        refuses_cleanly(client, partial(client.setup, **setup))
        refuses_cleanly(client, client.cancel, request)


@given(value=values, attributes=values)
def test_fuzz_random_values_through_every_server_sending_method(
    value: Any, attributes: Any
) -> None:
    for protocol in (2, 3):
        server = ServerConnection(protocol=protocol)
        refuses_cleanly(server, server.send, Reply(value))
        refuses_cleanly(server, server.send, Reply(value, attributes))
        refuses_cleanly(server, server.send, Push(value, attributes))
        refuses_cleanly(server, server.send, value)


# -- every value the parser produces can be repr'd and sent back ------------------------

wire_scalars = st.one_of(
    st.sampled_from([b"+OK\r\n", b"-ERR x\r\n", b"_\r\n", b"#t\r\n", b",-0\r\n", b",nan\r\n"]),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: b":%d\r\n" % n),
    st.integers(1, 6000).map(lambda digits: b"(-" + b"9" * digits + b"\r\n"),
    st.binary(min_size=3, max_size=3).flatmap(
        lambda fmt: st.binary(max_size=5).map(
            lambda data: b"=%d\r\n%b:%b\r\n" % (len(data) + 4, fmt, data)
        )
    ),
    st.binary(max_size=5).map(lambda data: b"!%d\r\n%b\r\n" % (len(data), data)),
    st.floats().map(lambda f: b",%r\r\n" % f),
)


def wire_aggregates(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    def build(kind: bytes, items: list[bytes]) -> bytes:
        count = len(items) // 2 if kind in (b"%", b"|") else len(items)
        body = b"".join(items[: count * 2] if kind in (b"%", b"|") else items)
        return kind + b"%d\r\n" % count + body

    return st.builds(
        build, st.sampled_from([b"*", b"%", b"~", b">", b"|"]), st.lists(children, max_size=5)
    )


@given(st.lists(st.recursive(wire_scalars, wire_aggregates, max_leaves=10), max_size=3))
def test_fuzz_every_parsed_value_reprs_and_is_sent_back_the_same(replies: list[bytes]) -> None:
    reader = ReplyReader()
    reader.receive_data(b"".join(replies))
    events = list(reader.events())
    server = ServerConnection(protocol=3)  # RESP3: RESP2 would degrade the types
    for event in events:
        assert repr(event)
        server.send(event)
    again = ReplyReader()
    again.receive_data(server.data_to_send())
    assert list(again.events()) == events
