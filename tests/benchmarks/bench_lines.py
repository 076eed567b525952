"""tidewire-lines against Twisted's line receivers and asyncio's ``readline``, same run.

Run: nox -s bench -- lines   (or python tests/benchmarks/bench_lines.py)

Throughput: lines fed in 64 KiB chunks, every event drained. Every consumer
does the same trivial work per line (it counts it): Twisted's
``lineReceived`` callback, our ``next_event()`` loop, and a coroutine that
calls asyncio's ``StreamReader.readline()`` once per complete line fed.
Growth: each workload at two sizes, the second double the first; a time
ratio near 2 is linear, near 4 quadratic.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from functools import partial

from _harness import best_time, human, print_machine, print_table
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineOnlyReceiver, LineReceiver

from tidewire import NEED_DATA
from tidewire_lines import Line, LineConnection

CHUNK = 64 * 1024


def make_chunks(lines: int, length: int, chunk: int) -> tuple[list[bytes], list[int]]:
    """``lines`` lines of ``length`` bytes with CRLF, cut in ``chunk``-byte pieces.

    Also returns, for each piece, how many lines it completes (what a
    readline() caller would know from its own framing), computed before any
    timing starts.
    """
    body = b"x" * (length - 2) + b"\r\n"
    data = body * lines
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return chunks, [piece.count(b"\n") for piece in chunks]


# -- ours ----------------------------------------------------------------------


def count_events(
    connection: LineConnection, next_event: Callable[[], object], chunks: list[bytes], expected: int
) -> None:
    """Feed ``chunks``, calling ``next_event`` after each until NEED_DATA; check the count."""
    need_data = NEED_DATA
    count = 0
    for chunk in chunks:
        connection.receive_data(chunk)
        while next_event() is not need_data:
            count += 1
    assert count == expected


def tidewire_lines(chunks: list[bytes], expected: int, max_line: int) -> None:
    connection = LineConnection(max_line_length=max_line)
    count_events(connection, connection.next_event, chunks, expected)


def tidewire_lf(chunks: list[bytes], expected: int, max_line: int) -> None:
    """The same with LF as the delimiter (the CR stays in the line), as readline() splits."""
    connection = LineConnection(b"\n", max_line_length=max_line)
    count_events(connection, connection.next_event, chunks, expected)


def tidewire_no_wrapper(chunks: list[bytes], expected: int, max_line: int) -> None:
    """Diagnostic only: call the core's parsing hook directly, skipping the base's next_event()."""
    connection = LineConnection(max_line_length=max_line)
    count_events(connection, connection._next_event, chunks, expected)


def tidewire_fast(chunks: list[bytes], expected: int, max_line: int) -> None:
    """LineConnection.lines(): the same lines as bytes, with no event built per line."""
    connection = LineConnection(max_line_length=max_line)
    count = 0
    for chunk in chunks:
        connection.receive_data(chunk)
        for _ in connection.lines():
            count += 1
    assert count == expected


def tidewire_events(chunks: list[bytes], expected: int, max_line: int) -> None:
    connection = LineConnection(max_line_length=max_line)
    count = 0
    for chunk in chunks:
        connection.receive_data(chunk)
        for _ in connection.events():
            count += 1
    assert count == expected


# -- Twisted -------------------------------------------------------------------


class _Counting:
    count = 0

    def lineReceived(self, line: bytes) -> None:
        self.count += 1


class CountingLineOnly(_Counting, LineOnlyReceiver):
    pass


class CountingLine(_Counting, LineReceiver):
    pass


def twisted_receiver(
    cls: type[CountingLineOnly] | type[CountingLine],
) -> Callable[[list[bytes], int, int], None]:
    def run(chunks: list[bytes], expected: int, max_line: int) -> None:
        protocol = cls()
        protocol.MAX_LENGTH = max_line
        protocol.makeConnection(StringTransport())
        for chunk in chunks:
            protocol.dataReceived(chunk)
        assert protocol.count == expected

    return run


# -- asyncio -------------------------------------------------------------------


def asyncio_readline(
    chunks: list[bytes], counts: list[int], expected: int, max_line: int, *, crlf: bool = False
) -> None:
    async def read() -> int:
        reader = asyncio.StreamReader(limit=max_line + 2)
        readline = partial(reader.readuntil, b"\r\n") if crlf else reader.readline
        got = 0
        for chunk, complete in zip(chunks, counts, strict=True):
            reader.feed_data(chunk)
            for _ in range(complete):
                await readline()
                got += 1
        return got

    assert asyncio.run(read()) == expected


# -- the tables ------------------------------------------------------------------


def throughput() -> None:
    workloads = [
        ("200,000 lines of 40 B, 64 KiB chunks", 200_000, 40),
        ("2,000 lines of 10 KiB, 64 KiB chunks", 2_000, 10 * 1024),
    ]
    for title, lines, length in workloads:
        chunks, counts = make_chunks(lines, length, CHUNK)
        max_line = length
        args = (chunks, lines, max_line)
        variants: list[tuple[str, Callable[[], None]]] = [
            ("tidewire-lines, next_event() loop", partial(tidewire_lines, *args)),
            ("tidewire-lines, events() loop", partial(tidewire_events, *args)),
            ("tidewire-lines, lines() loop (bytes)", partial(tidewire_fast, *args)),
            ("tidewire-lines, LF delimiter", partial(tidewire_lf, *args)),
            ("Twisted LineOnlyReceiver", partial(twisted_receiver(CountingLineOnly), *args)),
            ("Twisted LineReceiver", partial(twisted_receiver(CountingLine), *args)),
            ("asyncio StreamReader.readline", partial(asyncio_readline, chunks, counts, *args[1:])),
            (
                "asyncio StreamReader.readuntil(CRLF)",
                partial(asyncio_readline, chunks, counts, *args[1:], crlf=True),
            ),
        ]
        # Interleaved passes, best of all: load from elsewhere on the machine
        # then disturbs every implementation alike.
        times = dict.fromkeys((name for name, _ in variants), float("inf"))
        for _ in range(3):
            for name, fn in variants:
                times[name] = min(times[name], best_time(fn, repeat=3))
        ours = times["tidewire-lines, next_event() loop"]
        rows = [
            (name, human(lines / t, "lines/s"), human(lines * length / t, "B/s"), f"{t / ours:.2f}")
            for name, t in times.items()
        ]
        print_table(
            f"{title} (last column: its time / ours; above 1 means we are faster)",
            ["implementation", "lines/s", "bytes/s", "time ratio"],
            rows,
        )


def sending() -> None:
    """Serialising lines: an event per line, send_line(), and Twisted's sendLine()."""
    lines = 200_000
    payloads = [b"x" * 38] * lines

    def events() -> None:
        connection = LineConnection()
        send = connection.send
        for payload in payloads:
            send(Line(payload))
        connection.data_to_send()

    def send_line() -> None:
        connection = LineConnection()
        send = connection.send_line
        for payload in payloads:
            send(payload)
        connection.data_to_send()

    def twisted() -> None:
        protocol = CountingLineOnly()
        protocol.makeConnection(StringTransport())
        send = protocol.sendLine
        for payload in payloads:
            send(payload)

    variants = {"tidewire-lines, send(Line(...))": events, "tidewire-lines, send_line()": send_line,
                "Twisted LineOnlyReceiver.sendLine()": twisted}  # fmt: skip
    times = dict.fromkeys(variants, float("inf"))
    for _ in range(3):
        for name, fn in variants.items():
            times[name] = min(times[name], best_time(fn, repeat=3))
    ours = times["tidewire-lines, send(Line(...))"]
    rows = [(name, human(lines / t, "lines/s"), f"{t / ours:.2f}") for name, t in times.items()]
    print_table(
        "Sending 200,000 lines of 38 B (last column: its time / send(Line(...))'s)",
        ["implementation", "lines/s", "time ratio"],
        rows,
    )


