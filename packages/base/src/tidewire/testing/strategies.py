"""Hypothesis strategies for the ways a stream can be cut into chunks."""

from __future__ import annotations

from hypothesis import strategies as st

from .feeding import split_at

__all__ = ["chunkings", "split_data"]


def chunkings(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Every way of cutting ``data`` into consecutive non-empty chunks."""
    if len(data) < 2:
        return st.just([data])
    return st.lists(st.integers(1, len(data) - 1), max_size=min(len(data) - 1, 64)).map(
        lambda cuts: split_at(data, cuts)
    )


_SOME_BYTES = st.binary(max_size=256)


def split_data(
    data: st.SearchStrategy[bytes] = _SOME_BYTES,
) -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    """Draw bytes from ``data`` (default: up to 256 random bytes) with one way of chunking them."""
    return data.flatmap(lambda drawn: chunkings(drawn).map(lambda chunks: (drawn, chunks)))
