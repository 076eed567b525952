"""tidewire_speedups: the C masking primitives against the pure-Python reference.

The reference is ``tidewire_websocket.frames.pure_unmask``; ``slow_mask`` is
the definition of RFC 6455 section 5.3, byte by byte, for the small cases.
"""

from __future__ import annotations

import array
import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire_speedups import xor_mask, xor_mask_inplace
from tidewire_websocket.frames import pure_unmask

BIG = 200_000  # well past 64 KiB: every bulk step and the GIL-free path


def slow_mask(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


sizes = st.one_of(st.integers(0, 300), st.integers(0, 4096), st.integers(0, BIG))


@given(
    size=sizes,
    seed=st.integers(0, 2**32),
    align=st.integers(0, 15),
    offset=st.integers(-9, 9),
    trim=st.integers(0, 40),
)
def test_differential_identical_bytes_every_size_alignment_and_key_offset(
    size, seed, align, offset, trim
):
    """C and pure Python agree for every size, alignment of the data and offset of the key."""
    rng = random.Random(seed)
    payload = rng.randbytes(size)
    key = rng.randbytes(4)
    # The payload starts ``align`` bytes into its buffer; a view of it is unaligned too.
    backing = bytearray(rng.randbytes(align) + payload + rng.randbytes(trim))
    start, end = align, align + size
    expected = pure_unmask(backing, key, start, end, offset)
    assert xor_mask(backing, key, start, end, offset) == expected
    view = memoryview(backing)[align : align + size]
    assert xor_mask(view, key, offset=offset) == expected
    assert xor_mask(bytes(view), memoryview(key), offset=offset) == expected
    assert pure_unmask(expected, key, 0, None, offset) == payload  # its own inverse
    xor_mask_inplace(view, key, offset=offset)
    assert view == expected
    assert backing[:align] + backing[end:] == bytearray(backing[:start]) + backing[end:]
    xor_mask_inplace(backing, bytearray(key), start, end, offset)
    assert backing[start:end] == payload


@given(st.binary(max_size=100), st.binary(min_size=4, max_size=4), st.integers(0, 7))
def test_small_payloads_match_the_definition(data, key, offset):
    assert xor_mask(data, key, offset=offset) == slow_mask(data, key, offset)
    buffer = bytearray(data)
    xor_mask_inplace(buffer, key, offset=offset)
    assert buffer == slow_mask(data, key, offset)


@given(
    size=st.integers(0, 70),
    start=st.one_of(st.none(), st.integers(-100, 100)),
    end=st.one_of(st.none(), st.integers(-100, 100)),
)
def test_start_and_end_resolve_as_a_slice_does(size, start, end):
    data, key = bytes(range(size)), b"\x01\x02\x03\x04"
    assert xor_mask(data, key, start, end) == slow_mask(data[start:end], key)
    if start is not None:
        assert pure_unmask(data, key, start, end) == slow_mask(data[start:end], key)
    buffer = bytearray(data)
    xor_mask_inplace(buffer, key, start=start, end=end)
    assert buffer[start:end] == slow_mask(data[start:end], key)
    resolved = slice(start, end).indices(size)
    untouched = data[: resolved[0]] + data[max(resolved[0], resolved[1]) :]
    assert buffer[: resolved[0]] + buffer[max(resolved[0], resolved[1]) :] == untouched


def test_any_contiguous_buffer_is_seen_as_its_bytes():
    ints = array.array("I", [1, 2, 3])
    key = b"\xff\x00\xff\x00"
    expected = slow_mask(ints.tobytes(), key)
    assert xor_mask(ints, key) == expected
    assert pure_unmask(memoryview(ints), key) == expected
    xor_mask_inplace(ints, key)
    assert ints.tobytes() == expected
    grid = memoryview(bytearray(range(12))).cast("B", (3, 4))
    assert xor_mask(grid, key) == slow_mask(bytes(range(12)), key)


@pytest.mark.parametrize(
    "data",
    [
        memoryview(bytes(range(10)))[::2],  # strided
        memoryview(bytearray(range(12)))[::-1],  # backwards
    ],
)
def test_non_contiguous_views_are_refused_by_both_paths(data):
    key = b"abcd"
    for unmask in (xor_mask, pure_unmask):
        with pytest.raises(TypeError, match="data must be a C-contiguous buffer"):
            unmask(data, key)
        with pytest.raises(TypeError, match="key must be a C-contiguous buffer"):
            unmask(b"abc", memoryview(b"aabbccdd")[::2])
    with pytest.raises(TypeError, match="C-contiguous"):
        xor_mask_inplace(memoryview(bytearray(10))[::2], key)


@pytest.mark.parametrize("size", [0, 1, 3, 5, 8])
def test_a_key_not_4_bytes_long_is_refused_by_both_paths(size):
    for unmask in (xor_mask, pure_unmask):
        with pytest.raises(ValueError, match=f"key must be 4 bytes long, not {size}"):
            unmask(b"payload", bytes(size))
    with pytest.raises(ValueError, match="4 bytes long"):
        xor_mask_inplace(bytearray(b"payload"), bytes(size))


@pytest.mark.parametrize("data", ["text", 1234, None, [1, 2, 3]])
def test_what_is_not_a_buffer_is_refused_by_both_paths(data):
    for unmask in (xor_mask, pure_unmask):
        with pytest.raises(TypeError):
            unmask(data, b"abcd")
        with pytest.raises(TypeError):
            unmask(b"abcd", data)
    with pytest.raises(TypeError):
        xor_mask_inplace(data, b"abcd")


@pytest.mark.parametrize(
    "data", [b"read-only", memoryview(b"read-only"), memoryview(bytearray(3)).toreadonly()]
)
def test_in_place_needs_a_writable_buffer(data):
    with pytest.raises(TypeError, match="data must be a writable buffer"):
        xor_mask_inplace(data, b"abcd")


def test_arguments_are_checked_like_a_python_function():
    with pytest.raises(TypeError, match="from 2 to 5 positional arguments"):
        xor_mask(b"x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="from 2 to 5 positional arguments"):
        xor_mask(b"x", b"abcd", 0, None, 0, 0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'stop'"):
        xor_mask(b"x", b"abcd", stop=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'start'"):
        xor_mask_inplace(bytearray(b"x"), b"abcd", 0, start=1)  # type: ignore[misc]
    with pytest.raises(TypeError, match="offset must be an integer, not None"):
        xor_mask(b"x", b"abcd", offset=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        xor_mask(b"x", b"abcd", "1")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        xor_mask(b"x", b"abcd", end=2**64)
    with pytest.raises(OverflowError):
        xor_mask(b"x", b"abcd", offset=-(2**64))
    assert xor_mask(b"xy", b"abcd", offset=2**62 + 1) == slow_mask(b"xy", b"abcd", 1)


class Index:
    """An index whose ``__index__`` runs code: it may fail, or try to resize the buffer."""

    def __init__(self, action) -> None:
        self.action = action

    def __index__(self) -> int:
        return self.action()


def test_buffers_are_released_on_every_path():
    """After success or any error, the caller's bytearray can be resized again."""
    key = b"abcd"
    buffer = bytearray(b"0123456789")
    view = memoryview(buffer)

    def fail() -> int:
        raise RuntimeError("index failed")

    attempts = [
        lambda: xor_mask(buffer, key),
        lambda: xor_mask_inplace(buffer, key),
        lambda: xor_mask(view, key, 2, 5),
        lambda: xor_mask(buffer, b"abc"),  # bad key, after nothing was taken
        lambda: xor_mask(buffer, key, end=Index(fail)),  # fails while the buffer is held
        lambda: xor_mask_inplace(buffer, key, end=Index(fail)),
        lambda: xor_mask_inplace(memoryview(buffer)[::2], key),
        lambda: xor_mask_inplace(view.toreadonly(), key),
    ]
    for attempt in attempts:
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            attempt()
    view.release()  # raises BufferError if an export of it were still held
    buffer.extend(b"!")  # raises BufferError if an export of it were still held
    assert len(buffer) == 11


def test_an_index_that_resizes_the_buffer_cannot_while_it_is_held():
    buffer = bytearray(b"0123456789")

    def shrink() -> int:
        del buffer[:]
        return 10

    with pytest.raises(BufferError):
        xor_mask_inplace(buffer, b"abcd", end=Index(shrink))
    with pytest.raises(BufferError):
        xor_mask(buffer, b"abcd", end=Index(shrink))
    assert buffer == bytearray(b"0123456789")  # untouched
    assert xor_mask(buffer, b"\0\0\0\0", end=Index(lambda: 3)) == b"012"


arguments = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(bytearray),
    st.binary(max_size=64).map(memoryview),
    st.binary(min_size=2, max_size=64).map(lambda b: memoryview(b)[::2]),
    st.text(max_size=8),
    st.integers(),
    st.none(),
)
indices = st.one_of(
    st.none(), st.integers(-(2**70), 2**70), st.integers(-80, 80), st.text(max_size=2)
)


@given(data=arguments, key=arguments, start=indices, end=indices, offset=indices)
def test_fuzz_arguments_give_the_reference_bytes_or_a_clean_error(data, key, start, end, offset):
    """Any arguments: the reference's bytes, or TypeError / ValueError / OverflowError."""
    errors = (TypeError, ValueError, OverflowError)
    try:
        result = xor_mask(data, key, start, end, offset)
    except errors:
        return
    assert result == pure_unmask(data, key, start or 0, end, offset)
    if isinstance(data, bytearray):
        xor_mask_inplace(data, key, start, end, offset)
        assert data[slice(start, end)] == result


@given(st.binary(max_size=BIG), st.binary(min_size=4, max_size=4), st.data())
def test_fuzz_piecewise_unmasking_equals_whole(payload, key, data):
    """Unmasked in pieces at any cut points (each piece with its offset), the bytes are the same."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=8)))
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, len(payload)], strict=True):
        pieces.append(xor_mask(payload, key, start, end, start))
    assert b"".join(pieces) == pure_unmask(payload, key)
