"""The Twisted Redis client against a real redis-server.

The shared suite's bodies cannot run on Twisted (they await the adapter on an
anyio loop); these are a first set of its behaviours, one for one where the
name matches, on the real reactor of conftest.py with ``Deferred.cancel()``
where the shared bodies cancel a scope. Shared test -> here:

tests/adapters/shared/test_resp.py:
  test_url_sets_db_name_and_resp3 -> same name
  test_falls_back_to_resp2_when_hello_is_refused -> same name
  test_unsendable_argument_sends_nothing -> same name
  test_connection_refused -> same name
  test_strings -> test_strings_and_decoding
  test_pipeline_returns_replies_in_order -> same name
  test_pipeline_errors -> same name
  test_transaction -> same name
  test_watch_failure_raises_watch_error -> same name
tests/adapters/shared/test_resp_cancel.py:
  test_concurrent_callers_share_one_connection -> same name
  test_cancelled_blocking_command_leaves_the_connection_in_sync -> same name
  test_pending_callers_get_connection_lost -> same name
  test_server_going_away -> same name (redis-server killed mid-pipeline)
  test_client_reconnects_after_loss -> same name (every Deferred fires)
  test_client_connect_failure_is_not_cached -> same name
  test_closed_connection_raises_stream_closed -> same name
  test_protocol_violation_fails_callers -> same name
  test_a_reply_cut_short_by_the_server_says_so -> same name
  test_connect_timeout -> same name
tests/adapters/shared/test_resp_pubsub.py:
  test_subscribe_receive_unsubscribe -> same name (RESP2 and RESP3)
  test_get_message_waits_and_survives_cancellation -> same name
  test_client_side_caching_invalidations -> same name
  test_resp3_subscribed_connection_runs_commands -> same name
  test_resp2_subscribed_connection_refuses_commands -> same name
  test_messages_end_when_the_connection_is_closed -> same name
  test_an_undecodable_message_fails_only_its_reader -> same name
tests/adapters/shared/test_resp_pubsub_flood.py:
  test_a_subscriber_that_does_not_read_holds_the_flood_back -> same name
tests/adapters/shared/test_resp_bad_requests.py:
  test_bad_requests_never_reach_another_callers_reply -> same name
Not yet here: the rest of test_resp.py's reply types, the rest of
test_resp_bad_requests.py and test_resp_pubsub_flood.py (see the report).
"""

from __future__ import annotations

import pytest
import redis_server  # loaded by tests/adapters/conftest.py
from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionRefusedError as Refused  # Twisted's, as endpoints say
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire_twisted import ConnectionLostError, StreamClosedError, resp


async def eventually(reactor, predicate):
    for _ in range(2000):
        if predicate():
            return
        await deferLater(reactor, 0.005, lambda: None)
    raise AssertionError("the condition never came true")


async def test_url_sets_db_name_and_resp3(reactor, server):
    conn = await resp.connect(f"{server.url}/3", client_name="twisted-test")
    try:
        assert conn.protocol == 3
        assert await conn.execute("CLIENT", "GETNAME") == b"twisted-test"
        info = await conn.execute("CLIENT", "INFO", decode=True)
        assert " db=3 " in info
    finally:
        await conn.aclose()


async def test_connection_refused(reactor):
    with pytest.raises(Refused):
        await resp.connect(f"redis://127.0.0.1:{redis_server.free_port()}")


async def test_strings_and_decoding(reactor, server):
    conn = await resp.connect(server.url, decode_responses=True)
    try:
        assert await conn.execute("SET", "tw:key", "välue") == "OK"
        assert await conn.execute("GET", "tw:key") == "välue"
        assert await conn.execute("GET", "tw:key", decode=False) == "välue".encode()
        with pytest.raises(resp.ReplyError):
            await conn.execute("INCR", "tw:key")
    finally:
        await conn.aclose()


async def test_concurrent_callers_share_one_connection(reactor, server):
    conn = await resp.connect(server.url)
    try:
        calls = [conn.execute("ECHO", str(i)) for i in range(2000)]  # one reactor turn
        assert conn.pending == 2000
        results = await DeferredList(calls, fireOnOneErrback=True)
        assert [value for _, value in results] == [str(i).encode() for i in range(2000)]
    finally:
        await conn.aclose()


