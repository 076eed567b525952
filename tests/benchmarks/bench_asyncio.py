"""tidewire-asyncio against the anchors: WebSocket echo servers and line echo servers.

Run: nox -s bench -- asyncio   (or python tests/benchmarks/bench_asyncio.py [ws] [lines])

The servers (``_servers.py``) and the client workloads (``_echo.py``) are
the ones every framework benchmark uses:

- WebSocket: our echo server (docs/examples/websocket_echo.py) against
  ``websockets``' own asyncio echo server, with and without permessage-deflate.
- Lines: our line server against a bare asyncio Protocol that echoes lines
  with ``bytes.split`` (the floor: no limits, no events), a
  ``StreamReader.readline`` server and Twisted's ``LineOnlyReceiver`` (a
  callback protocol on Twisted's own reactor).
"""

from __future__ import annotations

import functools
import sys

from _echo import best_of, compare, lines_pass, ws_pass
from _harness import print_machine


def run_ws() -> None:
    columns = {"tidewire-asyncio-ws": "tidewire-asyncio", "websockets-asyncio-ws": "websockets"}
    for compression in (None, "deflate"):
        measured = best_of(list(columns), functools.partial(ws_pass, compression=compression))
        title = f"WebSocket echo server, websockets client, compression {compression or 'off'}"
        compare(title, "msg/s", columns, "tidewire-asyncio-ws", measured)


def run_lines() -> None:
    columns = {
        "tidewire-asyncio-lines": "tidewire-asyncio",
        "split-asyncio-lines": "bytes.split floor",
        "readline-asyncio-lines": "readline",
        "line-only-receiver-lines": "Twisted LineOnlyReceiver",
    }
    measured = best_of(list(columns), lines_pass)
    title = "Line echo server, blocking-socket client"
    compare(title, "lines/s", columns, "tidewire-asyncio-lines", measured)


def main(only: list[str]) -> None:
    print_machine()
    if not only or "ws" in only:
        run_ws()
    if not only or "lines" in only:
        run_lines()


if __name__ == "__main__":
    main(sys.argv[1:])
