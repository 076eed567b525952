"""Redis clients on every framework, measured against one real redis-server.

``python tests/benchmarks/_redis_clients.py KIND PORT`` runs one pass of the
three workloads with the client ``KIND`` and prints its rates as JSON:
5,000 sequential GETs (each awaited before the next), 50,000 GETs in one
explicit pipeline, and 10,000 concurrent GETs on one client (one task,
or one Deferred, each). Each client runs in a child process on its own
framework; :func:`compare_clients` alternates the clients over passes
against one redis-server and prints the best rates side by side.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
KEY, VALUE = "bench:key", b"v" * 100
SEQUENTIAL, PIPELINED, CONCURRENT = 5_000, 50_000, 10_000
ROUNDS = 3
WORKLOADS = {
    "sequential": f"{SEQUENTIAL:,} sequential GETs",
    "pipelined": f"{PIPELINED:,} GETs in one pipeline",
    "concurrent": f"{CONCURRENT:,} concurrent GETs on one client",
}
Rates = dict[str, float]


async def _measure(
    get: Callable[[], Awaitable[Any]],
    pipelined: Callable[[int], Awaitable[Any]],
    concurrent: Callable[[int], Awaitable[Any]],
) -> Rates:
    rates = {}
    start = time.perf_counter()
    for _ in range(SEQUENTIAL):
        await get()
    rates["sequential"] = SEQUENTIAL / (time.perf_counter() - start)
    for name, run, count in (
        ("pipelined", pipelined, PIPELINED),
        ("concurrent", concurrent, CONCURRENT),
    ):
        start = time.perf_counter()
        await run(count)
        rates[name] = count / (time.perf_counter() - start)
    return rates


# -- the clients -----------------------------------------------------------------------------


async def tidewire_client(url: str, module: Any, gather: Callable[..., Awaitable[Any]]) -> Rates:
    """Any tidewire adapter but Twisted's: the names are the same on each."""
    async with module.connect(url) as conn:

        async def pipelined(count: int) -> None:
            pipe = conn.pipeline()
            for _ in range(count):
                pipe.add("GET", KEY)
            await pipe.execute()

        async def concurrent(count: int) -> None:
            await gather(*(lambda: conn.execute("GET", KEY) for _ in range(count)))

        return await _measure(lambda: conn.execute("GET", KEY), pipelined, concurrent)


async def _asyncio_gather(*calls: Callable[[], Awaitable[Any]]) -> None:
    await asyncio.gather(*(call() for call in calls))


async def _task_group_gather(*calls: Callable[[], Awaitable[Any]]) -> None:
    import anyio

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        await call()  # coredis returns awaitables that are not coroutines

    async with anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(one, call)


async def _nursery_gather(*calls: Callable[[], Awaitable[Any]]) -> None:
    import trio

    async with trio.open_nursery() as nursery:
        for call in calls:
            nursery.start_soon(call)


