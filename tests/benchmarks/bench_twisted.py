"""tidewire-twisted against what Twisted users run today, and against tidewire-asyncio.

Run: nox -s bench -- twisted   (or python tests/benchmarks/bench_twisted.py [ws] [lines] [redis])

Same servers (``_servers.py``), client and workloads (``_echo.py``) as
bench_asyncio.py, every server on Twisted's default reactor:

- WebSocket: our echo server against autobahn-python's and
  ``twisted.web.websocket``'s (compression off on every side), and tidewire-asyncio.
- Lines: against ``LineOnlyReceiver`` and tidewire-asyncio; then, in this
  process, many lines arriving in one chunk, parsed by ``LineReceiver`` and
  by our line protocol, at two sizes: Twisted's cost per line grows with the
  chunk (#6357), ours does not.
- Redis (``_redis_clients.py``): against txredisapi, and tidewire-asyncio.
"""

from __future__ import annotations

import sys

from _echo import best_of, compare, lines_pass, ws_pass
from _harness import best_time, human, print_machine, print_table
from _redis_clients import compare_clients


def run_ws() -> None:
    columns = {
        "tidewire-twisted-ws": "tidewire-twisted",
        "autobahn-ws": "autobahn (Twisted)",
        "twisted-web-ws": "twisted.web.websocket",
        "tidewire-asyncio-ws": "tidewire-asyncio",
    }
    measured = best_of(list(columns), ws_pass)
    title = "WebSocket echo server on Twisted, websockets client, compression off"
    compare(title, "msg/s", columns, "tidewire-twisted-ws", measured)


def run_lines() -> None:
    columns = {
        "tidewire-twisted-lines": "tidewire-twisted LineStream",
        "tidewire-line-protocol-lines": "tidewire-twisted LineProtocol",
        "line-only-receiver-lines": "LineOnlyReceiver",
        "tidewire-asyncio-lines": "tidewire-asyncio",
    }
    measured = best_of(list(columns), lines_pass)
    compare("Line echo server on Twisted", "lines/s", columns, "tidewire-twisted-lines", measured)
    drop_in = {k: columns[k] for k in list(columns)[1:3]}
    compare(
        "Line echo server on Twisted, callbacks", "lines/s", drop_in,
        "tidewire-line-protocol-lines", measured,
    )  # fmt: skip


def _many_lines_in_one_chunk(count: int) -> tuple[float, float]:
    """Lines per second parsing ``count`` 32 B lines delivered in one chunk: theirs, ours."""
    from twisted.internet.testing import StringTransport
    from twisted.protocols.basic import LineReceiver

    from tidewire_twisted.lines import LineProtocol

    chunk = b"0123456789abcdefghijklmnopqrstu\n" * count

    class Theirs(LineReceiver):
        delimiter = b"\n"
        MAX_LENGTH = 64 * 1024

        def lineReceived(self, line: bytes) -> None:
            pass

    class Ours(LineProtocol):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            pass

    def feed(protocol_class: type) -> float:
        def once() -> None:
            protocol = protocol_class()
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(chunk)

        return count / best_time(once, repeat=3, min_time=0.2)

    return feed(Theirs), feed(Ours)


def run_quadratic() -> None:
    rows = []
    for count in (1_000, 30_000):
        theirs, ours = _many_lines_in_one_chunk(count)
        rows.append([f"{count:,} lines of 32 B in one chunk", human(ours, "lines/s"),
                     human(theirs, "lines/s"), f"{ours / theirs:.2f}x"])  # fmt: skip
    print_table(
        "Many lines in one chunk, parsed in this process",
        ["workload", "tidewire-twisted LineProtocol", "Twisted LineReceiver", "ours / Twisted"],
        rows,
    )


def run_redis() -> None:
    columns = {
        "tidewire-twisted": "tidewire-twisted",
        "txredisapi": "txredisapi",
        "tidewire-asyncio": "tidewire-asyncio",
    }
    compare_clients("Redis client on Twisted", columns, "tidewire-twisted")


def main(only: list[str]) -> None:
    print_machine()
    runs = (("ws", run_ws), ("lines", run_lines), ("lines", run_quadratic), ("redis", run_redis))
    for name, run in runs:
        if not only or name in only:
            run()


if __name__ == "__main__":
    main(sys.argv[1:])
