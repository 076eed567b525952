import pytest

from tidewire import LocalProtocolError, as_bytes, describe


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_describe_is_short_and_never_raises():
    assert describe(b"abc") == "b'abc'"
    assert describe((1, "x")) == "(1, 'x')"
    assert len(describe("x" * 1000)) <= 60
    assert describe(10**5000) == "a value of type int"  # repr() refuses 5,000 digits
    assert describe(BrokenRepr()).startswith("<")  # reprlib reports the broken repr itself


def test_as_bytes_takes_bytes_like_values_only():
    data = b"payload"
    assert as_bytes(data, "a payload") is data
    assert as_bytes(bytearray(data), "a payload") == data
    assert as_bytes(memoryview(data), "a payload") == data
    with pytest.raises(LocalProtocolError, match="cannot send a payload of type str"):
        as_bytes("text", "a payload")
    released = memoryview(data)
    released.release()
    with pytest.raises(LocalProtocolError, match="the memoryview is released"):
        as_bytes(released, "a payload")
