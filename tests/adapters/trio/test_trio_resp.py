"""trio only: the Redis client's nurseries, cancel scopes and a server killed mid-pipeline.

The shared suite checks the mirrored behaviour against a real redis-server;
these check what is trio's: the connection's reader and writer live in the
nursery its ``async with`` opens (an error in the block comes out as itself),
``await connect()`` is refused, a cancel scope around each awaiting call
leaves the connection in step, and killing the server while a pipeline and
many calls wait fails each of them and nothing else.
"""

import pytest
import redis_server  # loaded by tests/adapters/conftest.py
import trio

from tidewire_trio import ConnectionLostError, StreamClosedError, resp

pytestmark = pytest.mark.anyio


def nurseries():
    return len(trio.lowlevel.current_task().child_nurseries)


async def test_await_connect_is_refused_for_an_async_with():
    with pytest.raises(TypeError, match=r"async with resp\.connect"):
        await resp.connect("redis://127.0.0.1:1")


async def test_the_tasks_live_in_the_blocks_nursery_and_errors_come_out_as_themselves(server):
    before = nurseries()
    inside = []

    async def block():
        async with resp.connect(server.url) as conn:
            inside.append((nurseries(), conn))
            assert await conn.execute("PING") == b"PONG"
            raise KeyError("mine")

    with pytest.raises(KeyError):  # not an ExceptionGroup
        await block()
    [(count, conn)] = inside
    assert count == before + 1
    assert nurseries() == before
    assert conn.closed
    with pytest.raises(StreamClosedError):
        await conn.execute("PING")


@pytest.mark.parametrize("what", ["execute", "pipeline", "transaction", "get_message"])
async def test_a_cancel_scope_around_each_await_leaves_the_connection_in_step(server, what):
    async with resp.connect(server.url) as conn:
        await conn.execute("DEL", "counter")
        if what == "get_message":
            await conn.subscribe("quiet")
        with trio.move_on_after(0.05) as scope:
            if what == "execute":
                await conn.execute("BLPOP", "never", 1)  # answered after the cancel
            elif what == "get_message":
                await conn.get_message()
            else:
                pipeline = conn.pipeline(transaction=what == "transaction")
                await pipeline.add("INCR", "counter").add("DEBUG", "SLEEP", "0.3").execute()
        assert scope.cancelled_caught
        if what == "get_message":
            await conn.unsubscribe()
        assert await conn.execute("ECHO", "in step") == b"in step"
        if what in ("pipeline", "transaction"):
            assert await conn.execute("GET", "counter") == b"1"  # it ran; its reply was dropped
        assert conn.pending == 0


async def test_a_server_killed_mid_pipeline_fails_each_waiting_call():
    outcomes = []

    async def call(work):
        try:
            outcomes.append(await work())
        except ConnectionLostError as lost:
            outcomes.append(lost)

    with redis_server.running_redis() as doomed:
        async with resp.connect(doomed.url) as conn:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, lambda: conn.execute("BLPOP", "never", 0))
                with trio.fail_after(10):
                    while conn.pending < 1:
                        await trio.sleep(0.005)
                pipeline = conn.pipeline()
                for number in range(10_000):
                    pipeline.add("SET", f"key{number}", number)
                nursery.start_soon(call, pipeline.execute)
                for number in range(100):
                    nursery.start_soon(call, lambda number=number: conn.execute("GET", number))
                with trio.fail_after(10):
                    while conn.pending < 102:
                        await trio.sleep(0.005)
                doomed.stop()
            assert conn.closed
    assert len(outcomes) == 102
    assert all(isinstance(outcome, ConnectionLostError) for outcome in outcomes)
    assert all("may or may not have run" in str(outcome) for outcome in outcomes)


async def test_the_client_owns_its_connection_and_needs_its_async_with(server):
    client = resp.Client(server.url)
    with pytest.raises(RuntimeError, match="async with"):
        await client.execute("PING")
    before = nurseries()
    inside = []

    async def block():
        async with resp.Client(server.url) as client:
            assert await client.execute("PING") == b"PONG"
            inside.append(nurseries())
            raise KeyError("mine")

    with pytest.raises(KeyError):  # not an ExceptionGroup
        await block()
    assert inside == [before + 1]
    assert nurseries() == before
    client = resp.Client(server.url)
    async with client:
        pass
    with pytest.raises(StreamClosedError):
        await client.execute("PING")
