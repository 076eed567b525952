"""Frame building blocks (RFC 6455 section 5): masking, encoding, close codes."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire_websocket import (
    CloseCode,
    Opcode,
    apply_mask,
    encode_frame,
    is_valid_close_code,
    unmask,
)
from tidewire_websocket.frames import encode_close_payload


def slow_mask(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4), st.integers(0, 7))
def test_apply_mask_matches_the_definition(data, key, offset):
    assert apply_mask(data, key, offset) == slow_mask(data, key, offset)
    assert apply_mask(apply_mask(data, key, offset), key, offset) == data


def test_apply_mask_piecewise_equals_whole():
    data, key = os.urandom(1001), os.urandom(4)
    pieces = [apply_mask(data[a : a + 7], key, a) for a in range(0, len(data), 7)]
    assert b"".join(pieces) == apply_mask(data, key)
    assert apply_mask(bytearray(b""), key) == b""
    assert apply_mask(memoryview(b"abc"), key) == slow_mask(b"abc", key)


def test_rfc_examples():
    # RFC 6455 section 5.7.
    assert encode_frame(Opcode.TEXT, b"Hello") == b"\x81\x05\x48\x65\x6c\x6c\x6f"
    masked = encode_frame(Opcode.TEXT, b"Hello", mask=b"\x37\xfa\x21\x3d")
    assert masked == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) == b"\x01\x03Hel"
    assert encode_frame(Opcode.CONTINUATION, b"lo") == b"\x80\x02lo"
    assert encode_frame(Opcode.PING, b"Hello") == b"\x89\x05Hello"
    assert encode_frame(Opcode.BINARY, bytes(256))[:4] == b"\x82\x7e\x01\x00"
    long_header = b"\x82\x7f" + (65536).to_bytes(8, "big")
    assert encode_frame(Opcode.BINARY, bytes(65536))[:10] == long_header
    assert encode_frame(Opcode.BINARY, b"", rsv1=True) == b"\xc2\x00"


@pytest.mark.parametrize(("size", "header"), [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_shortest_length_encoding(size, header):
    assert len(encode_frame(Opcode.BINARY, bytes(size))) == header + size
    assert len(encode_frame(Opcode.BINARY, bytes(size), mask=b"abcd")) == header + 4 + size


def test_close_codes():
    valid = [c for c in range(70000) if is_valid_close_code(c)]
    expected = [*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)]
    assert valid == expected
    assert CloseCode.BAD_GATEWAY == 1014
    assert not is_valid_close_code(CloseCode.NO_STATUS_RECEIVED)


def test_close_payloads():
    assert encode_close_payload(1000) == b"\x03\xe8"
    assert encode_close_payload(4000, "é") == b"\x0f\xa0\xc3\xa9"
    assert encode_close_payload(1005) == b""


@pytest.mark.parametrize("size", [0, 1, 2, 3, 383, 384, 385, 386, 387, 4096, 65537])
def test_unmask_both_ways_agree_with_the_definition(size):
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    key = b"\x01\x80\xff\x3c"
    assert unmask(bytearray(data), key) == slow_mask(data, key)
    assert unmask(data, key) == slow_mask(data, key)
    # A range read in place, as a frame's payload in the receive buffer.
    framed = bytearray(b"head" + data + b"tail")
    assert unmask(framed, key, 4, 4 + size) == slow_mask(data, key)
    assert framed == b"head" + data + b"tail"  # read, never changed