async def coredis_client(url: str) -> Rates:
    import coredis

    async with coredis.Redis.from_url(url) as client:

        async def pipelined(count: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(count):
                    pipe.get(KEY)

        async def concurrent(count: int) -> None:
            await _task_group_gather(*(lambda: client.get(KEY) for _ in range(count)))

        return await _measure(lambda: client.get(KEY), pipelined, concurrent)


def _run_twisted(measure: Callable[[Any], Any]) -> Rates:
    """Run ``measure(reactor)`` (a coroutine) on Twisted's default reactor; its rates."""
    from twisted.internet import defer, reactor

    rates: Rates = {}

    def done(result: Any) -> None:
        if isinstance(result, dict):
            rates.update(result)
        else:
            result.printTraceback()
        reactor.stop()  # type: ignore[attr-defined]

    def start() -> None:
        defer.Deferred.fromCoroutine(measure(reactor)).addBoth(done)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return rates


async def tidewire_twisted_client(url: str) -> Rates:
    from twisted.internet import defer

    from tidewire_twisted import resp

    conn = await resp.connect(url)
    try:

        async def pipelined(count: int) -> None:
            pipe = conn.pipeline()
            for _ in range(count):
                pipe.add("GET", KEY)
            await pipe.execute()

        async def concurrent(count: int) -> None:
            calls = [conn.execute("GET", KEY) for _ in range(count)]
            await defer.gatherResults(calls)

        return await _measure(lambda: conn.execute("GET", KEY), pipelined, concurrent)
    finally:
        await conn.aclose()


async def txredisapi_client(port: int) -> Rates:
    import txredisapi
    from twisted.internet import defer

    conn = await txredisapi.Connection("127.0.0.1", port, dbid=0, reconnect=False)
    try:

        async def pipelined(count: int) -> None:
            pipe = await conn.pipeline()
            for _ in range(count):
                pipe.get(KEY)
            await pipe.execute_pipeline()

        async def concurrent(count: int) -> None:
            await defer.gatherResults([conn.get(KEY) for _ in range(count)])

        return await _measure(lambda: conn.get(KEY), pipelined, concurrent)
    finally:
        await conn.disconnect()


def run_client(kind: str, port: int) -> Rates:
    url = f"redis://127.0.0.1:{port}"
    if kind == "tidewire-asyncio":
        from tidewire_asyncio import resp

        return asyncio.run(tidewire_client(url, resp, _asyncio_gather))
    if kind == "tidewire-trio":
        import trio

        from tidewire_trio import resp as trio_resp

        return trio.run(tidewire_client, url, trio_resp, _nursery_gather)
    if kind.startswith(("tidewire-anyio-", "coredis-")):
        import anyio

        backend = kind.rsplit("-", 1)[1]
        if kind.startswith("coredis-"):
            return anyio.run(coredis_client, url, backend=backend)
        from tidewire_anyio import resp as anyio_resp

        return anyio.run(tidewire_client, url, anyio_resp, _task_group_gather, backend=backend)
    if kind == "tidewire-twisted":
        return _run_twisted(lambda reactor: tidewire_twisted_client(url))
    if kind == "txredisapi":
        return _run_twisted(lambda reactor: txredisapi_client(port))
    raise SystemExit(f"unknown client {kind}")


# -- the comparison --------------------------------------------------------------------------


def _load_server_helper() -> Any:
    path = HERE.parent / "adapters" / "redis_server.py"
    spec = importlib.util.spec_from_file_location("redis_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _store_value(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        parts = [b"SET", KEY.encode(), VALUE]
        sock.sendall(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        assert sock.recv(64) == b"+OK\r\n"


def compare_clients(title: str, columns: dict[str, str], ours: str) -> None:
    """Measure every client kind of ``columns`` against one redis-server; print a table."""
    from _harness import human, print_table

    best: dict[str, Rates] = {kind: {} for kind in columns}
    with _load_server_helper().running_redis() as server:
        port = server.port
        _store_value(port)
        for _ in range(ROUNDS):
            for kind in columns:
                result = subprocess.run(
                    [sys.executable, __file__, kind, str(port)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                for name, rate in json.loads(result.stdout).items():
                    best[kind][name] = max(rate, best[kind].get(name, 0.0))
    others = [kind for kind in columns if kind != ours]
    rows = []
    for name, label in WORKLOADS.items():
        rates = [human(best[kind][name], "GET/s") for kind in columns]
        ratios = [f"{best[ours][name] / best[kind][name]:.2f}x" for kind in others]
        rows.append([label, *rates, *ratios])
    headers = ["workload", *columns.values(), *(f"ours / {columns[kind]}" for kind in others)]
    print_table(f"{title}, 100 B values (best of {ROUNDS} alternating passes)", headers, rows)


if __name__ == "__main__":
    print(json.dumps(run_client(sys.argv[1], int(sys.argv[2]))))