async def test_pipeline_returns_replies_in_order(reactor, server):
    conn = await resp.connect(server.url)
    try:
        pipe = conn.pipeline().add("SET", "tw:p", 1).add("INCR", "tw:p").add("GET", "tw:p")
        assert await pipe.execute() == [b"OK", 2, b"2"]
        assert len(pipe) == 0
    finally:
        await conn.aclose()


async def test_pipeline_errors(reactor, server):
    conn = await resp.connect(server.url)
    try:
        pipe = conn.pipeline().add("SET", "tw:e", "x").add("INCR", "tw:e").add("PING")
        with pytest.raises(resp.ReplyError):
            await pipe.execute()
        values = await conn.pipeline().add("INCR", "tw:e").add("PING").execute(raise_on_error=False)
        assert isinstance(values[0], resp.ReplyError) and values[1] == b"PONG"
    finally:
        await conn.aclose()


async def test_transaction(reactor, server):
    conn = await resp.connect(server.url)
    try:
        pipe = conn.pipeline(transaction=True).add("SET", "tw:t", 5).add("INCRBY", "tw:t", 2)
        assert await pipe.execute() == [b"OK", 7]
    finally:
        await conn.aclose()


async def test_watch_failure_raises_watch_error(reactor, server):
    conn = await resp.connect(server.url)
    other = await resp.connect(server.url)
    try:
        await conn.execute("WATCH", "tw:w")
        await other.execute("SET", "tw:w", "changed")
        with pytest.raises(resp.WatchError):
            await conn.pipeline(transaction=True).add("SET", "tw:w", "mine").execute()
        assert await conn.execute("GET", "tw:w") == b"changed"
    finally:
        await conn.aclose()
        await other.aclose()


async def test_cancelled_blocking_command_leaves_the_connection_in_sync(reactor, server):
    conn = await resp.connect(server.url)
    other = await resp.connect(server.url)
    try:
        blocked = conn.execute("BLPOP", "tw:list", 0)
        await eventually(reactor, lambda: conn.pending == 1)
        blocked.cancel()
        with pytest.raises(CancelledError):
            await blocked
        await other.execute("RPUSH", "tw:list", "late")  # the abandoned BLPOP's reply
        assert await conn.execute("ECHO", "next") == b"next"  # not the BLPOP's
    finally:
        await conn.aclose()
        await other.aclose()


async def test_pending_callers_get_connection_lost(reactor, server):
    admin = await resp.connect(server.url)
    conn = await resp.connect(server.url)
    try:
        conn_id = await conn.execute("CLIENT", "ID")
        blocked = conn.execute("BLPOP", "never", 0)
        batch = conn.pipeline().add("PING").add("PING").execute()
        assert conn.pending == 2
        assert await admin.execute("CLIENT", "KILL", "ID", conn_id) == 1
        for waiting in (blocked, batch):
            with pytest.raises(ConnectionLostError):
                await waiting
        assert conn.closed
        with pytest.raises(ConnectionLostError):
            await conn.execute("PING")
        with pytest.raises(ConnectionLostError):
            await conn.get_message()
    finally:
        await conn.aclose()
        await admin.aclose()


async def test_server_going_away(reactor):
    with redis_server.running_redis() as doomed:
        conn = await resp.connect(doomed.url)
        pipeline = conn.pipeline()
        for i in range(10_000):
            pipeline.add("SET", f"k{i}", "v" * 100)
        blocked = conn.execute("BLPOP", "never", 0)
        running = pipeline.execute()
        doomed.stop()  # killed while the pipeline is in flight
        for waiting in (running, blocked):
            with pytest.raises(ConnectionLostError):
                await waiting
        await conn.aclose()


async def test_client_reconnects_after_loss(reactor, server):
    client = resp.Client(server.url)
    admin = await resp.connect(server.url)
    try:
        first_id = await client.execute("CLIENT", "ID")
        blocked = client.execute("BLPOP", "never", 0)  # written now: the connection is open
        await admin.execute("CLIENT", "KILL", "ID", first_id)
        with pytest.raises(ConnectionLostError):
            await blocked  # fired, not left waiting
        assert await client.execute("CLIENT", "ID") != first_id  # a fresh connection
        assert await client.pipeline_execute([("PING",), ("ECHO", "x")]) == [b"PONG", b"x"]
    finally:
        await client.aclose()
        await admin.aclose()
    with pytest.raises(StreamClosedError):
        await client.execute("PING")


