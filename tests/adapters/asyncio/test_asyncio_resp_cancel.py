"""asyncio-only Redis client tests: asyncio's own task cancellation, at random points."""

from __future__ import annotations

import asyncio
import random

import anyio
import pytest

from tidewire_asyncio import resp

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("protocol", [3, 2])
async def test_cancellation_stress(server, protocol):
    """Cancel at random points; every reply that arrives must be the caller's own."""
    rng = random.Random(20231117)
    checked = cancelled = 0
    async with await resp.connect(server.url, protocol=protocol) as conn:

        async def one(i):
            nonlocal checked, cancelled
            token = f"{i}:" + "x" * rng.choice((1, 10, 1000, 70_000))
            try:
                with anyio.fail_after(rng.choice((0, 1e-5, 1e-4, 1e-3, 10))):
                    if rng.random() < 0.2:
                        values = await (
                            conn.pipeline(transaction=rng.random() < 0.5)
                            .add("ECHO", token)
                            .add("ECHO", token + "!")
                            .execute()
                        )
                        assert values == [token.encode(), token.encode() + b"!"]
                    else:
                        assert await conn.execute("ECHO", token) == token.encode()
                checked += 1
            except TimeoutError:
                cancelled += 1

        async def canceller(tasks):
            for _ in range(200):
                await asyncio.sleep(rng.choice((0, 0, 1e-4)))
                victim = rng.choice(tasks)
                victim.cancel()

        for _round in range(5):
            tasks = [asyncio.ensure_future(one(i)) for i in range(400)]
            killer = asyncio.ensure_future(canceller(tasks))
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            killer.cancel()
            await asyncio.gather(killer, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, asyncio.CancelledError):
                    cancelled += 1
                else:
                    assert outcome is None  # no AssertionError: every reply matched
            # The connection is usable and in sync after each round.
            assert await conn.execute("ECHO", "sync") == b"sync"
        assert checked > 100 and cancelled > 100
        with anyio.fail_after(10):
            while conn.pending:
                await conn.execute("PING")
        assert conn.pending == 0
