"""Pub/sub in RESP2 and RESP3, and RESP3 pushes (client-side caching) against a real server."""

from __future__ import annotations

import anyio
import pytest
from adapter_under_test import adapter

from tidewire_resp import Push

StreamClosedError, resp = adapter.StreamClosedError, adapter.resp

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[3, 2], ids=["resp3", "resp2"])
def protocol(request):
    return request.param


async def test_subscribe_receive_unsubscribe(server, protocol):
    async with (
        resp.connect(server.url, protocol=protocol) as sub,
        resp.connect(server.url) as pub,
    ):
        confirmations = await sub.subscribe("news", "sport")
        assert confirmations == [[b"subscribe", b"news", 1], [b"subscribe", b"sport", 2]]
        assert await sub.psubscribe("w*") == [[b"psubscribe", b"w*", 3]]
        assert sub.connection.subscriptions[0] == {b"news", b"sport"}
        assert await pub.execute("PUBLISH", "news", "hello") == 1
        assert await pub.execute("PUBLISH", "weather", "rain") == 1
        assert await pub.execute("PUBLISH", "sport", b"\x00goal") == 1
        received = []
        async for message in sub.messages():
            received.append(message)
            if len(received) == 3:
                break
        assert received == [
            resp.Message("message", b"news", b"hello"),
            resp.Message("pmessage", b"weather", b"rain", b"w*"),
            resp.Message("message", b"sport", b"\x00goal"),
        ]
        # PING works while subscribed in both protocols (RESP2 answers an array).
        assert await sub.execute("PING") in (b"PONG", [b"pong", b""])
        confirmations = await sub.unsubscribe()  # all channels, in the server's order
        assert sorted(kind for kind, _, _ in confirmations) == [b"unsubscribe"] * 2
        assert sorted(channel for _, channel, _ in confirmations) == [b"news", b"sport"]
        assert [count for _, _, count in confirmations] == [2, 1]
        assert await sub.punsubscribe("w*") == [[b"punsubscribe", b"w*", 0]]
        assert sub.connection.subscriptions == (frozenset(), frozenset(), frozenset())
        assert await sub.execute("SET", "after", 1) == b"OK"


async def test_messages_are_decoded_on_a_text_connection(server, protocol):
    async with (
        resp.connect(server.url, protocol=protocol, decode_responses=True) as sub,
        resp.connect(server.url) as pub,
    ):
        assert await sub.subscribe("ch") == [["subscribe", "ch", 1]]
        await pub.execute("PUBLISH", "ch", "é")
        assert await sub.get_message() == resp.Message("message", "ch", "é")


async def test_resp3_subscribed_connection_runs_commands(server):
    async with resp.connect(server.url) as conn:
        await conn.subscribe("self")
        assert await conn.execute("SET", "k", "v") == b"OK"
        assert await conn.execute("PUBLISH", "self", "to me") == 1
        assert await conn.execute("GET", "k") == b"v"
        assert await conn.get_message() == resp.Message("message", b"self", b"to me")


async def test_resp2_subscribed_connection_refuses_commands(server):
    async with resp.connect(server.url, protocol=2) as conn:
        await conn.subscribe("c")
        with pytest.raises(resp.ReplyError, match=r"only .* allowed in this context"):
            await conn.execute("GET", "k")
        assert await conn.execute("PING") == [b"pong", b""]


async def test_get_message_waits_and_survives_cancellation(server):
    async with (
        resp.connect(server.url) as sub,
        resp.connect(server.url) as pub,
    ):
        await sub.subscribe("late")
        with anyio.move_on_after(0.05) as scope:
            await sub.get_message()
        assert scope.cancelled_caught
        async with anyio.create_task_group() as tg:

            async def publish_soon():
                await anyio.sleep(0.01)
                await pub.execute("PUBLISH", "late", "now")

            tg.start_soon(publish_soon)
            assert (await sub.get_message()).data == b"now"


async def test_messages_end_when_the_connection_is_closed(server):
    async with resp.connect(server.url) as conn:
        await conn.subscribe("x")
        received = []

        async def consume():
            async for message in conn.messages():
                received.append(message)

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.01)
            await conn.aclose()
        assert received == []
        with pytest.raises(StreamClosedError):
            await conn.get_message()


