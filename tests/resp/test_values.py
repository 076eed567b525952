"""The value classes: what they hold and how they read."""

from __future__ import annotations

import math

import pytest

from tidewire_resp import (
    NAN,
    Attributed,
    BigNumber,
    ErrorReply,
    MapPairs,
    SetMembers,
    SimpleString,
    Verbatim,
)


def test_simple_string_equals_bytes_and_shows_its_type() -> None:
    assert SimpleString(b"OK") == b"OK"
    assert repr(SimpleString(b"OK")) == "SimpleString(b'OK')"
    assert isinstance(SimpleString(b"OK"), bytes)


def test_big_number_is_an_int() -> None:
    assert BigNumber(10**40) == 10**40
    assert repr(BigNumber(-5)) == "BigNumber(-5)"


def test_error_reply_code_and_message() -> None:
    error = ErrorReply(b"MOVED 3999 127.0.0.1:6381")
    assert error.code == "MOVED" and error.message == "MOVED 3999 127.0.0.1:6381"
    assert ErrorReply(b"\xffbad bytes").message == "\ufffdbad bytes"
    assert ErrorReply(b"").code == ""
    assert ErrorReply(b" x").code == ""
    assert ErrorReply(b"ERR", blob=True) != ErrorReply(b"ERR")


def test_map_pairs_and_set_members() -> None:
    pairs = MapPairs([(1, b"a"), (True, b"b")])
    assert pairs.to_dict() == {1: b"b"}
    assert repr(pairs) == "MapPairs([(1, b'a'), (True, b'b')])"
    with pytest.raises(TypeError):
        MapPairs([([1], 2)]).to_dict()
    assert repr(SetMembers([1, 1])) == "SetMembers([1, 1])"


def test_nan_verbatim_attributed() -> None:
    assert math.isnan(NAN)
    assert [NAN] == [NAN]
    assert Verbatim("txt", b"x").format == "txt"
    assert Attributed(1, {b"a": 1}).value == 1
