"""Benchmark: a WebSocket server parsing masked client frames, fed in 64 KiB chunks.

Compares tidewire-websocket, with its C accelerator (``tidewire-speedups``)
and without it (the same code under ``TIDEWIRE_NO_SPEEDUPS=1``, measured in a
child process started by this run), with the sans-IO layers of websockets
(``ServerProtocol``, which masks with a C extension when it is built) and
wsproto (``wsproto.connection.Connection``). Run with
``python tests/benchmarks/bench_websocket.py``; it never fails on speed.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import best_time, human, print_machine, print_table, run_without_speedups

from tidewire_websocket import (
    AcceptConnection,
    BytesMessage,
    ClientConnection,
    PerMessageDeflate,
    Request,
    ServerConnection,
    TextMessage,
)
from tidewire_websocket.frames import SPEEDUPS_ACTIVE

CHUNK = 64 * 1024
# All the work is in this process: its CPU time is what differs between the
# parsers, and unlike wall time it ignores the time other work held the CPU.
CPU = time.process_time
CASES = [  # (label, text?, payload size, messages per run, compressed?)
    ("16 B text", True, 16, 20_000, False),
    ("4 KiB binary", False, 4096, 2_000, False),
    ("1 MiB binary", False, 1024 * 1024, 16, False),
    ("4 KiB text, deflate", True, 4096, 2_000, True),
]
# The compressed text: words drawn from a small vocabulary, different in
# every message (compressing the same text again would cost almost nothing).
WORDS = ["the", "a", "websocket", "frame", "message", "server", "client", "deflate", "text", "of"]


def handshake(server: ServerConnection, client: ClientConnection, compressed: bool) -> None:
    offers = (PerMessageDeflate(),) if compressed else ()
    client.send(Request("bench", extensions=offers))
    server.receive_data(client.data_to_send())
    list(server.events())
    server.send(AcceptConnection(extensions=offers))
    client.receive_data(server.data_to_send())
    list(client.events())


def messages(text: bool, size: int, count: int, compressed: bool) -> list[object]:
    if not compressed:
        return [TextMessage("x" * size) if text else BytesMessage(os.urandom(size))] * count
    rng = random.Random(16)
    found = []
    for _ in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(size // 4))
        found.append(TextMessage(words[:size].ljust(size)))
    return found


def client_frames(text: bool, size: int, count: int, compressed: bool) -> bytes:
    """What a client sends: ``count`` masked messages, produced by our own client."""
    client = ClientConnection(max_message_size=None, max_frame_size=None)
    handshake(ServerConnection(), client, compressed)
    for message in messages(text, size, count, compressed):
        client.send(message)  # type: ignore[arg-type]
    return client.data_to_send()


def chunks_of(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def ours(chunks: list[bytes], count: int, compressed: bool) -> Callable[[], None]:
    def fresh() -> ServerConnection:
        server = ServerConnection(max_message_size=None, max_frame_size=None)
        handshake(server, ClientConnection(), compressed)
        server.data_to_send()
        return server

    reused = fresh()

    def run() -> None:
        # A compressed stream's context goes on from message to message: start afresh.
        server = fresh() if compressed else reused
        seen = 0
        for chunk in chunks:
            server.receive_data(chunk)
            for _ in server.events():
                seen += 1
        assert seen == count, seen

    return run


def websockets_sansio(chunks: list[bytes], count: int, compressed: bool) -> Callable[[], None]:
    from websockets.extensions.permessage_deflate import PerMessageDeflate as Deflate
    from websockets.protocol import OPEN
    from websockets.server import ServerProtocol

    def fresh() -> ServerProtocol:
        protocol = ServerProtocol(state=OPEN, max_size=None)
        if compressed:  # what our client and server agreed: 12-bit windows, context kept
            protocol.extensions = [Deflate(False, False, 12, 12)]
        return protocol

    reused = fresh()

    def run() -> None:
        protocol = fresh() if compressed else reused
        seen = 0
        for chunk in chunks:
            protocol.receive_data(chunk)
            seen += len(protocol.events_received())
        assert seen == count, seen

    return run


def wsproto_sansio(chunks: list[bytes], count: int, compressed: bool) -> Callable[[], None]:
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import Message
    from wsproto.extensions import PerMessageDeflate as Deflate

    def fresh() -> Connection:
        extensions = []
        if compressed:
            extension = Deflate()
            extension.accept("permessage-deflate; client_max_window_bits=12")
            extensions.append(extension)
        return Connection(ConnectionType.SERVER, extensions=extensions)

    reused = fresh()

    def run() -> None:
        connection = fresh() if compressed else reused
        seen = 0
        for chunk in chunks:
            connection.receive_data(chunk)
            for event in connection.events():
                if isinstance(event, Message) and event.message_finished:
                    seen += 1
        assert seen == count, seen

    return run


PARSERS = {"tidewire": ours, "websockets": websockets_sansio, "wsproto": wsproto_sansio}
ROUNDS = 5


def measure() -> dict[str, dict[str, float]]:
    """Messages per second of each parser for each case, on the path this process runs.

    The parsers take turns, round after round, and each keeps its best
    round: a burst of other work on the machine then slows them all, not one.
    """
    rates: dict[str, dict[str, float]] = {}
    for label, text, size, count, compressed in CASES:
        chunks = chunks_of(client_frames(text, size, count, compressed))
        runs = {name: make(chunks, count, compressed) for name, make in PARSERS.items()}
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(ROUNDS):
            for name, run in runs.items():
                best[name] = min(best[name], best_time(run, repeat=1, min_time=0.1, clock=CPU))
        rates[label] = {name: count / seconds for name, seconds in best.items()}
    return rates


def main() -> None:
    if sys.argv[1:] == ["--json"]:  # the child that measures the pure-Python path
        print(json.dumps({"speedups": SPEEDUPS_ACTIVE, "rates": measure()}))
        return
    print("# tidewire-websocket: server parsing masked frames fed in 64 KiB chunks\n")
    print_machine()
    try:
        from websockets import speedups  # noqa: F401

        print("websockets masks with its C speedup.")
    except ImportError:
        print("websockets has no C speedup here.")
    if not SPEEDUPS_ACTIVE:
        print("tidewire-speedups is not installed (or disabled): the C columns are empty.")
    # Each path is measured in its own process, with the anchors, and each
    # ratio comes from one process: the C path here, the pure path in a child.
    active = measure()
    with_c = active if SPEEDUPS_ACTIVE else {}
    pure = run_without_speedups(__file__, "--json")["rates"] if SPEEDUPS_ACTIVE else active
    rows = []
    for label, _, size, _, _ in CASES:
        row: list[object] = [label]
        for rates, name in ((with_c, "tidewire"), (pure, "tidewire")):
            rate = rates[label][name] if rates else None
            row.append(f"{human(rate, 'msg/s')} ({rate * size / 1e6:,.0f} MB/s)" if rate else "-")
        for name in ("websockets", "wsproto"):
            rate = active[label][name]
            row.append(f"{human(rate, 'msg/s')} ({rate * size / 1e6:,.0f} MB/s)")
        for rates in (with_c, pure):
            for anchor in ("websockets", "wsproto"):
                ratio = rates[label]["tidewire"] / rates[label][anchor] if rates else None
                row.append(f"{ratio:.2f}x" if ratio else "-")
        rows.append(row)
    print_table(
        "Messages parsed per second (payload MB/s); C: with tidewire-speedups, pure: without",
        ["case", "tidewire C", "tidewire pure", "websockets", "wsproto",
         "C vs websockets", "C vs wsproto", "pure vs websockets", "pure vs wsproto"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