async def test_client_side_caching_invalidations(server):
    pushes = []
    async with (
        resp.connect(server.url, push_handler=pushes.append) as cached,
        resp.connect(server.url) as writer,
    ):
        assert await cached.execute("CLIENT", "TRACKING", "ON") == b"OK"
        await writer.execute("SET", "tk", 1)
        assert await cached.execute("GET", "tk") == b"1"
        await writer.execute("SET", "tk", 2)
        with anyio.fail_after(5):
            while not pushes:
                await cached.execute("PING")
        assert pushes == [Push([b"invalidate", [b"tk"]])]
        await writer.execute("FLUSHDB")
        with anyio.fail_after(5):
            while len(pushes) < 2:
                await cached.execute("PING")
        assert pushes[1] == Push([b"invalidate", None])


async def test_tracking_on_resp2_through_redirect(server):
    async with (
        resp.connect(server.url, protocol=2) as listener,
        resp.connect(server.url, protocol=2) as cached,
        resp.connect(server.url) as writer,
    ):
        listener_id = await listener.execute("CLIENT", "ID")
        await listener.subscribe("__redis__:invalidate")
        await cached.execute("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id)
        await cached.execute("GET", "rk")
        await writer.execute("SET", "rk", 1)
        message = await listener.get_message()
        assert message == resp.Message("message", b"__redis__:invalidate", [b"rk"])


async def test_push_handler_errors_are_logged_not_fatal(server, caplog):
    def broken(push):
        raise ValueError("bad handler")

    async with resp.connect(server.url, push_handler=broken) as conn:
        assert await conn.execute("DEBUG", "PROTOCOL", "push") == (
            b"Some real reply following the push reply"
        )
        assert await conn.execute("PING") == b"PONG"
    assert "the push handler failed" in caplog.text


async def test_pushes_without_a_handler_are_dropped(server):
    async with resp.connect(server.url) as conn:
        assert conn.push_handler is None
        await conn.execute("DEBUG", "PROTOCOL", "push")
        assert await conn.execute("PING") == b"PONG"


async def test_an_undecodable_message_fails_only_its_reader(server, protocol):
    """A payload that is not UTF-8 on a text connection: get_message() raises for it alone."""
    async with (
        resp.connect(server.url, protocol=protocol, decode_responses=True) as sub,
        resp.connect(server.url) as pub,
        resp.connect(server.url) as other,
    ):
        await other.execute("DEL", "undecodable-list")
        await sub.subscribe("ch")
        async with anyio.create_task_group() as tg:
            popped = []

            async def blocked_pop():
                popped.append(await sub.execute("BLPOP", "undecodable-list", 0))

            if protocol == 3:  # RESP2 allows no other command while subscribed
                tg.start_soon(blocked_pop)
            await pub.execute("PUBLISH", "ch", b"\xff\xfe")
            await pub.execute("PUBLISH", "ch", "après")
            with pytest.raises(UnicodeDecodeError) as caught:
                await sub.get_message()
            assert caught.value.object == b"\xff\xfe"  # the raw payload, for the curious
            assert await sub.get_message() == resp.Message("message", "ch", "après")
            await pub.execute("PUBLISH", "ch", b"\xff")
            with pytest.raises(UnicodeDecodeError):
                async for _ in sub.messages():
                    pass
            await pub.execute("PUBLISH", "ch", "again")
            async for message in sub.messages():  # a new loop goes on with the next one
                assert message == resp.Message("message", "ch", "again")
                break
            await other.execute("RPUSH", "undecodable-list", "item")
        assert popped == ([["undecodable-list", "item"]] if protocol == 3 else [])
        assert not sub.closed
        assert await sub.execute("PING") in ("PONG", ["pong", ""])


async def test_an_undecodable_reply_fails_only_its_caller(server):
    async with resp.connect(server.url, decode_responses=True) as conn:
        await conn.execute("SET", "undecodable", b"\xff")

        async def ordinary(i):
            return await conn.execute("ECHO", f"token-{i}")

        async with anyio.create_task_group() as tg:
            results = {}

            async def call(i):
                results[i] = await ordinary(i)

            for i in range(50):
                tg.start_soon(call, i)
            with pytest.raises(UnicodeDecodeError):
                await conn.execute("GET", "undecodable")
            with pytest.raises(UnicodeDecodeError):
                await conn.pipeline().add("PING").add("GET", "undecodable").execute()
            with pytest.raises(UnicodeDecodeError):
                await conn.pipeline(transaction=True).add("GET", "undecodable").execute()
        assert results == {i: f"token-{i}" for i in range(50)}
        assert await conn.execute("GET", "undecodable", decode=False) == b"\xff"
        assert not conn.closed
