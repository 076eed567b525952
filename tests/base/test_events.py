import copy
import pickle

import pytest

from tidewire import NEED_DATA, ConnectionClosed, Event, NeedData, Sentinel


class Line(Event):
    line: bytes


class Pair(Event):
    first: int
    second: str = "x"


class Triple(Pair):
    third: float = 0.5


class Custom(Event):
    value: int

    def __init__(self, value: int = 7) -> None:
        self._value = value * 2  # a field's private slot, as the Event docstring says


def test_construction_positional_and_keyword():
    assert Line(b"a") == Line(line=b"a")
    assert Pair(1) == Pair(1, "x") == Pair(first=1, second="x")


def test_equality_is_by_type_and_value():
    assert Line(b"a") != Line(b"b")
    assert ConnectionClosed() != Line(b"a")
    assert Line(b"a") != (b"a",)
    assert Pair(1) != Triple(1)


def test_hash_follows_equality():
    assert hash(Line(b"a")) == hash(Line(b"a"))
    assert len({Line(b"a"), Line(b"a"), Line(b"b")}) == 2
    unhashable = Pair(1, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash(unhashable)


def test_repr_lists_fields():
    assert repr(Pair(1)) == "Pair(first=1, second='x')"
    assert repr(ConnectionClosed()) == "ConnectionClosed()"


def test_immutable():
    event = Line(b"a")
    with pytest.raises(AttributeError, match="no setter"):
        event.line = b"b"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no deleter"):
        del event.line  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]
    assert not hasattr(event, "__dict__")


def test_inheritance_adds_fields():
    event = Triple(1, "y", 2.0)
    assert (event.first, event.second, event.third) == (1, "y", 2.0)
    assert Triple(1).third == 0.5
    assert Triple.__match_args__ == ("first", "second", "third")
    assert Triple.__slots__ == ("_third",)


def test_match_statement():
    matched = None
    match Pair(3, "z"):
        case Pair(first, second):
            matched = (first, second)
    assert matched == (3, "z")


def test_copy_and_pickle():
    event = Triple(1, "y", 2.0)
    assert copy.copy(event) == event
    assert copy.deepcopy(event) == event
    assert pickle.loads(pickle.dumps(event)) == event


def test_own_init_is_kept():
    assert Custom(2).value == 4
    assert Custom().value == 14


def test_classvars_are_not_fields():
    from typing import ClassVar

    class WithClassVar(Event):
        kind: ClassVar[str] = "k"
        value: int

    assert WithClassVar.__match_args__ == ("value",)
    assert WithClassVar(1).kind == "k"


def test_field_without_default_after_default_is_an_error():
    with pytest.raises(TypeError, match="without a default follows"):

        class Bad(Event):
            a: int = 1
            b: int


def test_need_data_sentinel():
    assert NEED_DATA is Sentinel.NEED_DATA
    assert repr(NEED_DATA) == str(NEED_DATA) == "NEED_DATA"
    assert NEED_DATA is not None
    assert NEED_DATA != False  # noqa: E712 - the point is that it differs from False
    value: NeedData = NEED_DATA
    assert value is NEED_DATA


def test_private_field_names_are_refused():
    with pytest.raises(TypeError, match="must not start with '_'"):

        class Bad(Event):
            _hidden: int
