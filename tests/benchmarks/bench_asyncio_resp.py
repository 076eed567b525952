"""Benchmark: the asyncio Redis client against redis-py's, on a real redis-server.

Starts its own ``redis-server`` on a free loopback port (the one the tests
use), stores a 100-byte value, then measures in the same run:

- 50,000 pipelined ``GET``\\ s: ours as an explicit ``pipeline()``, redis-py's
  asyncio client with ``pipeline(transaction=False)``, with hiredis and with
  its pure-Python parser; ``redis-benchmark -P 1000`` as the ceiling;
- 50,000 concurrent ``GET`` calls, one task each: ours on one shared
  connection (automatic pipelining), redis-py on a blocking pool of 100
  connections (it has no automatic pipelining);
- 5,000 sequential ``GET``\\ s (one awaited after the other): ours, redis-py
  with and without hiredis, ``redis-benchmark -P 1 -c 1``; then again with
  the client and redis-server on one core (see ``_harness.one_core``: a
  round trip then costs both sides' CPU work, not the machine's cross-core
  wake-up latency, which swings 2x between runs here).

Every client speaks RESP3. Run: ``python tests/benchmarks/bench_asyncio_resp.py``
(``nox -s bench``). Prints Markdown tables; never fails on speed.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _harness import best_time, human, one_core, print_machine, print_table

from tidewire_asyncio import resp

HERE = Path(__file__).parent
PIPELINED = 50_000
SEQUENTIAL = 5_000
VALUE = b"v" * 100


def _load_server_helper() -> Any:
    path = HERE.parent / "adapters" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[None]]) -> float:
    """Best seconds for one run of the coroutine ``make()``, on ``loop``."""
    return best_time(lambda: loop.run_until_complete(make()), repeat=5, min_time=0.3)


def ours(loop: asyncio.AbstractEventLoop, url: str, server_pid: int) -> dict[str, float]:
    conn = loop.run_until_complete(resp.connect(url))
    loop.run_until_complete(conn.execute("SET", "key", VALUE))

    async def pipelined() -> None:
        pipe = conn.pipeline()
        for _ in range(PIPELINED):
            pipe.add("GET", "key")
        values = await pipe.execute()
        assert len(values) == PIPELINED and values[-1] == VALUE

    async def concurrent() -> None:
        values = await asyncio.gather(*(conn.execute("GET", "key") for _ in range(PIPELINED)))
        assert values[-1] == VALUE

    async def sequential() -> None:
        for _ in range(SEQUENTIAL):
            value = await conn.execute("GET", "key")
        assert value == VALUE

    try:
        results = {
            "pipelined": timed(loop, pipelined),
            "concurrent": timed(loop, concurrent),
            "sequential": timed(loop, sequential),
        }
        with one_core(server_pid):
            results["sequential, one core"] = timed(loop, sequential)
        return results
    finally:
        loop.run_until_complete(conn.aclose())


def redis_py(
    loop: asyncio.AbstractEventLoop, port: int, parser: Any, server_pid: int
) -> dict[str, float]:
    import redis.asyncio

    pool = redis.asyncio.ConnectionPool(port=port, protocol=3, parser_class=parser)
    client = redis.asyncio.Redis(connection_pool=pool)
    loop.run_until_complete(client.set("key", VALUE))

    async def pipelined() -> None:
        pipe = client.pipeline(transaction=False)
        for _ in range(PIPELINED):
            pipe.get("key")
        values = await pipe.execute()
        assert len(values) == PIPELINED and values[-1] == VALUE

    async def sequential() -> None:
        for _ in range(SEQUENTIAL):
            value = await client.get("key")
        assert value == VALUE

    # Many tasks at once, as with our automatic pipelining: redis-py needs a
    # connection per concurrent command, so it gets a pool that waits for one.
    blocking = redis.asyncio.BlockingConnectionPool(
        port=port, protocol=3, parser_class=parser, max_connections=100, timeout=None
    )
    pooled = redis.asyncio.Redis(connection_pool=blocking)

    async def concurrent(count: int = PIPELINED) -> None:
        values = await asyncio.gather(*(pooled.get("key") for _ in range(count)))
        assert values[-1] == VALUE

    def concurrent_once() -> float:
        # Slow (seconds per run): one warm-up that opens the pool, one timed run.
        loop.run_until_complete(concurrent(PIPELINED // 10))
        start = time.perf_counter()
        loop.run_until_complete(concurrent())
        return time.perf_counter() - start

    try:
        results = {
            "pipelined": timed(loop, pipelined),
            "sequential": timed(loop, sequential),
            "concurrent": concurrent_once(),
        }
        with one_core(server_pid):
            results["sequential, one core"] = timed(loop, sequential)
        return results
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(pool.disconnect())
        loop.run_until_complete(pooled.aclose())
        loop.run_until_complete(blocking.disconnect())


def redis_benchmark(port: int, requests: int, pipeline: int) -> float | None:
    """``GET`` requests per second from ``redis-benchmark`` (one client), or None if absent."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    args = [binary, "-p", str(port), "-c", "1", "-n", str(requests), "-P", str(pipeline)]
    output = subprocess.run(
        [*args, "-d", str(len(VALUE)), "-t", "set,get", "--csv"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for row in csv.reader(io.StringIO(output)):
        if row and row[0] == "GET":
            return float(row[1])
    return None


def main() -> None:
    print("## tidewire-asyncio: Redis client on a real redis-server (loopback)")
    print_machine()
    helper = _load_server_helper()
    try:
        import redis
        from redis._parsers import _AsyncHiredisParser, _AsyncRESP3Parser
    except ImportError as error:  # the anchors are optional: report, do not fail
        print(f"anchor missing ({error}); install tests/benchmarks/requirements-asyncio-resp.txt")
        return
    version = subprocess.run(
        [helper.redis_server_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    print(f"redis-py {redis.__version__}, redis-server {version}")
    loop = asyncio.new_event_loop()
    try:
        with helper.running_redis() as server:
            pid = server.process.pid
            mine = ours(loop, server.url, pid)
            with_hiredis = redis_py(loop, server.port, _AsyncHiredisParser, pid)
            pure = redis_py(loop, server.port, _AsyncRESP3Parser, pid)
            ceiling_pipelined = redis_benchmark(server.port, PIPELINED, 1000)
            ceiling_sequential = redis_benchmark(server.port, SEQUENTIAL, 1)
            with one_core(pid):  # redis-benchmark inherits the affinity
                ceiling_one_core = redis_benchmark(server.port, SEQUENTIAL, 1)
    finally:
        loop.close()

    def rate(count: int, seconds: float) -> str:
        return human(count / seconds, "GET/s")

    def ceiling(value: float | None) -> str:
        return "redis-benchmark missing" if value is None else human(value, "GET/s")

    def compared(key: str, count: int, ours_label: str, suffix: str = "") -> list[list[str]]:
        """Our row for workload ``key``, then redis-py's with hiredis and without."""
        rows = [[ours_label, rate(count, mine[key]), "1.00x"]]
        for name, theirs in (("redis-py + hiredis", with_hiredis), ("redis-py pure Python", pure)):
            ratio = f"{theirs[key] / mine[key]:.2f}x"
            rows.append([name + suffix, rate(count, theirs[key]), ratio])
        return rows

    print_table(
        f"{PIPELINED:,} pipelined GETs of a 100-byte value (higher is better)",
        ["client", "rate", "ours (explicit pipeline) vs this"],
        [
            *compared("pipelined", PIPELINED, "ours: pipeline()", ": pipeline()"),
            ["redis-benchmark -P 1000 -c 1 (C, ceiling)", ceiling(ceiling_pipelined), "-"],
        ],
    )
    print_table(
        f"{PIPELINED:,} concurrent GET calls, one task each (higher is better)",
        ["client", "rate", "ours vs this"],
        compared(
            "concurrent",
            PIPELINED,
            "ours: execute() on one shared connection",
            ": get() on a blocking pool of 100 connections",
        ),
    )
    for key, title, top in (
        ("sequential", "", ceiling_sequential),
        ("sequential, one core", ", client and redis-server on one core", ceiling_one_core),
    ):
        print_table(
            f"{SEQUENTIAL:,} sequential GETs{title} (higher is better)",
            ["client", "rate", "ours vs this"],
            [
                *compared(key, SEQUENTIAL, "ours: await execute()"),
                ["redis-benchmark -P 1 -c 1 (C, ceiling)", ceiling(top), "-"],
            ],
        )


if __name__ == "__main__":
    main()
