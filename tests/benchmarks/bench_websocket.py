"""Benchmark: a WebSocket server parsing masked client frames, fed in 64 KiB chunks.

Compares tidewire-websocket with the sans-IO layers of websockets
(``ServerProtocol``, which masks with a C extension when it is built) and
wsproto (``wsproto.connection.Connection``), all in this process. Run with
``python tests/benchmarks/bench_websocket.py``; it never fails on speed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import best_time, human, print_machine, print_table

from tidewire_websocket import (
    AcceptConnection,
    BytesMessage,
    ClientConnection,
    Request,
    ServerConnection,
    TextMessage,
)

CHUNK = 64 * 1024
CASES = [  # (label, text?, payload size, messages per run)
    ("16 B text", True, 16, 20_000),
    ("4 KiB binary", False, 4096, 2_000),
    ("1 MiB binary", False, 1024 * 1024, 16),
]


def client_frames(text: bool, size: int, count: int) -> bytes:
    """What a client sends: ``count`` masked messages, produced by our own client."""
    client = ClientConnection(max_message_size=None, max_frame_size=None)
    server = ServerConnection()
    client.send(Request("bench"))
    server.receive_data(client.data_to_send())
    list(server.events())
    server.send(AcceptConnection())
    client.receive_data(server.data_to_send())
    list(client.events())
    message = TextMessage("x" * size) if text else BytesMessage(os.urandom(size))
    for _ in range(count):
        client.send(message)
    return client.data_to_send()


def chunks_of(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def ours(chunks: list[bytes], count: int) -> Callable[[], None]:
    server = ServerConnection(max_message_size=None, max_frame_size=None)
    client = ClientConnection()
    client.send(Request("bench"))
    server.receive_data(client.data_to_send())
    list(server.events())
    server.send(AcceptConnection())
    server.data_to_send()

    def run() -> None:
        seen = 0
        for chunk in chunks:
            server.receive_data(chunk)
            for _ in server.events():
                seen += 1
        assert seen == count, seen

    return run


def websockets_sansio(chunks: list[bytes], count: int) -> Callable[[], None] | None:
    try:
        from websockets.protocol import OPEN
        from websockets.server import ServerProtocol
    except ImportError:
        return None
    protocol = ServerProtocol(state=OPEN, max_size=None)

    def run() -> None:
        seen = 0
        for chunk in chunks:
            protocol.receive_data(chunk)
            seen += len(protocol.events_received())
        assert seen == count, seen

    return run


def wsproto_sansio(chunks: list[bytes], count: int) -> Callable[[], None] | None:
    try:
        from wsproto.connection import Connection, ConnectionType
        from wsproto.events import Message
    except ImportError:
        return None
    connection = Connection(ConnectionType.SERVER)

    def run() -> None:
        seen = 0
        for chunk in chunks:
            connection.receive_data(chunk)
            for event in connection.events():
                if isinstance(event, Message) and event.message_finished:
                    seen += 1
        assert seen == count, seen

    return run


def main() -> None:
    print("# tidewire-websocket: server parsing masked frames fed in 64 KiB chunks\n")
    print_machine()
    try:
        from websockets import speedups  # noqa: F401

        print("websockets masks with its C speedup.")
    except ImportError:
        print("websockets has no C speedup here.")
    rows = []
    for label, text, size, count in CASES:
        data = client_frames(text, size, count)
        chunks = chunks_of(data)
        rates = {}
        for name, make in (
            ("tidewire", ours),
            ("websockets", websockets_sansio),
            ("wsproto", wsproto_sansio),
        ):
            run = make(chunks, count)
            if run is None:
                continue
            seconds = best_time(run, repeat=5)
            rates[name] = count / seconds
        row: list[object] = [label]
        for name in ("tidewire", "websockets", "wsproto"):
            if name in rates:
                rate = rates[name]
                row.append(f"{human(rate, 'msg/s')} ({rate * size / 1e6:,.0f} MB/s)")
            else:
                row.append("not installed")
        for anchor in ("websockets", "wsproto"):
            row.append(f"{rates['tidewire'] / rates[anchor]:.2f}x" if anchor in rates else "-")
        rows.append(row)
    print_table(
        "Messages parsed per second (payload MB/s)",
        ["case", "tidewire", "websockets", "wsproto", "vs websockets", "vs wsproto"],
        rows,
    )


if __name__ == "__main__":
    main()
