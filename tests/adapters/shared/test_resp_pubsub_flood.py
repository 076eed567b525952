"""A pub/sub flood against a subscriber that does not read, with a real redis-server.

The subscriber connects over the server's Unix socket, whose kernel buffers
are small and fixed (TCP's autotuning could hide megabytes), so what the
client does not read stays at the server, where Redis's
``client-output-buffer-limit pubsub`` (32 MB hard, 8 MB for 60 s soft, by
default) decides what happens to it.
"""

from __future__ import annotations

import anyio
import pytest
from adapter_under_test import adapter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidewire_resp import Push

DEFAULT_READ_HIGH_WATER = adapter.DEFAULT_READ_HIGH_WATER
ConnectionLostError, resp = adapter.ConnectionLostError, adapter.resp

pytestmark = pytest.mark.anyio

FLOOD = 50_000
BOUND = 100
# asyncio reads at most 256 KiB at a time: the stream stops reading once more
# than its high-water mark waits, so it holds at most that plus one read.
MAX_BACKLOG = DEFAULT_READ_HIGH_WATER + 256 * 1024


@pytest.fixture(params=[3, 2], ids=["resp3", "resp2"])
def protocol(request):
    return request.param


def payload(number, size):
    return b"%06d:" % number + b"x" * size


async def publish(publisher, count, size, channel="flood"):
    """Publish ``count`` numbered messages; return how many had a subscriber (PUBLISH's reply)."""
    delivered = 0
    for start in range(0, count, 1000):
        pipeline = publisher.pipeline()
        for number in range(start, min(count, start + 1000)):
            pipeline.add("PUBLISH", channel, payload(number, size))
        delivered += sum(await pipeline.execute())
    return delivered


async def output_memory(admin, client_id):
    """The bytes the server holds for ``client_id``, unsent (CLIENT LIST's ``omem``)."""
    line = (await admin.execute("CLIENT", "LIST", "ID", client_id)).decode()
    fields = dict(field.split("=", 1) for field in line.split())
    return int(fields["omem"])


def stopped_reading(subscriber):
    """Whether the subscriber has stopped taking bytes off the connection.

    asyncio's stream reads by itself and says when it paused; trio's reads
    only inside ``receive()`` (pull mode), which the connection's reader stops
    calling once its queue is full: there, the full queue is the sign.
    """
    if adapter.__name__ == "tidewire_trio":
        return subscriber.queued_messages == BOUND
    return subscriber.events.reading_paused


async def held_back(subscriber):
    """Wait until the subscriber has stopped reading, its queue full."""
    with anyio.fail_after(30):
        while not stopped_reading(subscriber):
            await anyio.sleep(0.01)
    assert subscriber.queued_messages == BOUND
    assert subscriber.events.read_backlog <= MAX_BACKLOG


async def test_a_subscriber_that_does_not_read_holds_the_flood_back(server, protocol):
    """Default Redis settings and 50k small messages: all arrive, in order, with bounded memory."""
    async with (
        resp.connect(
            f"unix://{server.unix_path}", protocol=protocol, max_queued_messages=BOUND
        ) as subscriber,
        resp.connect(server.url) as publisher,
    ):
        client_id = await subscriber.execute("CLIENT", "ID")
        await subscriber.subscribe("flood")
        assert await publish(publisher, FLOOD, 40) == FLOOD
        await held_back(subscriber)
        assert await output_memory(publisher, client_id) > 0  # the rest waits at the server
        with anyio.fail_after(60):
            for number in range(FLOOD):
                message = await subscriber.get_message()
                assert message.data == payload(number, 40)
                assert subscriber.queued_messages <= BOUND
        assert await subscriber.execute("PING") in (b"PONG", [b"pong", b""])


async def test_redis_disconnects_a_subscriber_past_its_output_buffer_limit(server, protocol):
    """50k messages of 1 KB (50 MB) exceed the default 32 MB hard limit: Redis closes the
    connection; the messages received before are delivered in order, then ConnectionLostError."""
    async with (
        resp.connect(
            f"unix://{server.unix_path}", protocol=protocol, max_queued_messages=BOUND
        ) as subscriber,
        resp.connect(server.url) as publisher,
    ):
        await subscriber.subscribe("flood")
        # Once Redis has dropped the subscriber, PUBLISH finds nobody listening.
        dropped_after = await publish(publisher, FLOOD, 1000)
        assert dropped_after < FLOOD
        await held_back(subscriber)
        received = []

        async def read_all():
            while True:
                received.append((await subscriber.get_message()).data)
                assert subscriber.queued_messages <= BOUND

        with anyio.fail_after(60):
            with pytest.raises(ConnectionLostError):
                await read_all()
        assert BOUND <= len(received) <= dropped_after
        assert received == [payload(number, 1000) for number in range(len(received))]
        assert subscriber.closed


