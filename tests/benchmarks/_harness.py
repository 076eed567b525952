"""Tiny shared helpers for the benchmark scripts in this folder.

Each ``bench_*.py`` is a plain script (``python tests/benchmarks/bench_x.py``),
run by ``nox -s bench`` with every anchor installed in the same session. It
prints Markdown tables of rates and ratios and never fails on speed.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def best_time(
    fn: Callable[[], object],
    *,
    repeat: int = 5,
    min_time: float = 0.2,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The best time of one call of ``fn``, in seconds, over ``repeat`` rounds.

    Each round calls ``fn`` enough times to last about ``min_time`` seconds and
    averages; the best round is kept (the least disturbed by the machine).
    ``clock`` is wall time by default; ``time.process_time`` (this process's
    CPU time) suits work done in this process alone on a machine shared with
    other work, where wall time also counts the time others held the CPU.
    """
    fn()  # warm up caches and lazily built state
    start = clock()
    fn()
    once = max(clock() - start, 1e-9)
    loops = max(1, int(min_time / once))
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = clock()
        for _ in range(loops):
            fn()
        best = min(best, (clock() - start) / loops)
    return best


@contextlib.contextmanager
def one_core(*pids: int) -> Iterator[None]:
    """Run this process and the processes ``pids`` on one CPU for the block.

    Sequential round trips between two processes on different cores wait
    for cross-core wake-ups, whose latency on this shared machine swings by
    2x from run to run and is the same for every client measured: it drowns
    the difference. On one core a round trip costs the CPU work of both
    sides, which is what differs between clients. Where CPU affinity cannot
    be set, the block runs unpinned.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    saved = {pid: os.sched_getaffinity(pid) for pid in (0, *pids)}
    cpu = {max(saved[0])}
    try:
        for pid in saved:
            os.sched_setaffinity(pid, cpu)
        yield
    finally:
        for pid, cpus in saved.items():
            with contextlib.suppress(OSError):  # a server that has exited
                os.sched_setaffinity(pid, cpus)


def human(value: float, unit: str) -> str:
    """Format ``value`` with a k/M/G prefix: ``human(4.5e6, "lines/s") == "4.50 M lines/s"``."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.2f} {unit}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table with a heading."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def print_machine() -> None:
    """Print the interpreter and machine the figures come from."""
    print(f"Python {sys.version.split()[0]} on {platform.machine()} ({platform.platform()})")


def run_without_speedups(script: str, *args: str) -> Any:
    """Run ``script args`` in a child Python with ``TIDEWIRE_NO_SPEEDUPS=1``; its JSON output.

    A core picks its path once, at import: the pure-Python path of the same
    installation is measured in a process of its own, in the same run.
    """
    env = {**os.environ, "TIDEWIRE_NO_SPEEDUPS": "1"}
    result = subprocess.run(
        [sys.executable, script, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)
