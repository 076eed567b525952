"""tidewire-asyncio against the anchors: WebSocket echo servers and line echo servers.

Run: nox -s bench -- asyncio   (or python tests/benchmarks/bench_asyncio.py)

Each server runs in its own process (its own event loop and CPU), and one
client in this process drives every server through the same workloads, so
the only difference between two rows is the server.

- WebSocket: the ``websockets`` client against our echo server
  (docs/examples/websocket_echo.py) and against ``websockets``' own asyncio
  echo server; with and without permessage-deflate.
- Lines: one blocking-socket client against our line server, a bare asyncio
  Protocol that echoes lines with ``bytes.split`` (the floor: no limits, no
  events), a ``StreamReader.readline`` server and Twisted's
  ``LineOnlyReceiver`` (a callback protocol on Twisted's own reactor).

The sequential round trips run twice: as they come, and with the client
and the server on one core (``_harness.one_core``), where a round trip
costs both sides' CPU work rather than the machine's cross-core wake-up
latency, which swings 2x between runs here.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _harness import human, one_core, print_machine, print_table

ROOT = Path(__file__).parents[2]
ROUNDS = 5


# -- the servers (each runs in a child process: ``--serve KIND``) ---------------------------


async def serve_tidewire_ws() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    import websocket_echo

    from tidewire_asyncio.websocket import serve

    server = serve(
        websocket_echo.echo,
        "127.0.0.1",
        0,
        max_message_size=websocket_echo.MAX_MESSAGE_SIZE,
        ping_interval=None,
    )
    async with server:
        print(server.port, flush=True)
        await server.serve_forever()


async def serve_websockets_ws() -> None:
    from websockets.asyncio.server import serve

    async def echo(ws) -> None:  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, max_size=16 * 2**20, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


async def serve_tidewire_lines() -> None:
    from tidewire_asyncio import lines

    async def echo(stream) -> None:  # type: ignore[no-untyped-def]
        async for line in stream:
            await stream.send_line(line)

    async with lines.serve(echo, "127.0.0.1", 0, delimiter=b"\n") as server:
        print(server.port, flush=True)
        await server.serve_forever()


class SplitEcho(asyncio.Protocol):
    """The floor: split on b"\\n" and echo, no limits, no events, no backpressure."""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        if lines:
            self.transport.write(b"".join(line + b"\n" for line in lines))


async def serve_split_lines() -> None:
    server = await asyncio.get_running_loop().create_server(SplitEcho, "127.0.0.1", 0)
    async with server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


async def serve_readline_lines() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


def serve_twisted_lines() -> None:
    """Twisted's ``LineOnlyReceiver`` echo server, on its default reactor (not asyncio's)."""
    from twisted.internet import protocol, reactor
    from twisted.protocols.basic import LineOnlyReceiver

    class Echo(LineOnlyReceiver):
        delimiter = b"\n"
        MAX_LENGTH = 65536

        def lineReceived(self, line: bytes) -> None:
            self.sendLine(line)

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")  # type: ignore[attr-defined]
    print(port.getHost().port, flush=True)
    reactor.run()  # type: ignore[attr-defined]


SERVERS: dict[str, Callable[[], object]] = {
    "tidewire-ws": serve_tidewire_ws,
    "websockets-ws": serve_websockets_ws,
    "tidewire-lines": serve_tidewire_lines,
    "split-lines": serve_split_lines,
    "readline-lines": serve_readline_lines,
    "twisted-lines": serve_twisted_lines,
}


class Child:
    """A server in a child process; its port is the first line it prints."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


# -- the client workloads -----------------------------------------------------------------