async def test_client_connect_failure_is_not_cached(reactor):
    port = redis_server.free_port()
    client = resp.Client(f"redis://127.0.0.1:{port}")
    calls = [client.execute("PING") for _ in range(3)]  # one attempt for all three
    for call in calls:
        with pytest.raises(Refused):
            await call
    with redis_server.running_redis(port=port):
        assert await client.execute("PING") == b"PONG"  # a new attempt
        await client.aclose()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_subscribe_receive_unsubscribe(reactor, server, protocol):
    sub = await resp.connect(server.url, protocol=protocol)
    pub = await resp.connect(server.url)
    try:
        assert await sub.subscribe("tw:news") == [[b"subscribe", b"tw:news", 1]]
        await pub.execute("PUBLISH", "tw:news", "hello")
        message = await sub.get_message()
        assert (message.channel, message.data) == (b"tw:news", b"hello")
        assert await sub.unsubscribe("tw:news") == [[b"unsubscribe", b"tw:news", 0]]
    finally:
        await sub.aclose()
        await pub.aclose()


async def test_get_message_waits_and_survives_cancellation(reactor, server):
    sub = await resp.connect(server.url)
    pub = await resp.connect(server.url)
    try:
        await sub.subscribe("tw:c")
        waiting = sub.get_message()
        assert not waiting.called
        waiting.cancel()
        with pytest.raises(CancelledError):
            await waiting
        await pub.execute("PUBLISH", "tw:c", "kept")
        assert (await sub.get_message()).data == b"kept"  # the cancelled call took nothing
    finally:
        await sub.aclose()
        await pub.aclose()


async def test_client_side_caching_invalidations(reactor, server):
    pushes = []
    got = Deferred()

    def on_push(push):
        pushes.append(push)
        if not got.called:
            got.callback(None)

    conn = await resp.connect(server.url, push_handler=on_push)
    other = await resp.connect(server.url)
    try:
        await conn.execute("CLIENT", "TRACKING", "ON")
        await conn.execute("GET", "tw:cached")
        await other.execute("SET", "tw:cached", "new")
        await got
        assert pushes[0].kind == b"invalidate"
    finally:
        await conn.aclose()
        await other.aclose()


async def test_falls_back_to_resp2_when_hello_is_refused(reactor):
    with redis_server.running_redis("--rename-command", "HELLO", "") as old:
        conn = await resp.connect(old.url, client_name="legacy", db=1)
        try:
            assert conn.protocol == 2
            assert await conn.execute("CLIENT", "GETNAME") == b"legacy"
            assert await conn.execute("HSET", "h", "f", "v") == 1
            assert await conn.execute("HGETALL", "h") == [b"f", b"v"]
        finally:
            await conn.aclose()


async def test_unsendable_argument_sends_nothing(reactor, server):
    conn = await resp.connect(server.url)
    try:
        with pytest.raises(LocalProtocolError):
            await conn.execute("SET", "k", None)
        with pytest.raises(LocalProtocolError):
            await conn.pipeline().add("SET", "k", True).execute()
        assert await conn.execute("PING") == b"PONG"
        assert conn.pending == 0
    finally:
        await conn.aclose()


async def test_resp3_subscribed_connection_runs_commands(reactor, server):
    conn = await resp.connect(server.url)
    try:
        await conn.subscribe("self")
        assert await conn.execute("SET", "k", "v") == b"OK"
        assert await conn.execute("PUBLISH", "self", "to me") == 1
        assert await conn.execute("GET", "k") == b"v"
        assert await conn.get_message() == resp.Message("message", b"self", b"to me")
    finally:
        await conn.aclose()


async def test_resp2_subscribed_connection_refuses_commands(reactor, server):
    conn = await resp.connect(server.url, protocol=2)
    try:
        await conn.subscribe("c")
        with pytest.raises(resp.ReplyError, match=r"only .* allowed in this context"):
            await conn.execute("GET", "k")
        assert await conn.execute("PING") == [b"pong", b""]
    finally:
        await conn.aclose()


FLOOD = 50_000
BOUND = 100


def payload(number, size):
    return b"%06d:" % number + b"x" * size