async def test_a_reply_behind_unread_messages_is_still_reached(server, protocol):
    """The task that reads messages may (un)subscribe or PING with its queue full: the
    connection reads on to each reply, queuing the messages in front of it."""
    async with (
        resp.connect(
            f"unix://{server.unix_path}", protocol=protocol, max_queued_messages=BOUND
        ) as subscriber,
        resp.connect(server.url) as publisher,
    ):
        await subscriber.subscribe("flood")
        assert await publish(publisher, 5000, 40) == 5000
        await held_back(subscriber)
        with anyio.fail_after(30):
            assert await subscriber.subscribe("more") == [[b"subscribe", b"more", 2]]
            assert subscriber.queued_messages == 5000  # every one sent before the reply
            assert await subscriber.unsubscribe("flood") == [[b"unsubscribe", b"flood", 1]]
            assert await publish(publisher, 1, 0, channel="more") == 1
            for number in range(5000):
                assert (await subscriber.get_message()).data == payload(number, 40)
            assert (await subscriber.get_message()).channel == b"more"
        assert subscriber.queued_messages == 0


async def test_commands_and_pushes_behind_unread_messages_on_resp3(server):
    """A RESP3 connection with a push_handler runs commands while its messages queue is
    full; the pushes that waited behind the messages reach the handler on the way."""
    pushes = []
    async with (
        resp.connect(
            f"unix://{server.unix_path}", push_handler=pushes.append, max_queued_messages=BOUND
        ) as both,
        resp.connect(server.url) as writer,
    ):
        await both.execute("CLIENT", "TRACKING", "ON")
        await writer.execute("SET", "tracked", 1)
        assert await both.execute("GET", "tracked") == b"1"
        await both.subscribe("flood")
        assert await publish(writer, 5000, 40) == 5000
        await writer.execute("SET", "tracked", 2)  # its invalidation follows the flood
        await held_back(both)
        with anyio.fail_after(30):
            assert await both.execute("GET", "tracked") == b"2"
        assert pushes == [Push([b"invalidate", [b"tracked"]])]
        assert both.queued_messages == 5000
        assert (await both.get_message()).data == payload(0, 40)


async def test_max_queued_messages_is_checked_before_connecting():
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="max_queued_messages must be an int of at least 1"):
            resp.connect("redis://127.0.0.1:1", max_queued_messages=bad)


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(1, 60)),
        st.tuples(st.just("read"), st.integers(1, 60)),
        st.tuples(st.just("command"), st.sampled_from(["PING", "SUBSCRIBE", "UNSUBSCRIBE"])),
        st.tuples(st.just("cancelled read"), st.just(0)),
    ),
    max_size=12,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, bound=st.integers(1, 20), fuzz_protocol=st.sampled_from([2, 3]))
async def test_fuzz_subscriber_steps_keep_the_bound_and_the_order(
    server, steps, bound, fuzz_protocol
):
    """Any mix of publishing, reading, commands and cancelled reads on one subscriber.

    Its queue grows past ``bound`` only to reach a reply (never after the
    reply came), no command waits forever behind unread messages, and every
    message arrives once, in order.
    """
    async with (
        resp.connect(
            f"unix://{server.unix_path}", protocol=fuzz_protocol, max_queued_messages=bound
        ) as subscriber,
        resp.connect(server.url) as publisher,
    ):
        await subscriber.subscribe("steps")
        published = read = 0
        ceiling = bound  # what the queue may hold: more only right after a reply

        def took(message):
            nonlocal read
            assert message.data == payload(read, 0)
            read += 1

        with anyio.fail_after(30):
            for action, argument in steps:
                if action == "publish":
                    for _ in range(argument):
                        await publisher.execute("PUBLISH", "steps", payload(published, 0))
                        published += 1
                elif action == "read":
                    for _ in range(min(argument, published - read)):
                        took(await subscriber.get_message())
                elif action == "command":
                    if argument == "PING":
                        await subscriber.execute("PING")
                    elif argument == "SUBSCRIBE":
                        await subscriber.subscribe("other")
                    else:
                        await subscriber.unsubscribe("other")
                    ceiling = max(bound, subscriber.queued_messages)
                else:
                    with anyio.CancelScope() as scope:
                        scope.cancel()
                        took(await subscriber.get_message())  # only if one was ready
                assert subscriber.queued_messages <= ceiling
                ceiling = max(bound, subscriber.queued_messages)  # it shrinks as we read
            while read < published:
                took(await subscriber.get_message())
            assert subscriber.queued_messages == 0
            await subscriber.execute("PING")
