"""Feed the same bytes to a connection in different splits and compare what comes out."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..connection import Connection
from ..errors import RemoteProtocolError
from ..events import NEED_DATA, ConnectionClosed, Event

__all__ = [
    "ConnectionFactory",
    "Outcome",
    "assert_split_invariant",
    "bytewise",
    "drain",
    "random_splits",
    "run",
    "split_at",
]

ConnectionFactory = Callable[[], Connection[Any, Any]]
"""A callable returning a fresh connection, ready to receive."""

_MAX_EVENTS_PER_BYTE = 16


class Outcome:
    """What a connection made of some input: its events and the error that ended it, if any.

    Two outcomes are equal when their events are equal and their errors are
    of the same class with the same ``code`` and ``offset`` (messages may
    word the same fault differently, but it is at one place in the stream
    however the input was split).
    """

    __slots__ = ("error", "events")

    def __init__(self, events: list[Event], error: RemoteProtocolError | None) -> None:
        self.events = events
        self.error = error

    def _key(self) -> tuple[list[Event], object]:
        error = self.error
        key = None if error is None else (type(error), error.code, error.offset)
        return self.events, key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Outcome(events={self.events!r}, error={self.error!r})"


def drain(
    connection: Connection[Any, Any], limit: int, into: list[Event] | None = None
) -> list[Event]:
    """Call ``next_event()`` until ``NEED_DATA`` or the closing event; return the events.

    Events are appended to ``into`` if given (and it is returned), so the
    events before a :class:`~tidewire.RemoteProtocolError` are kept there.
    ``limit`` bounds the number of calls, so a core that never stops producing
    events fails with :class:`AssertionError` instead of hanging the test.
    """
    events: list[Event] = [] if into is None else into
    for _ in range(limit):
        event = connection.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events
    raise AssertionError(f"next_event() produced more than {limit} events without stopping")


def run(
    factory: ConnectionFactory | Connection[Any, Any],
    chunks: Iterable[bytes],
    *,
    eof: bool = False,
) -> Outcome:
    """Feed ``chunks`` one by one, draining events after each, then end of file if ``eof``.

    Any exception other than :class:`~tidewire.RemoteProtocolError` propagates:
    it is a bug in the core.
    """
    connection = factory() if callable(factory) else factory
    events: list[Event] = []
    fed = 0
    try:
        for chunk in chunks:
            fed += len(chunk)
            connection.receive_data(chunk)
            drain(connection, _MAX_EVENTS_PER_BYTE * (len(chunk) + 1), events)
        if eof:
            connection.receive_eof()
            drain(connection, _MAX_EVENTS_PER_BYTE * (fed + 1), events)
    except RemoteProtocolError as error:
        return Outcome(events, error)
    return Outcome(events, None)


def bytewise(data: bytes) -> list[bytes]:
    """Split ``data`` into one-byte chunks."""
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (any order, duplicates and out-of-range ignored)."""
    points = sorted({cut for cut in cuts if 0 < cut < len(data)})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def random_splits(data: bytes, seed: int, *, max_chunks: int = 32) -> list[bytes]:
    """Split ``data`` at up to ``max_chunks - 1`` random offsets, reproducibly for ``seed``."""
    rng = random.Random(seed)
    if len(data) < 2:
        return [data]
    count = rng.randint(1, min(max_chunks, len(data)) - 1)
    return split_at(data, rng.sample(range(1, len(data)), count))


def assert_split_invariant(
    factory: ConnectionFactory,
    data: bytes,
    *,
    eof: bool = False,
    splits: Sequence[Sequence[bytes]] = (),
    seeds: Iterable[int] = range(8),
    normalize: Callable[[list[Event]], list[Event]] | None = None,
) -> Outcome:
    """Assert that ``data`` gives the same outcome however it is split.

    It is fed whole, one byte at a time, at random offsets for each of
    ``seeds``, and in each of the given ``splits`` (which must join to
    ``data``); every run must give equal events and an equal error. A core
    whose events legitimately depend on chunking (streamed payload pieces)
    passes ``normalize`` to merge them before comparing.

    Returns:
        The outcome of the whole feed.
    """
    fix = normalize or (lambda events: events)
    whole = run(factory, [data], eof=eof)
    expected = Outcome(fix(whole.events), whole.error)
    trials: list[tuple[str, Sequence[bytes]]] = [("byte by byte", bytewise(data))]
    trials += [(f"random split, seed {seed}", random_splits(data, seed)) for seed in seeds]
    trials += [(f"given split {i}", chunks) for i, chunks in enumerate(splits)]
    for name, chunks in trials:
        if b"".join(chunks) != data:
            raise ValueError(f"{name} does not join to the data")
        got = run(factory, chunks, eof=eof)
        got = Outcome(fix(got.events), got.error)
        if got != expected:
            raise AssertionError(
                f"fed {name} ({len(chunks)} chunks):\n  got      {got!r}\n"
                f"  expected {expected!r} (fed whole)"
            )
    return whole