def per_event_cost() -> None:
    """Split our per-line cost into its parts."""
    lines = 200_000
    chunks, _ = make_chunks(lines, 40, CHUNK)
    payloads = [b"x" * 38] * lines

    def construct() -> None:
        pending = list(payloads)
        pop = pending.pop
        while pending:
            Line(pop())

    def loop_only() -> None:
        pending = list(payloads)
        pop = pending.pop
        while pending:
            pop()

    def ns(seconds: float) -> str:
        return f"{seconds / lines * 1e9:.0f} ns"

    total = best_time(partial(tidewire_lines, chunks, lines, 40))
    hook = best_time(partial(tidewire_no_wrapper, chunks, lines, 40))
    loop = best_time(loop_only)
    event = best_time(construct) - loop
    twisted = best_time(partial(twisted_receiver(CountingLineOnly), chunks, lines, 40))
    rows = [
        ("the whole next_event() loop", ns(total)),
        ("the same loop calling the core's _next_event() directly", ns(hook)),
        ("  => the base's next_event() wrapper", ns(total - hook)),
        ("building one Line (a tidewire.Event)", ns(event)),
        ("a bare Python loop popping a list", ns(loop)),
        ("  => the rest: splitting, the core's pop, receive_data", ns(hook - event - loop)),
        ("Twisted LineOnlyReceiver, everything, for comparison", ns(twisted)),
    ]
    print_table("Where the time goes, per line (200,000 lines of 40 B)", ["part", "time"], rows)


