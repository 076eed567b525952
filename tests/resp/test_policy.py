"""The policy every adapter's Redis client shares: URLs, error classes, decoding,
transactions, the set-up's outcome, sending a mixed pipeline, pub/sub messages."""

from __future__ import annotations

import pytest

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire.testing import run
from tidewire_resp import (
    ERROR_CLASSES,
    AskError,
    Attributed,
    BigNumber,
    ClientConnection,
    Command,
    ErrorReply,
    ExecAbortError,
    MapPairs,
    Message,
    MovedError,
    NoScriptError,
    Push,
    Reply,
    ReplyError,
    SetMembers,
    SimpleString,
    Verbatim,
    WatchError,
    WrongTypeError,
    connection_options,
    decode_value,
    error_code,
    parse_url,
    raise_first_error,
    reply_error,
    transaction_result,
)

# -- URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("redis://", {"host": "localhost", "port": 6379}),
        (
            "rediss://u:p@h:1/2",
            {"host": "h", "port": 1, "ssl": True, "db": 2, "username": "u", "password": "p"},
        ),
        ("redis://:s%40cret@h/", {"host": "h", "port": 6379, "password": "s@cret"}),
        ("redis://us%3Aer@h", {"host": "h", "port": 6379, "username": "us:er"}),
        # A db in the query wins over the path's, and the first value of an option wins.
        ("redis://h/1?db=3&db=4", {"host": "h", "port": 6379, "db": 3}),
        (
            "redis://h?protocol=2&client_name=w%20x&ignored=1",
            {"host": "h", "port": 6379, "protocol": 2, "client_name": "w x"},
        ),
        (
            "unix:///run/re%20dis.sock?db=1&password=pw&username=me",
            {"path": "/run/re dis.sock", "db": 1, "password": "pw", "username": "me"},
        ),
        (
            "UNIX://user:pw@/tmp/r.sock",
            {"path": "/tmp/r.sock", "username": "user", "password": "pw"},
        ),
    ],
)
def test_urls_read_as_redis_py_reads_them(url: str, options: dict[str, object]) -> None:
    assert parse_url(url) == options


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x", "not a Redis URL"),
        ("redis://h/x", "database in a Redis URL must be a number"),
        ("redis://h?db=-1", "database in a Redis URL must be a number"),
        ("redis://h?db=\N{SUPERSCRIPT TWO}", "database in a Redis URL must be a number"),
        ("redis://h?protocol=three", "protocol in a Redis URL must be a number"),
        ("redis://h:99999", "out of range"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


# -- error classes -----------------------------------------------------------------


def test_the_error_class_and_both_codes_agree() -> None:
    for text in (
        "WRONGTYPE Operation",
        "MOVED 3999 h:1",
        "lowercase text",
        "",
        " ERR x",
        "MYERR x",
    ):
        reply = ErrorReply(text.encode())
        error = reply_error(reply)
        assert error.code == reply.code == error_code(text)
        assert type(error) is ERROR_CLASSES.get(reply.code, ReplyError)
        assert error.message == text and str(error) == text
    assert ErrorReply(b"lowercase text").code == ""
    assert type(reply_error("NOSCRIPT No matching script")) is NoScriptError


def test_moved_and_ask_say_where() -> None:
    moved = reply_error("MOVED 3999 127.0.0.1:6381")
    assert type(moved) is MovedError and moved.slot == 3999 and moved.address == "127.0.0.1:6381"
    ask = reply_error("ASK x")
    assert type(ask) is AskError and ask.slot == -1 and ask.address == ""


# -- decoding ---------------------------------------------------------------------


def test_decode_value_with_and_without_an_encoding() -> None:
    value = [
        b"b",
        SimpleString(b"OK"),
        {b"k": [1, 2.5, None, True]},
        ErrorReply(b"WRONGTYPE x"),
        Verbatim("txt", b"v"),
        {b"m"},
        MapPairs([(1.5, b"x")]),
        SetMembers([b"s"]),
        Attributed(b"a", {b"ttl": 1}),
        BigNumber(10**30),
    ]
    raw = decode_value(value)
    assert raw[:3] == [b"b", b"OK", {b"k": [1, 2.5, None, True]}]
    assert type(raw[3]) is WrongTypeError
    assert raw[4:] == [b"v", {b"m"}, MapPairs([(1.5, b"x")]), SetMembers([b"s"]), b"a", 10**30]
    text = decode_value(value, "utf-8")
    assert text[:3] == ["b", "OK", {"k": [1, 2.5, None, True]}]
    assert text[4:9] == ["v", {"m"}, MapPairs([(1.5, "x")]), SetMembers(["s"]), "a"]
    assert type(text[5]) is set and type(text[6]) is MapPairs and type(text[7]) is SetMembers
    with pytest.raises(UnicodeDecodeError):
        decode_value(b"\xff", "utf-8")


def test_raise_first_error() -> None:
    assert raise_first_error([1, b"x"]) == [1, b"x"]
    with pytest.raises(WrongTypeError):
        raise_first_error(decode_value([1, ErrorReply(b"WRONGTYPE x"), ErrorReply(b"ERR y")]))


# -- transactions -----------------------------------------------------------------

OK = SimpleString(b"OK")
QUEUED = SimpleString(b"QUEUED")


def test_a_transaction_that_ran() -> None:
    values = [OK, QUEUED, QUEUED, [b"v", ErrorReply(b"WRONGTYPE x")]]
    result = transaction_result(values, "utf-8")
    assert result[0] == "v" and type(result[1]) is WrongTypeError


def test_a_transaction_that_did_not_run() -> None:
    with pytest.raises(WatchError):
        transaction_result([OK, QUEUED, None])
    with pytest.raises(ExecAbortError) as caught:
        transaction_result([OK, ErrorReply(b"ERR unknown command"), ErrorReply(b"EXECABORT x")])
    assert type(caught.value.__cause__) is ReplyError
    with pytest.raises(ExecAbortError) as caught:
        transaction_result([OK, QUEUED, ErrorReply(b"EXECABORT x")])
    assert caught.value.__cause__ is None
    with pytest.raises(ReplyError, match="MULTI calls"):
        transaction_result([ErrorReply(b"ERR MULTI calls can not be nested"), QUEUED, [1]])


def test_a_transaction_is_one_reply_through_the_core() -> None:
    client = ClientConnection(protocol=3)
    request = client.transaction([("INCR", "a"), ("GET", "b")])
    assert not client.in_transaction
    events = run(client, [b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n_\r\n"]).events
    assert events == [Reply([OK, QUEUED, QUEUED, [1, None]], None, request)]
    assert transaction_result(events[0].value) == [1, None]


# -- the set-up's outcome -------------------------------------------------------------


def replies_to(client: ClientConnection, data: bytes) -> list[Reply]:
    events = run(client, [data]).events
    assert all(type(event) is Reply for event in events)
    return events  # type: ignore[return-value]


def test_a_refused_hello_leaves_resp2_and_is_no_failure() -> None:
    for refusal in (b"-ERR unknown command 'HELLO'\r\n", b"-NOPROTO sorry\r\n"):
        client = ClientConnection()
        client.setup(password="pw", client_name="me")
        replies = replies_to(client, b"+OK\r\n" + refusal + b"+OK\r\n")
        assert client.setup_error(replies) is None
        assert client.protocol == 2


def test_the_first_real_set_up_error_is_returned() -> None:
    client = ClientConnection()
    client.setup(password="bad", db=99)
    replies = replies_to(client, b"-WRONGPASS invalid\r\n%1\r\n+proto\r\n:3\r\n-ERR DB index\r\n")
    error = client.setup_error(replies)
    assert error is not None and error.code == "WRONGPASS"
    assert client.protocol == 3
    # Any other error of the HELLO is one too, and the HELLO of protocol 2 is none.
    client = ClientConnection()
    client.setup()
    assert client.setup_error(replies_to(client, b"-NOAUTH x\r\n")) == ErrorReply(b"NOAUTH x")
    client = ClientConnection()
    ids = client.setup(protocol=2, db=1)
    assert len(ids) == 1
    assert client.setup_error(replies_to(client, b"-NOPROTO x\r\n")) == ErrorReply(b"NOPROTO x")


def test_setup_names_the_refused_command() -> None:
    client = ClientConnection()
    with pytest.raises(LocalProtocolError, match=r"protocol must be 2 or 3"):
        client.setup(protocol=4)
    with pytest.raises(LocalProtocolError, match=r"setup\(\): command 0: argument 1"):
        client.setup(protocol=2, db=True)  # type: ignore[arg-type]
    assert client.data_to_send() == b"" and client.pending == 0


# -- any commands, checked as a whole ---------------------------------------------------


def test_send_all_writes_nothing_unless_all_can_go() -> None:
    client = ClientConnection(protocol=3)
    for commands, message in [
        ([("MULTI",), ("SUBSCRIBE", "c")], "command 1: SUBSCRIBE inside MULTI"),
        ([("GET", "a"), ("SET", "k", None)], "command 1: argument 2"),
        ([("GET", "a"), "GET b"], "command 1: a command is a tuple or list"),
        ([("GET", "a"), ()], "command 1: a command needs at least one argument"),
    ]:
        with pytest.raises(LocalProtocolError, match=message):
            client.send_all(commands)  # type: ignore[arg-type]
        assert client.data_to_send() == b"" and client.pending == 0
        assert not client.in_transaction


def test_send_all_tracks_state_as_command_does() -> None:
    client = ClientConnection(protocol=3)
    ids = client.send_all([("MULTI",), ["SET", "k", 1], ("EXEC",), ("SUBSCRIBE", "c")])
    assert ids == [0, 1, 2, 3] and not client.in_transaction
    assert client.data_to_send().startswith(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n")
    assert client.send_all([("MULTI",), ("DISCARD",), ("RESET",), ("MULTI",)]) == [4, 5, 6, 7]
    assert client.in_transaction
    with pytest.raises(LocalProtocolError, match="SSUBSCRIBE inside MULTI"):
        client.send_all([("SSUBSCRIBE", "c")])
    assert client.send_all([("RESET",), ("SUBSCRIBE", "d")]) == [8, 9]
    assert client.send_all([]) == []


# -- pub/sub messages ------------------------------------------------------------------


def test_message_events_in_both_protocols() -> None:
    for protocol, prefix in ((3, b">"), (2, b"*")):
        client = ClientConnection(protocol=protocol)
        client.command("SUBSCRIBE", "c")
        client.command("PSUBSCRIBE", "n*")
        data = (
            prefix
            + b"3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
            + prefix
            + b"3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"
            + prefix
            + b"3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n"
            + prefix
            + b"4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\nm\r\n"
            # Of no message's shape: a push as it came.
            + prefix
            + b"2\r\n$7\r\nmessage\r\n$1\r\nc\r\n"
        )
        events = run(client, [data]).events
        assert events[2:] == [
            Message("message", b"c", b"hi"),
            Message("pmessage", b"nx", b"m", b"n*"),
            Push([b"message", b"c"]),
        ]


def test_a_message_decodes() -> None:
    assert Message("pmessage", b"c", b"\xc3\xa9", b"p").decode("utf-8") == Message(
        "pmessage", "c", "\xe9", "p"
    )
    assert Message("message", b"c", b"d").decode("latin-1") == Message("message", "c", "d", None)
    assert Message.from_data([]) is None
    assert Message.from_data([b"smessage", b"s", b"d"]) == Message("smessage", b"s", b"d")
    with pytest.raises(UnicodeDecodeError):
        Message("message", b"c", b"\xff").decode("utf-8")


# -- what an adapter needs ---------------------------------------------------------------


def test_send_of_a_command_event_gives_last_request() -> None:
    client = ClientConnection()
    assert client.last_request == -1
    client.send(Command(("GET", "k")))
    assert client.last_request == 0
    client.send(Command(("SET", "k", memoryview(b"v"))))  # not the quick path
    assert client.last_request == 1
    assert client.data_to_send() == (
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    )


def test_a_reply_cut_short_by_the_end_of_the_stream_says_so() -> None:
    client = ClientConnection()
    client.command("GET", "k")
    outcome = run(client, [b"$10\r\nabc"], eof=True)
    assert isinstance(outcome.error, RemoteProtocolError) and outcome.error.code == "EOF"


def test_connection_options_merge_a_url_and_keywords() -> None:
    assert connection_options() == {}
    assert connection_options("redis://h/1", db=2, password=None, protocol=2) == {
        "host": "h",
        "port": 6379,
        "db": 2,
        "protocol": 2,
    }
    with pytest.raises(TypeError, match="unexpected connection options: colour, size"):
        connection_options("redis://h", size=1, colour="red")
    with pytest.raises(ValueError, match="protocol must be 2 or 3, not 4"):
        connection_options("redis://h?protocol=4")