@pytest.mark.parametrize("protocol", [3, 2])
async def test_a_subscriber_that_does_not_read_holds_the_flood_back(reactor, server, protocol):
    """50k small messages, nobody reading: the reader stops, the transport is paused,
    the rest waits at the server; then all arrive, in order, with the queue bounded."""
    subscriber = await resp.connect(
        f"unix://{server.unix_path}", protocol=protocol, max_queued_messages=BOUND
    )
    publisher = await resp.connect(server.url)
    try:
        await subscriber.subscribe("flood")
        delivered = 0
        for start in range(0, FLOOD, 1000):
            pipeline = publisher.pipeline()
            for number in range(start, start + 1000):
                pipeline.add("PUBLISH", "flood", payload(number, 40))
            delivered += sum(await pipeline.execute())
        assert delivered == FLOOD
        await eventually(reactor, lambda: subscriber.events.reading_paused)
        assert subscriber.queued_messages == BOUND
        for number in range(FLOOD):
            message = await subscriber.get_message()
            assert message.data == payload(number, 40)
            assert subscriber.queued_messages <= BOUND
        assert await subscriber.execute("PING") in (b"PONG", [b"pong", b""])
    finally:
        await subscriber.aclose()
        await publisher.aclose()


class FakeRedis(Protocol):
    """A peer that says what the test tells it to."""

    def __init__(self):
        self.received = b""

    def dataReceived(self, data):
        self.received += data


async def fake_redis(reactor):
    peers = []
    factory = Factory()
    factory.buildProtocol = lambda addr: peers.append(FakeRedis()) or peers[-1]
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    return port, peers


async def test_protocol_violation_fails_callers(reactor):
    port, peers = await fake_redis(reactor)
    try:
        conn = await resp.connect(f"redis://127.0.0.1:{port.getHost().port}", protocol=2)
        call = conn.execute("PING")
        await eventually(reactor, lambda: peers and b"PING" in peers[0].received)
        peers[0].transport.write(b"@oops\r\n")
        with pytest.raises(ConnectionLostError, match="broke the protocol") as caught:
            await call
        assert isinstance(caught.value.__cause__, RemoteProtocolError)
        await conn.aclose()
    finally:
        await port.stopListening()


async def test_a_reply_cut_short_by_the_server_says_so(reactor):
    port, peers = await fake_redis(reactor)
    try:
        conn = await resp.connect(f"redis://127.0.0.1:{port.getHost().port}", protocol=2)
        call = conn.execute("GET", "big")
        await eventually(reactor, lambda: peers and b"GET" in peers[0].received)
        peers[0].transport.write(b"$100\r\nonly part")
        peers[0].transport.loseConnection()  # a clean end of stream, not a reset
        with pytest.raises(ConnectionLostError, match="in the middle of a reply"):
            await call
        await conn.aclose()
    finally:
        await port.stopListening()


async def test_connect_timeout(reactor):
    port, peers = await fake_redis(reactor)  # accepts, never answers the set-up
    try:
        with pytest.raises(TimeoutError):
            await resp.connect(f"redis://127.0.0.1:{port.getHost().port}", connect_timeout=0.05)
        for peer in peers:
            peer.transport.loseConnection()
    finally:
        await port.stopListening()


async def test_closed_connection_raises_stream_closed(reactor, server):
    conn = await resp.connect(server.url)
    blocked = conn.execute("BLPOP", "never", 0)
    await conn.aclose()
    await conn.aclose()  # harmless
    with pytest.raises(StreamClosedError):
        await blocked
    with pytest.raises(StreamClosedError):
        await conn.execute("PING")
    assert "closed" in repr(conn)


class BrokenBytes(bytes):
    """Bytes whose conversion raises (the core calls ``bytes()`` on a subclass)."""

    def __bytes__(self):
        raise RuntimeError("broken __bytes__")


class BrokenStr(str):
    """A str whose conversion raises (the core calls ``str()`` on a subclass)."""

    __slots__ = ()

    def __str__(self):
        raise RuntimeError("broken __str__")

    def encode(self, *args, **kwargs):
        raise RuntimeError("broken encode")


BAD_ARGUMENTS = ["\ud800", "ok\udfff", object(), None, True, BrokenBytes(b"x"), BrokenStr("y")]