def growth() -> None:
    def long_line(fn: Callable[[list[bytes], int, int], None], size: int) -> None:
        data = b"x" * size + b"\r\n"
        fn([data[i : i + 100] for i in range(0, len(data), 100)], 1, size)

    def long_line_asyncio(size: int) -> None:
        data = b"x" * size + b"\r\n"
        chunks = [data[i : i + 100] for i in range(0, len(data), 100)]
        asyncio_readline(chunks, [0] * (len(chunks) - 1) + [1], 1, size)

    def many_lines(fn: Callable[[list[bytes], int, int], None], count: int) -> None:
        fn([b"0123456789abcdefghijklmnopqrstuvwxyz0123\r\n" * count], count, 100)

    def many_lines_asyncio(count: int) -> None:
        asyncio_readline([b"0123456789abcdefghijklmnopqrstuvwxyz0123\r\n" * count], [count],
                         count, 100)  # fmt: skip

    slow = {"repeat": 1, "min_time": 0.0}
    fast = {"repeat": 5, "min_time": 0.2}
    workloads: list[tuple[str, str, Callable[[int], None], tuple[int, int], dict[str, float]]] = [
        ("1 line of N bytes in 100 B chunks", "tidewire-lines",
         lambda n: long_line(tidewire_lines, n), (500_000, 1_000_000), fast),
        ("1 line of N bytes in 100 B chunks", "asyncio readline",
         long_line_asyncio, (500_000, 1_000_000), fast),
        ("1 line of N bytes in 100 B chunks", "Twisted LineOnlyReceiver",
         lambda n: long_line(twisted_receiver(CountingLineOnly), n), (125_000, 250_000), slow),
        ("1 line of N bytes in 100 B chunks", "Twisted LineReceiver",
         lambda n: long_line(twisted_receiver(CountingLine), n), (125_000, 250_000), slow),
        ("N lines of 42 B in one chunk", "tidewire-lines",
         lambda n: many_lines(tidewire_lines, n), (50_000, 100_000), fast),
        ("N lines of 42 B in one chunk", "asyncio readline",
         many_lines_asyncio, (50_000, 100_000), fast),
        ("N lines of 42 B in one chunk", "Twisted LineOnlyReceiver",
         lambda n: many_lines(twisted_receiver(CountingLineOnly), n), (50_000, 100_000), fast),
        ("N lines of 42 B in one chunk", "Twisted LineReceiver",
         lambda n: many_lines(twisted_receiver(CountingLine), n), (12_500, 25_000), slow),
    ]  # fmt: skip
    rows = []
    for workload, variant, fn, (small, large), settings in workloads:
        t_small = best_time(lambda: fn(small), **settings)  # noqa: B023 - called at once
        t_large = best_time(lambda: fn(large), **settings)  # noqa: B023
        rows.append(
            (workload, variant, f"{small:,}", f"{t_small * 1e3:.1f} ms", f"{large:,}",
             f"{t_large * 1e3:.1f} ms", f"{t_large / t_small:.2f}")
        )  # fmt: skip
    print_table(
        "Growth: time for N and 2N (ratio ~2 is linear, ~4 quadratic; the quadratic anchors"
        " run at smaller N so the script ends)",
        ["workload", "implementation", "N", "time", "2N", "time", "ratio"],
        rows,
    )


def main() -> None:
    print_machine()
    sections = {
        "throughput": throughput,
        "sending": sending,
        "cost": per_event_cost,
        "growth": growth,
    }
    chosen = sys.argv[1:] or list(sections)
    for name in chosen:
        sections[name]()


if __name__ == "__main__":
    main()
