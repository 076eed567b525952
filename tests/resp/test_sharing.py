"""What a shared Redis connection decides on every framework: the message backlog,
the error its callers get once it is gone, how replies become values."""

from __future__ import annotations

import pytest

from tidewire import ConnectionLostError, RemoteProtocolError, StreamClosedError
from tidewire_resp import BigNumber, ClientConnection, ErrorReply, SimpleString, WrongTypeError
from tidewire_resp.sharing import (
    DEFAULT_MAX_QUEUED_MESSAGES,
    MessageBacklog,
    RedisConnectionBase,
    batch_values,
    check_max_queued_messages,
    failure,
    reply_value,
)


@pytest.mark.parametrize("bad", [0, -1, 1.5, None, True, "3"])
def test_max_queued_messages_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_queued_messages must be an int of at least 1"):
        check_max_queued_messages(bad)
    with pytest.raises(ValueError, match="max_queued_messages"):
        MessageBacklog(bad)  # type: ignore[arg-type]
    assert check_max_queued_messages(1) == 1


def test_the_backlog_fills_and_lets_the_producer_go_on_at_half() -> None:
    backlog: MessageBacklog[int] = MessageBacklog(4)
    states = []
    for item in range(5):  # never refused: the producer is told, not stopped
        backlog.put(item)
        states.append((backlog.full, backlog.has_room))
    assert states == [(False, True), (False, True), (False, False), (True, False), (True, False)]
    taken = []
    while len(backlog):
        taken.append((backlog.take(), backlog.full, backlog.has_room))
    assert taken == [
        (0, True, False),
        (1, False, False),
        (2, False, True),
        (3, False, True),
        (4, False, True),
    ]
    assert len(MessageBacklog()) == 0 and DEFAULT_MAX_QUEUED_MESSAGES == 1000


def test_reply_values_decode_and_raise() -> None:
    assert reply_value(b"raw", None) == b"raw"
    assert reply_value(b"text", "utf-8") == "text"
    assert reply_value([SimpleString(b"OK"), 1], "utf-8") == ["OK", 1]
    with pytest.raises(WrongTypeError):
        reply_value(ErrorReply(b"WRONGTYPE Operation against a key"), None)


def test_batch_values_decode_only_where_needed() -> None:
    plain = [1, 2.5, True, None]
    assert batch_values(plain, "utf-8") is plain
    raw = [b"a", 1]
    assert batch_values(raw, None) is raw
    assert batch_values(raw, "utf-8") == ["a", 1]
    error = batch_values([ErrorReply(b"ERR no"), BigNumber(10**30)], None)
    assert type(error[0]).__name__ == "ReplyError" and error[1] == BigNumber(10**30)


def test_the_failure_callers_get() -> None:
    closed = failure(StreamClosedError("closed"))
    assert type(closed) is StreamClosedError and "closed on this side" in str(closed)
    cut = failure(RemoteProtocolError("cut", code="EOF"))
    assert type(cut) is ConnectionLostError and "in the middle of a reply" in str(cut)
    broke = RemoteProtocolError("bad type byte")
    assert "broke the protocol: bad type byte" in str(failure(broke))
    assert failure(broke).__cause__ is broke
    reset = ConnectionResetError("reset")
    lost = failure(reset)
    assert "was lost (reset)" in str(lost) and "may or may not have run" in str(lost)
    assert lost.__cause__ is reset


# -- RedisConnectionBase: what every adapter's RedisConnection holds ------------------


class FakeStream:
    def __init__(self, core):
        self.connection = core


class Connection(RedisConnectionBase):
    """The least an adapter adds: its own fields, set up last."""

    def _start(self):
        self.started_with = (self.connection, self.queued_messages)


def test_a_redis_connection_holds_the_core_and_its_options():
    core = ClientConnection()
    handler = print
    connection = Connection(FakeStream(core), push_handler=handler, max_queued_messages=3)
    assert connection.started_with == (core, 0)
    assert connection.connection is core
    assert connection.events.connection is core
    assert connection.push_handler is handler
    assert (connection.protocol, connection.pending, connection.closed) == (core.protocol, 0, False)


def test_a_redis_connection_needs_a_client_core_and_a_valid_backlog():
    with pytest.raises(TypeError, match="needs a ClientConnection, not object"):
        Connection(FakeStream(object()))
    with pytest.raises(ValueError, match="max_queued_messages"):
        Connection(FakeStream(ClientConnection()), max_queued_messages=0)
