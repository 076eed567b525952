"""Memory per compressed WebSocket connection: our asyncio echo server against websockets'.

Run: nox -s bench -- memory   (or python tests/benchmarks/bench_memory.py)

Each server runs in its own process: ours is docs/examples/websocket_echo.py's
handler on ``tidewire_asyncio.websocket.serve``, theirs ``websockets``' asyncio
server, both with permessage-deflate and their default settings. One client in
this process (``websockets``' own, the same for both) opens N connections that
stay open, each exchanging a few compressible messages, so that both sides of
every connection hold their compressor and decompressor. The server's resident
memory (``VmRSS``) is read before and with the N connections open; the growth
divided by N is the memory per connection, reported side by side with the
ratio. Issue 12, item 13: ours must be at most websockets'.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path

from _harness import print_machine, print_table

ROOT = Path(__file__).parents[2]
MESSAGES = 4  # echoed on every connection, each way compressed
TEXT = " ".join(f"event {i}: temperature={20 + i % 7}.5 status=ok" for i in range(60))


# -- the servers (each runs in a child process: ``--serve KIND``) ---------------------------


async def serve_tidewire() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    import websocket_echo

    from tidewire_asyncio.websocket import serve

    server = serve(websocket_echo.echo, "127.0.0.1", 0, compression="deflate", ping_interval=None)
    async with server:
        print(server.port, flush=True)
        await server.serve_forever()


async def serve_websockets() -> None:
    from websockets.asyncio.server import serve

    async def echo(ws) -> None:  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression="deflate", ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


SERVERS = {"tidewire": serve_tidewire, "websockets": serve_websockets}


def rss(pid: int) -> int:
    """The resident memory of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# -- the client -----------------------------------------------------------------------------


async def open_and_exchange(uri: str, count: int) -> list:  # type: ignore[type-arg]
    """Open ``count`` connections at once; each echoes MESSAGES messages; keep them open."""
    from websockets.asyncio.client import connect

    async def one(index: int):  # type: ignore[no-untyped-def]
        websocket = await connect(uri, compression="deflate", ping_interval=None)
        for round_ in range(MESSAGES):
            await websocket.send(f"{index}/{round_} {TEXT}")
            assert (await websocket.recv()).startswith(f"{index}/{round_} ")
        return websocket

    websockets = []
    for start in range(0, count, 100):  # in waves: the listen backlog is finite
        batch = range(start, min(count, start + 100))
        websockets += await asyncio.gather(*(one(index) for index in batch))
    return websockets


async def measure(kind: str, count: int) -> tuple[float, float]:
    """(RSS growth per connection in bytes, server RSS with every connection open)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        uri = f"ws://127.0.0.1:{int(process.stdout.readline())}/"
        # Warm up: the code paths of a compressed connection are loaded and
        # the allocator's arenas exist before the baseline is read.
        for websocket in await open_and_exchange(uri, 20):
            await websocket.close()
        await asyncio.sleep(0.5)
        before = rss(process.pid)
        websockets = await open_and_exchange(uri, count)
        await asyncio.sleep(0.5)  # the last echoes are written, the server idles
        during = rss(process.pid)
        await asyncio.gather(*(websocket.close() for websocket in websockets))
        return (during - before) / count, during
    finally:
        process.terminate()
        process.wait()


def raise_file_limit(count: int) -> None:
    """Let this process (and the servers it starts) hold the connections' sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = count + 200
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"ulimit -n allows {hard} files; {needed} are needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=SERVERS)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(SERVERS[args.serve]())
        return
    raise_file_limit(args.connections)
    print(f"# Memory per compressed WebSocket connection ({args.connections} open at once)\n")
    print_machine()
    results = {}
    for kind in SERVERS:
        started = time.perf_counter()
        results[kind] = asyncio.run(measure(kind, args.connections))
        print(f"{kind}: measured in {time.perf_counter() - started:.1f} s", flush=True)
    ours, theirs = results["tidewire"][0], results["websockets"][0]
    print_table(
        f"Server RSS growth per connection, {MESSAGES} compressed echoes each",
        ["server", "per connection", "RSS with all open", "vs websockets"],
        [
            [kind, f"{per / 1024:.1f} KiB", f"{total / 2**20:.1f} MiB", f"{per / theirs:.2f}x"]
            for kind, (per, total) in results.items()
        ],
    )
    print(f"\ntidewire / websockets: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
