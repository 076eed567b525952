"""ClientConnection and ReplyReader: the contract, request matching, pub/sub, modes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError
from tidewire.testing import ConnectionContract, Loopback, run
from tidewire_resp import (
    Attributed,
    ClientConnection,
    Command,
    ErrorReply,
    Message,
    MonitorOutput,
    Push,
    Reply,
    ReplyReader,
    ServerConnection,
    SimpleString,
)

REPLIES = (
    b"+OK\r\n:1\r\n$3\r\nfoo\r\n*2\r\n$1\r\na\r\n_\r\n>2\r\n+p\r\n:1\r\n%1\r\n+k\r\n~1\r\n,1.5\r\n"
    b"|1\r\n+ttl\r\n:9\r\n#t\r\n$?\r\n;2\r\nab\r\n;0\r\n=6\r\ntxt:hi\r\n-ERR x\r\n"
)


class TestReplyReaderContract(ConnectionContract):
    valid_input = REPLIES
    invalid_input = b"+OK\r\n:1_000\r\n"

    def make_connection(self) -> ReplyReader:
        return ReplyReader()

    def unsendable_events(self) -> list[Any]:
        return [Command((b"PING",)), Reply(1)]


class TestClientContract(ConnectionContract):
    valid_input = REPLIES
    invalid_input = b"+OK\r\n*1\r\n$3\r\nabcXY"

    def make_connection(self) -> ClientConnection:
        client = ClientConnection()
        for _ in range(20):
            client.command("GET", "k")
        client.data_to_send()
        return client

    def sendable_events(self) -> list[Any]:
        return [Command((b"SET", "k", 1, 1.5, memoryview(b"v"), bytearray(b"w")))]

    def unsendable_events(self) -> list[Any]:
        return [
            Command(()),
            Command((None,)),
            Command((b"SET", b"k", True)),
            Command((b"SET", b"k", None)),
            Command((b"SET", b"k", object())),
            Command([b"GET", b"k"]),  # type: ignore[arg-type]
            Reply(1),
        ]


def client_with(
    *commands: tuple[Any, ...], protocol: int = 2
) -> tuple[ClientConnection, list[int]]:
    client = ClientConnection(protocol=protocol)
    ids = [client.command(*args) for args in commands]
    client.data_to_send()
    return client, ids


def feed(client: ClientConnection, data: bytes) -> list[Any]:
    outcome = run(client, [data])
    assert outcome.error is None, outcome.error
    return outcome.events


# -- encoding -------------------------------------------------------------------


# -- request matching -------------------------------------------------------------


def test_replies_are_matched_in_order_through_pushes() -> None:
    client, ids = client_with(("GET", "a"), ("GET", "b"), ("INCR", "c"), protocol=3)
    events = feed(
        client,
        b">2\r\n$10\r\ninvalidate\r\n_\r\n$1\r\nA\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n_\r\n:7\r\n",
    )
    assert events == [
        Push([b"invalidate", None]),
        Reply(b"A", None, ids[0]),
        Message("message", b"c", b"m"),
        Reply(None, None, ids[1]),
        Reply(7, None, ids[2]),
    ]
    assert client.pending == 0


def test_errors_in_a_pipeline_are_values() -> None:
    client, ids = client_with(("SET", "k", "v"), ("LPUSH", "k", "x"), ("GET", "k"))
    events = feed(client, b"+OK\r\n-WRONGTYPE Operation against a key\r\n$1\r\nv\r\n")
    assert [e.request for e in events] == ids
    assert events[1].value.code == "WRONGTYPE"


def test_attributes_stay_on_their_reply() -> None:
    client, ids = client_with(("GET", "a"), ("GET", "b"), protocol=3)
    events = feed(client, b"|1\r\n+ttl\r\n:5\r\n$1\r\nA\r\n$1\r\nB\r\n")
    assert events == [Reply(b"A", {b"ttl": 5}, ids[0]), Reply(b"B", None, ids[1])]


def test_a_reply_nobody_asked_for_is_a_remote_error() -> None:
    client = ClientConnection()
    client.receive_data(b"+OK\r\n")
    with pytest.raises(RemoteProtocolError, match="no request"):
        client.next_event()


def test_exec_with_a_nested_push_keeps_sync() -> None:
    client, ids = client_with(
        ("MULTI",),
        ("PING", "x"),
        ("PUBLISH", "a", "m1"),
        ("PING", "y"),
        ("EXEC",),
        ("GET", "k"),
        protocol=3,
    )
    events = feed(
        client,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
        b"*3\r\n$1\r\nx\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nm1\r\n:1\r\n$1\r\ny\r\n$1\r\nv\r\n",
    )
    assert events[4] == Message("message", b"a", b"m1")
    assert events[5] == Reply([b"x", 1, b"y"], None, ids[4])
    assert events[6] == Reply(b"v", None, ids[5])


def test_subscribe_inside_multi_is_refused() -> None:
    client, _ = client_with(("MULTI",))
    assert client.in_transaction
    with pytest.raises(LocalProtocolError, match="MULTI"):
        client.command("SUBSCRIBE", "a")
    assert client.data_to_send() == b""
    client.command("DISCARD")
    assert not client.in_transaction
    client.command("SUBSCRIBE", "a")  # fine again
    client, _ = client_with(("MULTI",), ("EXEC",))
    assert not client.in_transaction
    client.command("SSUBSCRIBE", "a")
    client, _ = client_with(("MULTI",), ("RESET",))
    assert not client.in_transaction
    client.command("PSUBSCRIBE", "a*")


# -- cancellation -------------------------------------------------------------------


def test_a_cancelled_request_has_its_reply_read_and_dropped() -> None:
    client, ids = client_with(("BLPOP", "q", 0), ("GET", "a"), ("GET", "b"))
    assert client.cancel(ids[0]) is True
    assert client.cancel(ids[0]) is True  # still awaited: harmless
    events = feed(client, b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n$1\r\nA\r\n")
    assert events == [Reply(b"A", None, ids[1])]
    assert client.is_pending(ids[2])
    assert client.cancel(ids[1]) is False  # answered already
    assert client.cancel(12345) is False
    assert feed(client, b"$1\r\nB\r\n") == [Reply(b"B", None, ids[2])]


def test_a_cancelled_subscribe_still_counts_its_confirmations() -> None:
    client, ids = client_with(("SUBSCRIBE", "a", "b"), ("PING",), protocol=3)
    client.cancel(ids[0])
    events = feed(
        client,
        b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n+PONG\r\n",
    )
    assert events == [Reply(b"PONG", None, ids[1])]
    assert client.subscriptions[0] == {b"a", b"b"}


# -- pub/sub ------------------------------------------------------------------------


def test_resp3_subscribe_confirmations_are_its_reply() -> None:
    client, ids = client_with(("SUBSCRIBE", "a", "b"), ("GET", "k"), protocol=3)
    events = feed(
        client,
        b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
        b">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n$1\r\nv\r\n",
    )
    assert events == [
        Message("message", b"a", b"hi"),
        Reply([[b"subscribe", b"a", 1], [b"subscribe", b"b", 2]], None, ids[0]),
        Reply(b"v", None, ids[1]),
    ]


def test_resp2_pubsub_reads_like_resp3() -> None:
    client, ids = client_with(("SUBSCRIBE", "a"), ("PSUBSCRIBE", "n*"), ("PING",), ("PING", "x"))
    events = feed(
        client,
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"
        b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\nm\r\n"
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*2\r\n$4\r\npong\r\n$1\r\nx\r\n",
    )
    assert events == [
        Reply([[b"subscribe", b"a", 1]], None, ids[0]),
        Message("message", b"a", b"hi"),
        Reply([[b"psubscribe", b"n*", 2]], None, ids[1]),
        Message("pmessage", b"nx", b"m", b"n*"),
        Reply([b"pong", b""], None, ids[2]),  # the subscribed-mode PING shape
        Reply([b"pong", b"x"], None, ids[3]),
    ]
    assert client.subscriptions == ({b"a"}, {b"n*"}, set())


def test_resp2_message_arrays_are_replies_when_not_subscribed() -> None:
    client, ids = client_with(("LRANGE", "l", 0, -1))
    events = feed(client, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n")
    assert events == [Reply([b"message", b"a", b"b"], None, ids[0])]


def test_unsubscribe_without_channels_expects_one_per_subscription() -> None:
    client, ids = client_with(("SUBSCRIBE", "a", "b"), ("UNSUBSCRIBE",), ("PING",))
    events = feed(
        client,
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n"
        b"+PONG\r\n",
    )
    assert [e.request for e in events] == ids
    assert len(events[1].value) == 2
    assert client.subscriptions == (set(), set(), set())


def test_unsubscribe_with_nothing_subscribed_gets_one_confirmation() -> None:
    client, ids = client_with(("PUNSUBSCRIBE",), ("GET", "k"), protocol=3)
    events = feed(client, b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n$1\r\nv\r\n")
    assert events == [
        Reply([[b"punsubscribe", None, 0]], None, ids[0]),
        Reply(b"v", None, ids[1]),
    ]


def test_sharded_pubsub_and_server_initiated_unsubscribe() -> None:
    client, ids = client_with(("SSUBSCRIBE", "s"), protocol=3)
    events = feed(
        client,
        b">3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n>3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n"
        b">3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n",
    )
    assert events[0] == Reply([[b"ssubscribe", b"s", 1]], None, ids[0])
    assert events[1:] == [Message("smessage", b"s", b"m"), Push([b"sunsubscribe", b"s", 0])]
    assert client.subscriptions == (set(), set(), set())


def test_resp2_server_initiated_unsubscribe_while_subscribed_is_a_push() -> None:
    client, ids = client_with(("SSUBSCRIBE", "s", "t"), ("GET", "k"))
    events = feed(
        client,
        b"*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$1\r\nt\r\n:2\r\n"
        b"*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:1\r\n-ERR only SUBSCRIBE allowed\r\n",
    )
    assert events[1] == Push([b"sunsubscribe", b"s", 1])
    assert events[2] == Reply(ErrorReply(b"ERR only SUBSCRIBE allowed"), None, ids[1])
    # A confirmation-shaped reply while not subscribed is an ordinary reply.
    client, ids = client_with(("LRANGE", "l", 0, -1))
    shaped = b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n"
    assert feed(client, shaped) == [Reply([b"unsubscribe", b"x", 0], None, ids[0])]


def test_a_subscribe_error_completes_the_request() -> None:
    client, ids = client_with(("SUBSCRIBE",), protocol=3)
    events = feed(client, b"-ERR wrong number of arguments for 'subscribe' command\r\n")
    assert events[0].request == ids[0] and events[0].value.code == "ERR"


def test_odd_confirmations_do_not_break_tracking() -> None:
    client, ids = client_with(("UNSUBSCRIBE", "a"), protocol=3)
    assert feed(client, b">1\r\n$11\r\nunsubscribe\r\n") == [
        Reply([[b"unsubscribe"]], None, ids[0])
    ]
    client, ids = client_with(protocol=3)
    assert feed(client, b">2\r\n$9\r\nsubscribe\r\n:1\r\n") == [Push([b"subscribe", 1])]


# -- CLIENT REPLY, MONITOR, HELLO, RESET -------------------------------------------------


def test_client_reply_off_and_on() -> None:
    client, ids = client_with(
        ("CLIENT", "REPLY", "OFF"), ("SET", "a", 1), ("client", "reply", "on"), ("GET", "a")
    )
    assert [client.is_pending(i) for i in ids] == [False, False, True, True]
    assert feed(client, b"+OK\r\n$1\r\n1\r\n") == [
        Reply(b"OK", None, ids[2]),
        Reply(b"1", None, ids[3]),
    ]


def test_client_reply_skip_skips_one() -> None:
    client, ids = client_with(("CLIENT", "REPLY", "SKIP"), ("SET", "a", 1), ("GET", "a"))
    assert [client.is_pending(i) for i in ids] == [False, False, True]
    client, ids = client_with(("CLIENT", "REPLY", "OFF"), ("CLIENT", "REPLY", "SKIP"), ("GET", "a"))
    assert [client.is_pending(i) for i in ids] == [False, False, False]
    client, ids = client_with(("CLIENT", "REPLY", "BOGUS"), ("CLIENT", "LIST"))
    assert [client.is_pending(i) for i in ids] == [True, True]


def test_monitor_lines_then_reset() -> None:
    client, ids = client_with(("MONITOR",))
    assert not client.monitoring
    events = feed(client, b'+OK\r\n+1700000000.1 [0 127.0.0.1:5] "GET" "k"\r\n')
    assert events == [
        Reply(b"OK", None, ids[0]),
        MonitorOutput(b'1700000000.1 [0 127.0.0.1:5] "GET" "k"'),
    ]
    assert client.monitoring
    reset = client.command("RESET")
    events = feed(client, b'+1700000000.2 [0 127.0.0.1:5] "PING"\r\n+RESET\r\n')
    assert events == [
        MonitorOutput(b'1700000000.2 [0 127.0.0.1:5] "PING"'),
        Reply(b"RESET", None, reset),
    ]
    assert not client.monitoring


def test_monitor_then_quit_and_errors_while_monitoring() -> None:
    client, _ = client_with(("MONITOR",))
    feed(client, b"+OK\r\n")
    bad = client.command("GET", "k")
    quit_ = client.command("QUIT")
    events = feed(client, b"+line\r\n-ERR not allowed\r\n+OK\r\n")
    assert events == [
        MonitorOutput(b"line"),
        Reply(ErrorReply(b"ERR not allowed"), None, bad),
        Reply(b"OK", None, quit_),
    ]
    assert client.monitoring  # QUIT ends the connection, not the mode
    client, _ = client_with(("MONITOR",))
    feed(client, b"-ERR no\r\n")
    assert not client.monitoring


def test_hello_switches_protocol_and_falls_back() -> None:
    client, _ = client_with(("HELLO", 3), ("GET", "k"))
    assert client.protocol == 2
    feed(client, b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n_\r\n")
    assert client.protocol == 3
    client.command("HELLO", 2)
    feed(client, b"*4\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:2\r\n")
    assert client.protocol == 2
    client.command("HELLO", 3)
    feed(client, b"-ERR unknown command 'HELLO'\r\n")
    assert client.protocol == 2
    client.command("HELLO")
    feed(client, b"*2\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    client.command("HELLO")
    feed(client, b"+odd\r\n")
    assert client.protocol == 2


def test_reset_returns_to_a_fresh_state() -> None:
    client, _ = client_with(
        ("HELLO", 3), ("SUBSCRIBE", "a"), ("CLIENT", "REPLY", "OFF"), protocol=2
    )
    feed(client, b"%1\r\n$5\r\nproto\r\n:3\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
    reset = client.command("RESET")
    assert client.is_pending(reset)
    assert feed(client, b"+RESET\r\n") == [Reply(b"RESET", None, reset)]
    assert client.protocol == 2 and client.subscriptions == (set(), set(), set())
    with pytest.raises(ValueError, match="protocol"):
        ClientConnection(protocol=4)


def test_setup_is_one_write() -> None:
    client = ClientConnection()
    ids = client.setup(
        username="u", password="p", client_name="me", db=2, lib_name="tidewire", lib_version="0.1"
    )
    wire = client.data_to_send()
    assert wire == (
        b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
        b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$2\r\nme\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"
        b"*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$8\r\nLIB-NAME\r\n$8\r\ntidewire\r\n"
        b"*4\r\n$6\r\nCLIENT\r\n$7\r\nSETINFO\r\n$7\r\nLIB-VER\r\n$3\r\n0.1\r\n"
    )
    events = feed(client, b"+OK\r\n%1\r\n$5\r\nproto\r\n:3\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n")
    assert [e.request for e in events] == ids and client.protocol == 3
    client = ClientConnection()
    assert len(client.setup(password="p")) == 2
    assert client.data_to_send().startswith(b"*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n")
    assert client.setup(protocol=2) == []
    for bad in ({"protocol": 4}, {"client_name": None, "db": True}):
        with pytest.raises(LocalProtocolError):
            client.setup(**bad)
    assert client.data_to_send() == b""


# -- client and server through the loopback --------------------------------------------


def test_client_and_server_talk_through_the_loopback() -> None:
    client = ClientConnection()
    server = ServerConnection()
    pair = Loopback(client, server)
    ids = client.setup(client_name="me")
    get = client.command("GET", "k")
    to_client, to_server = pair.pump()
    assert to_client == []
    assert to_server == [
        Command((b"HELLO", b"3")),
        Command((b"CLIENT", b"SETNAME", b"me")),
        Command((b"GET", b"k")),
    ]
    server.set_protocol(3)
    server.send(Reply({b"proto": 3, b"server": b"redis"}))
    server.send(Reply(SimpleString(b"OK")))
    server.send(Push([b"invalidate", [b"k"]]))
    server.send(Reply(None))
    to_client, _ = pair.pump()
    assert to_client == [
        Reply({b"proto": 3, b"server": b"redis"}, None, ids[0]),
        Reply(b"OK", None, ids[1]),
        Push([b"invalidate", [b"k"]]),
        Reply(None, None, get),
    ]
    assert client.protocol == 3
    to_client, to_server = pair.close(client)
    assert client.next_event() is NEED_DATA


# -- command(): its one-pass path writes and records what send() does -------------

_NAMES = ["GET", "set", b"MGET", "multi", "EXEC", "subscribe", b"CLIENT", "reset", "hello", ""]
_ARGS = st.one_of(
    st.binary(max_size=20),
    st.text(max_size=10),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.builds(memoryview, st.binary(max_size=8)),
    st.just(b"x" * (16 * 1024)),
)


@given(st.lists(st.tuples(st.sampled_from(_NAMES), st.lists(_ARGS, max_size=4)), max_size=6))
def test_command_writes_and_records_what_send_does(commands):
    quick, plain = ClientConnection(), ClientConnection()
    for name, args in commands:
        try:
            request = quick.command(name, *args)
        except LocalProtocolError:
            request = None
        try:
            plain.send(Command((name, *args)))
        except LocalProtocolError:
            assert request is None
        else:
            assert request is not None
            assert quick.is_pending(request) == plain.is_pending(request)
        assert quick.pending == plain.pending
        assert quick.data_to_send() == plain.data_to_send()


def test_command_refuses_what_send_refuses():
    connection = ClientConnection()
    with pytest.raises(LocalProtocolError):
        connection.command()
    with pytest.raises(LocalProtocolError):
        connection.command("SET", "k", None)
    assert connection.data_to_send() == b""


# -- batches: many commands, one request, one reply ---------------------------------

_PLAIN_NAMES = ["GET", "set", b"MGET", b"incr", "CLIENT", "client", "PING"]


@given(
    st.lists(
        st.tuples(st.sampled_from(_PLAIN_NAMES), st.lists(_ARGS, max_size=4)),
        min_size=1,
        max_size=6,
    )
)
def test_a_batch_writes_what_command_writes(commands):
    batched, one_by_one = ClientConnection(), ClientConnection()
    commands = [(name, *args) for name, args in commands if args[:1] != ["REPLY"]]
    if not commands:
        return
    request = batched.batch(commands)
    for args in commands:
        one_by_one.command(*args)
    assert batched.data_to_send() == one_by_one.data_to_send()
    assert batched.is_pending(request) and batched.pending == 1
    assert batched.command("PING") == request + 1


def test_a_batch_gets_one_reply_with_every_value_in_order() -> None:
    client = ClientConnection(protocol=3)
    first = client.command("GET", "before")
    request = client.batch([("GET", "a"), ("INCR", "n"), ("LPUSH", "s", "x"), ("GET", "b")])
    last = client.command("GET", "after")
    wire = (
        b"$6\r\nbefore\r\n"
        b"$1\r\nA\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n:7\r\n-WRONGTYPE Operation\r\n"
        b"|1\r\n+ttl\r\n:5\r\n$1\r\nB\r\n"
        b"$5\r\nafter\r\n"
    )
    for chunks in ([wire], [bytes([byte]) for byte in wire]):
        copy = ClientConnection(protocol=3)
        copy.command("GET", "before")
        copy.batch([("GET", "a"), ("INCR", "n"), ("LPUSH", "s", "x"), ("GET", "b")])
        copy.command("GET", "after")
        outcome = run(copy, chunks)
        assert outcome.error is None
        assert outcome.events == [
            Reply(b"before", None, first),
            Push([b"invalidate", None]),
            Reply(
                [b"A", 7, ErrorReply(b"WRONGTYPE Operation"), Attributed(b"B", {b"ttl": 5})],
                None,
                request,
            ),
            Reply(b"after", None, last),
        ]
    assert client.pending == 3


def test_a_batch_of_arrays_in_resp2_and_pubsub_messages_meanwhile() -> None:
    client = ClientConnection()
    request = client.batch([("LRANGE", "l", 0, -1)] * 3)
    events = feed(client, b"*1\r\n$1\r\na\r\n*0\r\n*2\r\n$1\r\nb\r\n:1\r\n")
    assert events == [Reply([[b"a"], [], [b"b", 1]], None, request)]
    client.command("SUBSCRIBE", "c")
    feed(client, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")
    request = client.batch([("PING",), ("PING", "x")])
    events = feed(
        client,
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
        b"*2\r\n$4\r\npong\r\n$1\r\nx\r\n",
    )
    assert events == [
        Message("message", b"c", b"m"),
        Reply([[b"pong", b""], [b"pong", b"x"]], None, request),
    ]


def test_a_batch_ends_in_the_middle_of_what_arrived() -> None:
    client = ClientConnection()
    request = client.batch([("GET", "a"), ("GET", "b")])
    after = client.command("GET", "c")
    events = feed(client, b"$1\r\nA\r\n$1\r\nB\r\n$1\r\nC\r\n")
    assert events == [Reply([b"A", b"B"], None, request), Reply(b"C", None, after)]


def test_a_cancelled_batch_is_read_and_dropped() -> None:
    for cut in (0, 6, 11, 20):
        client = ClientConnection(protocol=3)
        request = client.batch([("GET", "a"), ("GET", "b"), ("GET", "c")])
        after = client.command("GET", "d")
        wire = b"$1\r\nA\r\n$1\r\nB\r\n|1\r\n+k\r\n+v\r\n$1\r\nC\r\n$1\r\nD\r\n"
        events = feed(client, wire[:cut])
        assert client.cancel(request)
        assert client.is_pending(request)  # until its replies are in, and dropped
        events += feed(client, wire[cut:])
        assert events == [Reply(b"D", None, after)]
        assert client.pending == 0 and not client.is_pending(request)
    client = ClientConnection()
    client.cancel(client.batch([("GET", "a"), ("GET", "b")]))
    after = client.command("GET", "c")
    assert feed(client, b"$1\r\nA\r\n$1\r\nB\r\n$1\r\nC\r\n") == [Reply(b"C", None, after)]


def test_a_batch_after_client_reply_off_or_skip() -> None:
    client = ClientConnection()
    client.command("CLIENT", "REPLY", "OFF")
    request = client.batch([("SET", "a", 1), ("SET", "b", 2)])
    assert not client.is_pending(request) and client.pending == 0
    client.command("CLIENT", "REPLY", "ON")
    client.command("CLIENT", "REPLY", "SKIP")
    request = client.batch([("SET", "a", 1), ("GET", "b")])
    assert client.is_pending(request)
    assert feed(client, b"+OK\r\n$1\r\n2\r\n") == [
        Reply(SimpleString(b"OK"), None, request - 2),
        Reply([None, b"2"], None, request),
    ]
    client.command("CLIENT", "REPLY", "SKIP")  # answered by nothing, like its next command
    request = client.batch([("SET", "a", 1)])
    assert not client.is_pending(request) and client.pending == 0
    assert client.batch([("GET", "a")]) == request + 1 and client.pending == 1


def test_a_batch_while_monitoring() -> None:
    client = ClientConnection()
    client.command("MONITOR")
    feed(client, b"+OK\r\n")
    request = client.batch([("GET", "a")])
    events = feed(client, b'+1700000000.1 [0 127.0.0.1:1] "GET" "a"\r\n$1\r\nA\r\n')
    assert events == [
        MonitorOutput(b'1700000000.1 [0 127.0.0.1:1] "GET" "a"'),
        Reply([b"A"], None, request),
    ]


def test_a_protocol_error_inside_a_batch_comes_after_its_values() -> None:
    client = ClientConnection()
    client.batch([("GET", "a"), ("GET", "b")])
    client.receive_data(b"+OK\r\n:1_000\r\n")
    with pytest.raises(RemoteProtocolError, match="invalid integer"):
        client.next_event()


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        ([], "at least one command"),
        ([("GET", "a"), "GET"], "tuple or list"),
        ([("GET", "a"), ()], "at least one argument"),
        ([("GET", "a"), ("SET", "k", None)], "cannot send None"),
        ([("GET", "a"), ("SET", "k", True)], "cannot send True"),
        ([("GET", "a"), (None,)], "cannot send None"),
        ([("GET", "a"), ("multi",)], "MULTI changes the state"),
        ([("GET", "a"), (b"SUBSCRIBE", "c")], "SUBSCRIBE changes the state"),
        ([("GET", "a"), ("hello", 3)], "HELLO changes the state"),
        ([("GET", "a"), ("Client", b"reply", "off")], "CLIENT REPLY changes the state"),
        ([("SET", "big", b"x" * 20_000), ("EXEC",)], "EXEC changes the state"),
    ],
    ids=repr,
)
def test_a_refused_batch_sends_and_records_nothing(commands: Any, message: str) -> None:
    client = ClientConnection()
    before = client.command("PING")
    client.data_to_send()
    with pytest.raises(LocalProtocolError, match=message):
        client.batch(commands)
    assert client.data_to_send() == b""
    assert client.pending == 1
    assert client.command("PING") == before + 1


def test_a_batch_takes_names_of_every_kind_and_large_arguments_uncopied() -> None:
    client = ClientConnection()
    large = memoryview(b"v" * 20_000)
    names: list[Any] = [memoryview(b"GET"), bytearray(b"GET"), "CLIENT", b"CLIENT"]
    # More distinct names than are remembered, so some are encoded each time.
    names += [f"CMD{i}" for i in range(1100)] + [b"CMD%d" % i for i in range(1100)]
    commands = [(name, "k") for name in names] + [("SET", "k", large, 1.5, bytearray(b"w"))]
    for _ in range(2):
        client.batch(commands)
        data = client.data_to_send()
        expected = ClientConnection()
        for args in commands:
            expected.command(*args)
        assert data == expected.data_to_send()