def bad_request(rng):
    """A coroutine function taking the connection, that must raise."""
    bad = rng.choice(BAD_ARGUMENTS)
    before = [("SET", "bad-before", "1")] * rng.randrange(3)
    after = [("GET", "bad-after")] * rng.randrange(3)
    commands = [*before, ("SET", "bad", bad), *after]

    async def batch(conn, transaction):
        pipeline = conn.pipeline(transaction=transaction)
        for args in commands:
            pipeline.add(*args)
        return await pipeline.execute()

    async def command(conn):
        return await conn.execute("SET", "bad", bad)

    return rng.choice(
        [lambda c: batch(c, True), lambda c: batch(c, True), lambda c: batch(c, False), command]
    )


@pytest.mark.parametrize("protocol", [3, 2])
async def test_bad_requests_never_reach_another_callers_reply(reactor, server, protocol):
    import random

    rng = random.Random(12)
    mismatches, refused = [], []
    conn = await resp.connect(server.url, protocol=protocol)

    async def good(i):
        key, value = f"own-{i}", f"value-{i}".encode()
        way = i % 3
        if way == 0:
            got = [await conn.execute("SET", key, value), await conn.execute("GET", key)]
        else:
            pipeline = conn.pipeline(transaction=way == 2).add("SET", key, value).add("GET", key)
            got = await pipeline.execute()
        if got not in ([b"OK", value], [True, value]):
            mismatches.append((i, got))

    async def bad(request):
        try:
            await request(conn)
        except (LocalProtocolError, RuntimeError) as exc:
            refused.append(type(exc))
        else:
            mismatches.append(("a bad request went through", request))

    try:
        for _ in range(10):
            calls = []
            for i in range(200):
                calls.append(Deferred.fromCoroutine(good(i)))
                if i % 4 == 0:
                    calls.append(Deferred.fromCoroutine(bad(bad_request(rng))))
            await DeferredList(calls, fireOnOneErrback=True)
        assert mismatches == []
        assert len(refused) == 10 * 50
        # And the connection is still in step: not inside a MULTI, replies matched.
        assert await conn.execute("ECHO", "last") == b"last"
        assert await conn.pipeline(transaction=True).add("ECHO", "t").execute() == [b"t"]
        assert not conn.closed
    finally:
        await conn.aclose()


async def test_messages_end_when_the_connection_is_closed(reactor, server):
    conn = await resp.connect(server.url)
    await conn.subscribe("x")
    received = []

    async def consume():
        async for message in conn.messages():
            received.append(message)

    consuming = Deferred.fromCoroutine(consume())
    assert not consuming.called
    await conn.aclose()
    await consuming  # the loop ended, no error
    assert received == []
    with pytest.raises(StreamClosedError):
        await conn.get_message()


@pytest.mark.parametrize("protocol", [3, 2])
async def test_an_undecodable_message_fails_only_its_reader(reactor, server, protocol):
    """A payload that is not UTF-8 on a text connection: get_message() raises for it alone."""
    sub = await resp.connect(server.url, protocol=protocol, decode_responses=True)
    pub = await resp.connect(server.url)
    other = await resp.connect(server.url)
    try:
        await other.execute("DEL", "undecodable-list")
        await sub.subscribe("ch")
        # RESP2 allows no other command while subscribed
        popped = sub.execute("BLPOP", "undecodable-list", 0) if protocol == 3 else None
        await pub.execute("PUBLISH", "ch", b"\xff\xfe")
        await pub.execute("PUBLISH", "ch", "après")
        with pytest.raises(UnicodeDecodeError) as caught:
            await sub.get_message()
        assert caught.value.object == b"\xff\xfe"  # the raw payload, for the curious
        assert await sub.get_message() == resp.Message("message", "ch", "après")
        await pub.execute("PUBLISH", "ch", b"\xff")

        async def loop_over_messages():
            async for _ in sub.messages():
                pass

        with pytest.raises(UnicodeDecodeError):
            await Deferred.fromCoroutine(loop_over_messages())
        await pub.execute("PUBLISH", "ch", "again")
        assert await sub.get_message() == resp.Message("message", "ch", "again")
        await other.execute("RPUSH", "undecodable-list", "item")
        if popped is not None:
            assert await popped == ["undecodable-list", "item"]
        assert not sub.closed
        assert await sub.execute("PING") in ("PONG", ["pong", ""])
    finally:
        for conn in (sub, pub, other):
            await conn.aclose()
