"""One client measuring echo servers on any framework (see ``_servers.py``).

Each server runs in its own child process, on its own loop and CPU; this
process drives every one through the same workloads with the same client,
so the only difference between two columns is the server:

- WebSocket: the ``websockets`` asyncio client: 3,000 sequential 16 B round
  trips, 20,000 x 16 B in windows of 100, 50 round trips of 1 MiB, and the
  sequential trips again with client and server pinned to one core.
- Lines: a blocking-socket client: 3,000 sequential 32 B round trips,
  100,000 x 32 B lines in windows of 1,000, and the sequential trips on one core.

On one core a round trip costs both sides' CPU work rather than the
machine's cross-core wake-up latency, which swings 2x between runs here.
Passes alternate between the servers and each keeps its best rate, which
spreads the noise of a shared machine over every column.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import human, one_core, print_table

SERVERS = Path(__file__).with_name("_servers.py")
ROUNDS = 5
PassResult = dict[str, float]


class Child:
    """A server of ``_servers.py`` in a child process; its port is the first line it prints."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVERS), kind], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


async def ws_pass(port: int, pid: int, compression: str | None = None) -> PassResult:
    """One pass of every WebSocket workload; messages per second."""
    from websockets.asyncio.client import connect

    small = b"x" * 16
    big = os.urandom(2**20)
    uri = f"ws://127.0.0.1:{port}/"
    async with connect(uri, compression=compression, max_size=16 * 2**20, ping_interval=None) as ws:

        async def sequential() -> None:
            for _ in range(3000):
                await ws.send(small)
                await ws.recv()

        async def windowed() -> None:
            for _ in range(200):
                for _ in range(100):
                    await ws.send(small)
                for _ in range(100):
                    await ws.recv()

        async def large() -> None:
            for _ in range(50):
                await ws.send(big)
                await ws.recv()

        results = {
            name: count / await _timed(job)
            for name, job, count in (
                ("3,000 sequential 16 B round trips", sequential, 3000),
                ("20,000 16 B messages, windows of 100", windowed, 20000),
                ("50 round trips of 1 MiB", large, 50),
            )
        }
        with one_core(pid):
            results["the same sequential trips, client and server on one core"] = (
                3000 / await _timed(sequential)
            )
        return results


async def lines_pass(port: int, pid: int) -> PassResult:
    """One pass of every line workload with a blocking-socket client; lines per second.

    A blocking client costs the least CPU per line, so the server makes the difference.
    """
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    line = b"0123456789abcdefghijklmnopqrstu\n"  # 32 bytes

    def receive_exactly(size: int) -> None:
        view = memoryview(bytearray(size))
        while size:
            size -= sock.recv_into(view[-size:], size)

    def sequential() -> None:
        for _ in range(3000):
            sock.sendall(line)
            receive_exactly(32)

    def windowed() -> None:
        window = line * 1000
        for _ in range(100):
            sock.sendall(window)
            receive_exactly(len(window))

    results = {
        name: count / _timed_sync(job)
        for name, job, count in (
            ("3,000 sequential line round trips", sequential, 3000),
            ("100,000 lines of 32 B, windows of 1,000", windowed, 100_000),
        )
    }
    with one_core(pid):
        results["the same sequential trips, client and server on one core"] = 3000 / _timed_sync(
            sequential
        )
    sock.close()
    return results


async def _timed(job: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await job()
    return time.perf_counter() - start


def _timed_sync(job: Callable[[], None]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def best_of(
    kinds: Sequence[str], one_pass: Callable[[int, int], Awaitable[PassResult]]
) -> dict[str, PassResult]:
    """Run every server kind in its own process; alternate passes; keep each best rate."""
    children = {kind: Child(kind) for kind in kinds}
    best: dict[str, PassResult] = {kind: {} for kind in kinds}
    try:
        for _ in range(ROUNDS):
            for kind, child in children.items():
                for name, rate in asyncio.run(one_pass(child.port, child.process.pid)).items():
                    best[kind][name] = max(rate, best[kind].get(name, 0.0))
    finally:
        for child in children.values():
            child.stop()
    return best


def compare(
    title: str, unit: str, columns: dict[str, str], ours: str, measured: dict[str, Any]
) -> None:
    """Print one table: a rate column per server kind, then ``ours`` / each other kind."""
    others = [kind for kind in columns if kind != ours]
    rows = []
    for name, rate in measured[ours].items():
        rates = [human(measured[kind][name], unit) for kind in columns]
        ratios = [f"{rate / measured[kind][name]:.2f}x" for kind in others]
        rows.append([name, *rates, *ratios])
    headers = ["workload", *columns.values()]
    headers += [f"ours / {columns[kind]}" for kind in others]
    print_table(f"{title} (best of {ROUNDS} alternating passes)", headers, rows)
