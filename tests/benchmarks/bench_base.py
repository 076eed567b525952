"""The receive buffer grows linearly: one long line in small chunks, many lines in one chunk.

Run: nox -s bench -- base   (or python tests/benchmarks/bench_base.py)

Each workload runs at two sizes, the second double the first; linear growth
shows as a time ratio near 2 (a quadratic buffer gives about 4). For contrast,
the same workloads run on two naive buffers of the kind the anchors document
(rescanning from the start; consuming with ``buf = buf[n:]`` copies).
"""

from __future__ import annotations

from _harness import best_time, print_machine, print_table

from tidewire import ReceiveBuffer


def long_line_tidewire(size: int) -> None:
    buffer = ReceiveBuffer()
    chunk = b"x" * 100
    for _ in range(size // 100):
        buffer.append(chunk)
        assert buffer.read_until(b"\r\n", max_length=size) is None
    buffer.append(b"\r\n")
    assert buffer.read_until(b"\r\n", max_length=size) is not None


def long_line_rescan(size: int) -> None:
    buffer = bytearray()
    chunk = b"x" * 100
    for _ in range(size // 100):
        buffer += chunk
        assert buffer.find(b"\r\n") < 0  # searches from the start every time
    buffer += b"\r\n"
    assert buffer.find(b"\r\n") == size


_LINES: dict[int, bytes] = {}


def lines_of(count: int) -> bytes:
    """The input, built once per size so that building it is not timed."""
    if count not in _LINES:
        _LINES[count] = b"0123456789abcdefghijklmnopqrstuvwxyz0123\r\n" * count
    return _LINES[count]


def many_lines_tidewire(count: int) -> None:
    buffer = ReceiveBuffer()
    buffer.append(lines_of(count))
    got = 0
    while buffer.read_until(b"\r\n", max_length=100) is not None:
        got += 1
    assert got == count


def many_lines_bulk(count: int) -> None:
    buffer = ReceiveBuffer()
    buffer.append(lines_of(count))
    assert len(buffer.read_lines(b"\r\n", max_length=100)) == count


def many_lines_slicing(count: int) -> None:
    buffer = lines_of(count)
    got = 0
    while (index := buffer.find(b"\r\n")) >= 0:
        buffer = buffer[index + 2 :]  # copies the rest of the buffer per line
        got += 1
    assert got == count


def main() -> None:
    print_machine()
    rows = []
    workloads = [
        ("1 line of N bytes in 100 B chunks", "tidewire read_until", long_line_tidewire,
         (500_000, 1_000_000)),
        ("1 line of N bytes in 100 B chunks", "naive rescan", long_line_rescan,
         (500_000, 1_000_000)),
        ("N lines of 42 B in one chunk", "tidewire read_until", many_lines_tidewire,
         (100_000, 200_000)),
        ("N lines of 42 B in one chunk", "tidewire read_lines", many_lines_bulk,
         (100_000, 200_000)),
        ("N lines of 42 B in one chunk", "naive bytes slicing", many_lines_slicing,
         (100_000, 200_000)),
    ]  # fmt: skip
    for workload, variant, fn, (small, large) in workloads:
        quick = "naive" in variant
        settings = {"repeat": 1, "min_time": 0} if quick else {"repeat": 5, "min_time": 0.2}
        t_small = best_time(lambda fn=fn, n=small: fn(n), **settings)
        t_large = best_time(lambda fn=fn, n=large: fn(n), **settings)
        rows.append(
            (workload, variant, f"{small:,}", f"{t_small * 1e3:.1f} ms", f"{large:,}",
             f"{t_large * 1e3:.1f} ms", f"{t_large / t_small:.2f}")
        )  # fmt: skip
    print_table(
        "ReceiveBuffer: linear growth (time ratio for 2x the input; ~2 is linear, ~4 quadratic)",
        ["workload", "implementation", "N", "time", "2N", "time", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
