"""Benchmark: tidewire-resp's reply parsing against hiredis and redis-py.

Every workload is a stream of replies fed in 64 KiB chunks, parsed to the
last reply. Anchors, in the same run: ``hiredis.Reader`` (C) and redis-py's
pure-Python ``_RESP3Parser`` reading from an in-memory fake socket (so its
figures include redis-py's ``SocketBuffer``, as when it reads a socket).
Ours: :class:`tidewire_resp.ReplyReader` (events, no request matching) and
:class:`tidewire_resp.ClientConnection` (each reply matched to a request;
the requests are queued before the clock starts).

Run: ``python tests/benchmarks/bench_resp.py`` (``nox -s bench``). Prints
Markdown tables; never fails on speed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _harness import best_time, human, print_machine, print_table

from tidewire import NEED_DATA
from tidewire_resp import ClientConnection, Reply, ReplyReader

CHUNK = 64 * 1024


def workloads() -> list[tuple[str, bytes, int, str]]:
    """(name, stream, number of replies, unit) for each workload."""
    ten = b"$10\r\n0123456789\r\n"
    hundred = b"x" * 100
    mib = b"y" * (1024 * 1024)
    return [
        ("50,000 `+OK`", b"+OK\r\n" * 50_000, 50_000, "replies"),
        ("50,000 integers", b":1234567\r\n" * 50_000, 50_000, "replies"),
        (
            "20,000 bulk strings of 100 B",
            (b"$100\r\n" + hundred + b"\r\n") * 20_000,
            20_000,
            "replies",
        ),
        ("1,000 arrays of 100 ten-byte bulks", (b"*100\r\n" + ten * 100) * 1_000, 1_000, "replies"),
        ("32 bulk strings of 1 MiB", (b"$1048576\r\n" + mib + b"\r\n") * 32, 32, "replies"),
    ]


def chunks_of(stream: bytes) -> list[bytes]:
    return [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]


def ours_reader(chunks: list[bytes], count: int) -> Callable[[], None]:
    def run() -> None:
        reader = ReplyReader()
        got = 0
        for chunk in chunks:
            reader.receive_data(chunk)
            next_event = reader.next_event
            while next_event() is not NEED_DATA:
                got += 1
        assert got == count, got

    return run


def ours_client(chunks: list[bytes], count: int) -> float:
    """Best time of ClientConnection receiving every reply, requests queued beforehand."""
    best = float("inf")
    for _ in range(5):
        client = ClientConnection()
        for _ in range(count):
            client.command("GET", "k")
        client.data_to_send()
        start = time.perf_counter()
        got = 0
        for chunk in chunks:
            client.receive_data(chunk)
            next_event = client.next_event
            while next_event() is not NEED_DATA:
                got += 1
        best = min(best, time.perf_counter() - start)
        assert got == count, got
    return best


def hiredis_reader(chunks: list[bytes], count: int) -> Callable[[], None]:
    import hiredis

    sentinel = object()

    def run() -> None:
        reader = hiredis.Reader(notEnoughData=sentinel)
        got = 0
        for chunk in chunks:
            reader.feed(chunk)
            gets = reader.gets
            while gets() is not sentinel:
                got += 1
        assert got == count, got

    return run


class _FakeSocket:
    """Serves pre-cut chunks to redis-py's SocketBuffer, like a socket would."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = iter(chunks)

    def recv(self, size: int) -> bytes:
        return next(self._chunks)

    def settimeout(self, timeout: object) -> None:
        pass


def redispy_parser(chunks: list[bytes], count: int) -> Callable[[], None]:
    from redis._parsers.encoders import Encoder
    from redis._parsers.resp3 import _RESP3Parser
    from redis._parsers.socket import SocketBuffer

    def run() -> None:
        parser = _RESP3Parser(CHUNK)
        parser._buffer = SocketBuffer(_FakeSocket(chunks), CHUNK, None)
        parser.encoder = Encoder("utf-8", "strict", False)
        for _ in range(count):
            parser.read_response()

    return run


