"""Requests that cannot be sent never put a shared Redis connection out of step.

Many tasks share one connection to a real redis-server, each writing and
reading its own key, while other tasks keep trying transactions, pipelines
and commands with arguments that cannot be sent: a lone surrogate, objects
RESP cannot carry, arguments whose conversion raises. Every good caller must
get its own values; every bad one an exception, and nothing else.
"""

from __future__ import annotations

import random

import anyio
import pytest
from adapter_under_test import adapter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidewire import LocalProtocolError

resp = adapter.resp

pytestmark = pytest.mark.anyio


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


def bad_requests(rng):
    """Each item: a coroutine function taking the connection, that must raise."""
    bad = rng.choice(BAD_ARGUMENTS)
    before = [("SET", "bad-before", "1")] * rng.randrange(3)
    after = [("GET", "bad-after")] * rng.randrange(3)
    commands = [*before, ("SET", "bad", bad), *after]

    async def transaction(conn):
        pipeline = conn.pipeline(transaction=True)
        for args in commands:
            pipeline.add(*args)
        return await pipeline.execute()

    async def pipeline(conn):
        pipeline = conn.pipeline()
        for args in commands:
            pipeline.add(*args)
        return await pipeline.execute()

    async def command(conn):
        return await conn.execute("SET", "bad", bad)

    return rng.choice([transaction, transaction, pipeline, command])


@pytest.mark.parametrize("protocol", [3, 2])
async def test_bad_requests_never_reach_another_callers_reply(server, protocol):
    rng = random.Random(12)
    mismatches = []
    refused = []
    async with resp.connect(server.url, protocol=protocol) as conn:

        async def good(i):
            key, value = f"own-{i}", f"value-{i}".encode()
            way = i % 3
            if way == 0:
                got = [await conn.execute("SET", key, value), await conn.execute("GET", key)]
            else:
                got = (
                    await conn.pipeline(transaction=way == 2)
                    .add("SET", key, value)
                    .add("GET", key)
                    .execute()
                )
            if got not in ([b"OK", value], [True, value]):
                mismatches.append((i, got))

        async def bad(request):
            try:
                await request(conn)
            except (LocalProtocolError, RuntimeError) as exc:
                refused.append(type(exc))
            else:
                mismatches.append(("a bad request went through", request))

        with anyio.fail_after(60):
            for _ in range(10):
                async with anyio.create_task_group() as tg:
                    for i in range(200):
                        tg.start_soon(good, i)
                        if i % 4 == 0:
                            tg.start_soon(bad, bad_requests(rng))
        assert mismatches == []
        assert len(refused) == 10 * 50
        # And the connection is still in step: not inside a MULTI, replies matched.
        assert await conn.execute("ECHO", "last") == b"last"
        assert await conn.pipeline(transaction=True).add("ECHO", "t").execute() == [b"t"]
        assert not conn.closed


def converts_once():
    """An argument that converts once, then raises: it shows how often a pipeline converts it."""
    calls = []

    class Flaky(bytes):
        def __bytes__(self):
            calls.append(None)
            if len(calls) > 1:
                raise RuntimeError("failed on the second conversion")
            return b"flaky"

    return Flaky(b"flaky")


class Unconvertible(bytes):
    def __bytes__(self):
        raise RuntimeError("cannot convert")


async def test_a_manual_transaction_is_checked_whole_and_converted_once(server):
    """A plain pipeline holding MULTI ... EXEC (sent command by command, not batched):
    every argument is converted once, all before anything is written, so an argument
    that fails leaves no MULTI open behind it, whoever shares the connection."""
    async with resp.connect(server.url) as conn:
        results = {}

        async def good(i):
            pipeline = conn.pipeline().add("SET", f"own-{i}", i).add("GET", f"own-{i}")
            results[i] = await pipeline.execute()

        async def bad(i):
            pipeline = conn.pipeline().add("MULTI").add("SET", "k", Unconvertible(b"")).add("EXEC")
            with pytest.raises(RuntimeError, match="cannot convert"):
                await pipeline.execute()
            flaky = conn.pipeline().add("MULTI").add("SET", f"f{i}", converts_once()).add("EXEC")
            assert (await flaky.execute())[-1] == [b"OK"]

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(300):
                    tg.start_soon(good, i)
                    if i % 30 == 0:
                        tg.start_soon(bad, i)
        assert results == {i: [b"OK", str(i).encode()] for i in range(300)}
        assert await conn.execute("ECHO", "in step") == b"in step"
        assert await conn.pipeline(transaction=True).add("ECHO", "t").execute() == [b"t"]


ARGUMENTS = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=8),  # lone surrogates included
    st.binary(max_size=8),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.builds(bytearray, st.binary(max_size=4)),
    st.builds(memoryview, st.binary(max_size=4)),
    st.just(memoryview(b"abcdef")[::2]),  # not contiguous
    st.builds(BrokenBytes),
    st.builds(BrokenStr),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arguments=st.lists(ARGUMENTS, min_size=1, max_size=4),
    way=st.sampled_from(["transaction", "pipeline", "commands", "manual MULTI"]),
)
async def test_fuzz_any_argument_leaves_a_shared_connection_in_step(server, arguments, way):
    """Whatever the arguments, a request succeeds or raises; the others get their own replies."""
    async with resp.connect(server.url) as conn:
        commands = [("SET", f"fuzz-{i}", arg) for i, arg in enumerate(arguments)]
        own = []

        async def attempt():
            try:
                if way == "commands":
                    for args in commands:
                        await conn.execute(*args)
                else:
                    pipeline = conn.pipeline(transaction=way == "transaction")
                    if way == "manual MULTI":  # sent command by command
                        pipeline.add("MULTI")
                    for args in commands:
                        pipeline.add(*args)
                    if way == "manual MULTI":
                        pipeline.add("EXEC")
                    await pipeline.execute()
            except (LocalProtocolError, RuntimeError):
                pass

        async def bystander():
            pipeline = conn.pipeline().add("SET", "fuzz-own", b"mine").add("GET", "fuzz-own")
            own.append(await pipeline.execute())
            own.append(await conn.execute("ECHO", "also mine"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(attempt)
            tg.start_soon(bystander)
        assert own == [[b"OK", b"mine"], b"also mine"]
        assert await conn.pipeline(transaction=True).add("ECHO", "t").execute() == [b"t"]
