import pytest

from tidewire import ConnectionClosed
from tidewire_lines import Line, LinesClosed, RawData


def test_line_is_a_value():
    assert Line(b"a") == Line(line=b"a")
    assert Line(b"a") != Line(b"b")
    assert hash(Line(b"a")) == hash(Line(b"a"))
    assert repr(Line(b"a")) == "Line(line=b'a')"
    with pytest.raises(AttributeError):
        Line(b"a").line = b"b"  # type: ignore[misc]


def test_raw_data_defaults_to_open_ended():
    assert RawData(b"x").remaining is None
    assert RawData(b"x", 0) == RawData(data=b"x", remaining=0)
    assert RawData(b"x", 0) != RawData(b"x")


@pytest.mark.parametrize(
    ("event", "clean"),
    [
        (LinesClosed(), True),
        (LinesClosed(b"partial"), False),
        (LinesClosed(b"", 3), False),
        (LinesClosed(b"ab", 1), False),
    ],
)
def test_lines_closed_says_whether_the_end_was_clean(event, clean):
    assert isinstance(event, ConnectionClosed)
    assert event.clean is clean


def test_lines_closed_defaults():
    assert LinesClosed() == LinesClosed(leftover=b"", missing=0)
