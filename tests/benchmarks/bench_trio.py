"""tidewire-trio against the trio libraries people use today, and against tidewire-asyncio.

Run: nox -s bench -- trio   (or python tests/benchmarks/bench_trio.py [ws] [lines] [redis])

Same servers (``_servers.py``), client and workloads (``_echo.py``) as
bench_asyncio.py, so every column of a table was measured in the same run:

- WebSocket: our trio echo server against ``websockets``' trio server,
  trio-websocket (no compression: both sides off) and tidewire-asyncio.
- Lines: against the ``receive_some`` + ``bytes.split`` loop trio users
  write today (trio has no readline), anyio's
  ``BufferedByteReceiveStream.receive_until`` on trio, and tidewire-asyncio.
- Redis (``_redis_clients.py``): against coredis on trio, and tidewire-asyncio.
"""

from __future__ import annotations

import sys

from _echo import best_of, compare, lines_pass, ws_pass
from _harness import print_machine
from _redis_clients import compare_clients


def run_ws() -> None:
    columns = {
        "tidewire-trio-ws": "tidewire-trio",
        "websockets-trio-ws": "websockets (trio)",
        "trio-websocket-ws": "trio-websocket",
        "tidewire-asyncio-ws": "tidewire-asyncio",
    }
    measured = best_of(list(columns), ws_pass)
    title = "WebSocket echo server on trio, websockets client, compression off"
    compare(title, "msg/s", columns, "tidewire-trio-ws", measured)


def run_lines() -> None:
    columns = {
        "tidewire-trio-lines": "tidewire-trio",
        "split-trio-lines": "receive_some + split",
        "receive-until-trio-lines": "anyio receive_until (trio)",
        "tidewire-asyncio-lines": "tidewire-asyncio",
    }
    measured = best_of(list(columns), lines_pass)
    compare("Line echo server on trio", "lines/s", columns, "tidewire-trio-lines", measured)


def run_redis() -> None:
    columns = {
        "tidewire-trio": "tidewire-trio",
        "coredis-trio": "coredis (trio)",
        "tidewire-asyncio": "tidewire-asyncio",
    }
    compare_clients("Redis client on trio", columns, "tidewire-trio")


def main(only: list[str]) -> None:
    print_machine()
    for name, run in (("ws", run_ws), ("lines", run_lines), ("redis", run_redis)):
        if not only or name in only:
            run()


if __name__ == "__main__":
    main(sys.argv[1:])
