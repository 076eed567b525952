"""tidewire-anyio on both backends against the native adapters, and coredis.

Run: nox -s bench -- anyio   (or python tests/benchmarks/bench_anyio.py [ws] [lines] [redis])

anyio adds a layer over the framework; this measures what it costs, with
the same servers (``_servers.py``), client and workloads (``_echo.py``) as
the other framework benchmarks: tidewire-anyio on asyncio beside
tidewire-asyncio, and on trio beside tidewire-trio; for lines also the
floor under any adapter built on anyio (anyio's own byte stream, ``split``
and one write a read, in one task); for Redis
(``_redis_clients.py``) also coredis, which is built on anyio, on each backend.
"""

from __future__ import annotations

import sys

from _echo import best_of, compare, lines_pass, ws_pass
from _harness import print_machine
from _redis_clients import compare_clients

BACKENDS = {"asyncio": "tidewire-asyncio", "trio": "tidewire-trio"}


def run_ws() -> None:
    for backend, native in BACKENDS.items():
        ours = f"tidewire-anyio-{backend}-ws"
        columns = {ours: f"tidewire-anyio ({backend})", f"{native}-ws": native}
        measured = best_of(list(columns), ws_pass)
        title = f"WebSocket echo server, anyio on {backend}, websockets client, compression off"
        compare(title, "msg/s", columns, ours, measured)


def run_lines() -> None:
    for backend, native in BACKENDS.items():
        ours = f"tidewire-anyio-{backend}-lines"
        columns = {ours: f"tidewire-anyio ({backend})", f"{native}-lines": native,
                   f"split-anyio-{backend}-lines": f"anyio stream + split ({backend})"}  # fmt: skip
        measured = best_of(list(columns), lines_pass)
        compare(f"Line echo server, anyio on {backend}", "lines/s", columns, ours, measured)


def run_redis() -> None:
    for backend, native in BACKENDS.items():
        ours = f"tidewire-anyio-{backend}"
        columns = {ours: f"tidewire-anyio ({backend})", native: native,
                   f"coredis-{backend}": f"coredis ({backend})"}  # fmt: skip
        compare_clients(f"Redis client, anyio on {backend}", columns, ours)


def main(only: list[str]) -> None:
    print_machine()
    for name, run in (("ws", run_ws), ("lines", run_lines), ("redis", run_redis)):
        if not only or name in only:
            run()


if __name__ == "__main__":
    main(sys.argv[1:])