def main() -> None:
    print("## tidewire-resp: reply parsing, 64 KiB chunks")
    print_machine()
    try:
        import hiredis
        import redis
    except ImportError as error:  # the anchors are optional: report, do not fail
        print(f"anchor missing ({error}); install tests/benchmarks/requirements-resp.txt")
        return
    print(f"hiredis {hiredis.__version__}, redis-py {redis.__version__}")
    rows = []
    for name, stream, count, _unit in workloads():
        chunks = chunks_of(stream)
        times = {
            "ReplyReader": best_time(ours_reader(chunks, count), repeat=5, min_time=0.2),
            "ClientConnection": ours_client(chunks, count),
            "hiredis": best_time(hiredis_reader(chunks, count), repeat=5, min_time=0.2),
            "redis-py": best_time(redispy_parser(chunks, count), repeat=5, min_time=0.2),
        }
        size = len(stream)

        def rate(seconds: float, count: int = count, size: int = size) -> str:
            return f"{human(count / seconds, 'replies/s')}, {human(size / seconds, 'B/s')}"

        rows.append(
            [
                name,
                rate(times["ReplyReader"]),
                rate(times["ClientConnection"]),
                rate(times["hiredis"]),
                rate(times["redis-py"]),
                f"{times['redis-py'] / times['ReplyReader']:.2f}x",
                f"{times['redis-py'] / times['ClientConnection']:.2f}x",
                f"{times['hiredis'] / times['ReplyReader']:.2f}x",
            ]
        )
    print_table(
        "Replies parsed (higher is better; ratios > 1 mean ours is faster)",
        [
            "workload",
            "ours: ReplyReader",
            "ours: ClientConnection",
            "hiredis.Reader",
            "redis-py _RESP3Parser",
            "ReplyReader vs redis-py",
            "ClientConnection vs redis-py",
            "ReplyReader vs hiredis",
        ],
        rows,
    )
    _where_time_goes()
    _per_event_cost()
    _colliding_keys()


def _colliding_keys() -> None:
    """A map whose big number keys all share one hash: time must grow linearly."""
    modulus = 2**61 - 1  # CPython hashes an int modulo this: every multiple hashes to 0
    rows = []
    times: dict[int, tuple[float, float]] = {}
    for count in (20_000, 40_000):
        body = b"".join(b"(%d\r\n:%d\r\n" % (modulus * (i + 1), i) for i in range(count))
        chunks = chunks_of(b"%%%d\r\n" % count + body)
        ours = best_time(ours_reader(chunks, 1), repeat=3, min_time=0.2)
        theirs = best_time(hiredis_reader(chunks, 1), repeat=3, min_time=0.2)
        times[count] = (ours, theirs)
        size = sum(map(len, chunks))
        rows.append(
            [
                f"map of {count:,} colliding big number keys ({human(size, 'B')})",
                f"{ours * 1e3:.1f} ms",
                f"{theirs * 1e3:.1f} ms",
                f"{theirs / ours:.2f}x",
            ]
        )
    rows.append(
        [
            "growth, 40k over 20k (2.00 is linear)",
            f"{times[40_000][0] / times[20_000][0]:.2f}",
            f"{times[40_000][1] / times[20_000][1]:.2f}",
            "",
        ]
    )
    print_table(
        "Colliding map keys (issue 12, item 3; lower is better)",
        ["workload", "ours: ReplyReader", "hiredis.Reader", "ours vs hiredis"],
        rows,
    )


def _per_event_cost() -> None:
    """Split the 50,000 ``+OK`` case: parsing vs building one event per reply."""
    stream = b"+OK\r\n" * 50_000
    chunks = chunks_of(stream)
    total = best_time(ours_reader(chunks, 50_000))

    def events_only() -> None:
        for _ in range(50_000):
            Reply(b"OK")

    def full_events_only() -> None:
        for request in range(50_000):
            Reply(b"OK", None, request)

    build = best_time(events_only)
    build_full = best_time(full_events_only)
    print_table(
        "Where time goes for 50,000 `+OK` (per reply)",
        ["part", "time per reply"],
        [
            ["ReplyReader, everything", f"{total / 50_000 * 1e9:.0f} ns"],
            ["building Reply(value) alone (base Event)", f"{build / 50_000 * 1e9:.0f} ns"],
            ["building Reply(value, None, id) alone", f"{build_full / 50_000 * 1e9:.0f} ns"],
        ],
    )


def _where_time_goes() -> None:
    """Split the 1 MiB case: base receive_data / read_all copies vs our parsing."""
    mib = b"y" * (1024 * 1024)
    stream = (b"$1048576\r\n" + mib + b"\r\n") * 32
    chunks = chunks_of(stream)
    from tidewire import ReceiveBuffer

    def buffer_only() -> None:
        buffer = ReceiveBuffer()
        for chunk in chunks:
            buffer.append(chunk)
            if len(buffer) >= 1024 * 1024 + 12:
                buffer.read_exactly(1024 * 1024 + 12)

    def memcpy_only() -> None:
        for _ in range(32):
            bytes(bytearray(mib))

    total = best_time(ours_reader(chunks, 32))
    base = best_time(buffer_only)
    copy = best_time(memcpy_only)
    print_table(
        "Where time goes for 32 bulk strings of 1 MiB",
        ["part", "time per MiB", "rate"],
        [
            [
                "ReplyReader, everything",
                f"{total / 32 * 1e6:.0f} µs",
                human(len(stream) / total, "B/s"),
            ],
            [
                "base ReceiveBuffer alone (append + read_exactly)",
                f"{base / 32 * 1e6:.0f} µs",
                human(len(stream) / base, "B/s"),
            ],
            [
                "two plain copies of 1 MiB (bytearray + bytes)",
                f"{copy / 32 * 1e6:.0f} µs",
                human(len(stream) / copy, "B/s"),
            ],
        ],
    )


if __name__ == "__main__":
    main()