async def ws_pass(port: int, pid: int, compression: str | None) -> dict[str, float]:
    """One pass of every WebSocket workload; returns messages per second."""
    from websockets.asyncio.client import connect

    small = b"x" * 16
    big = os.urandom(2**20)
    async with connect(
        f"ws://127.0.0.1:{port}/",
        compression=compression,
        max_size=16 * 2**20,
        ping_interval=None,
    ) as ws:

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
            name: count / await timed(job)
            for name, job, count in (
                ("3,000 sequential 16 B round trips", sequential, 3000),
                ("20,000 16 B messages, windows of 100", windowed, 20000),
                ("50 round trips of 1 MiB", large, 50),
            )
        }
        with one_core(pid):
            results["the same sequential trips, client and server on one core"] = (
                3000 / await timed(sequential)
            )
        return results


async def timed(job: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await job()
    return time.perf_counter() - start


async def lines_pass(port: int, pid: int) -> dict[str, float]:
    """One pass of every line workload with a blocking-socket client; returns lines per second.

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
        name: count / timed_sync(job)
        for name, job, count in (
            ("3,000 sequential line round trips", sequential, 3000),
            ("100,000 lines of 32 B, windows of 1,000", windowed, 100_000),
        )
    }
    with one_core(pid):
        results["the same sequential trips, client and server on one core"] = 3000 / timed_sync(
            sequential
        )
    sock.close()
    return results


def timed_sync(job: Callable[[], None]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def best_of(kinds: list[str], one_pass: Callable[[int, int], Awaitable[dict[str, float]]]) -> dict:
    """Run every server in its own process; alternate passes; keep each best rate.

    Alternating rounds spreads the noise of a shared machine over every server.
    """
    children = {kind: Child(kind) for kind in kinds}
    best: dict[str, dict[str, float]] = {kind: {} for kind in kinds}
    try:
        for _ in range(ROUNDS):
            for kind, child in children.items():
                for name, rate in asyncio.run(one_pass(child.port, child.process.pid)).items():
                    best[kind][name] = max(rate, best[kind].get(name, 0.0))
    finally:
        for child in children.values():
            child.__exit__()
    return best


def run_ws() -> None:
    for compression in (None, "deflate"):
        measured = best_of(
            ["tidewire-ws", "websockets-ws"], functools.partial(ws_pass, compression=compression)
        )
        rows = []
        for name, ours in measured["tidewire-ws"].items():
            theirs = measured["websockets-ws"][name]
            rows.append(
                [name, human(ours, "msg/s"), human(theirs, "msg/s"), f"{ours / theirs:.2f}x"]
            )
        print_table(
            f"WebSocket echo server, websockets client, compression {compression or 'off'}"
            f" (best of {ROUNDS} alternating passes)",
            ["workload", "tidewire-asyncio", "websockets server", "ours / websockets"],
            rows,
        )


def run_lines() -> None:
    kinds = ["tidewire-lines", "split-lines", "readline-lines", "twisted-lines"]
    measured = best_of(kinds, lines_pass)
    rows = []
    for name, ours in measured["tidewire-lines"].items():
        floor, readline, twisted = (measured[kind][name] for kind in kinds[1:])
        rows.append(
            [name, human(ours, "lines/s"), human(floor, "lines/s"), human(readline, "lines/s"),
             human(twisted, "lines/s"), f"{ours / floor:.2f}x", f"{ours / readline:.2f}x",
             f"{ours / twisted:.2f}x"]
        )  # fmt: skip
    print_table(
        f"Line echo server, blocking-socket client (best of {ROUNDS} alternating passes)",
        ["workload", "tidewire-asyncio", "bytes.split floor", "readline",
         "Twisted LineOnlyReceiver", "ours / floor", "ours / readline", "ours / Twisted"],
        rows,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=sorted(SERVERS))
    parser.add_argument("only", nargs="*", help="the tables to print: ws, lines (default both)")
    args = parser.parse_args()
    if args.serve:
        serve = SERVERS[args.serve]
        if inspect.iscoroutinefunction(serve):
            asyncio.run(serve())
        else:
            serve()  # Twisted runs its own reactor
        return
    print_machine()
    if not args.only or "ws" in args.only:
        run_ws()
    if not args.only or "lines" in args.only:
        run_lines()


if __name__ == "__main__":
    main()
