import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import NEED_DATA, LocalProtocolError, RemoteProtocolError
from tidewire.testing import ConnectionContract, Loopback, assert_split_invariant, chunkings, run
from tidewire_lines import Line, LinesClosed, RawData, TextLine, TextLineConnection


class TestTextLineContract(ConnectionContract):
    valid_input = "héllo\r\nwörld €\r\n\r\n".encode()
    invalid_input = b"fine\r\nbad \xff byte\r\n"

    def make_connection(self):
        return TextLineConnection(max_line_length=64)

    def sendable_events(self):
        return [TextLine("héllo"), TextLine(""), RawData(b"\xff raw")]

    def unsendable_events(self):
        return [TextLine("a\r\nb"), TextLine(b"bytes"), Line(b"bytes"), RawData("text"), None]


class TestLatin1Contract(TestTextLineContract):
    valid_input = "café\nthé\n".encode("latin-1")
    invalid_input = b"ok\n" + b"x" * 70 + b"\n"

    def make_connection(self):
        return TextLineConnection(b"\n", encoding="latin-1", max_line_length=64)

    def unsendable_events(self):
        return [TextLine("€"), TextLine("a\nb")]


def test_lines_are_decoded():
    outcome = assert_split_invariant(TextLineConnection, "à\r\nß\r\n".encode(), eof=True)
    assert outcome.events == [TextLine("à"), TextLine("ß"), LinesClosed()]


@pytest.mark.parametrize(
    ("delimiter", "switch"),
    [(b"\r\n", False), (b"\r\n", True), ((b"\r\n", b"\n"), False)],
)
def test_an_undecodable_line_says_where_the_bad_byte_is(delimiter, switch):
    connection = TextLineConnection(delimiter)
    connection.receive_data(b"go\r\nok\r\nab\xffcd\r\nnever\r\n")
    assert connection.next_event() == TextLine("go")
    if switch:  # a raw-mode switch hands the split lines back: they are read one by one
        connection.set_raw_mode(0)
        assert connection.next_event() == RawData(b"", 0)
    assert connection.next_event() == TextLine("ok")
    with pytest.raises(RemoteProtocolError) as info:
        connection.next_event()
    assert info.value.message == (
        "a line is not valid utf-8: invalid start byte at byte 2 of the line"
    )
    assert info.value.offset == 10
    with pytest.raises(RemoteProtocolError):
        connection.next_event()


def test_a_character_split_across_chunks_is_decoded():
    data = "€uro\r\n".encode()
    outcome = assert_split_invariant(TextLineConnection, data, splits=[[data[:1], data[1:]]])
    assert outcome.events == [TextLine("€uro")]


def test_raw_mode_and_end_of_file_stay_bytes():
    connection = TextLineConnection()
    connection.receive_data(b"BDAT 3\r\n\xff\xfe\xfdpart\xff")
    assert connection.next_event() == TextLine("BDAT 3")
    connection.set_raw_mode(3)
    assert connection.next_event() == RawData(b"\xff\xfe\xfd", 0)
    assert connection.next_event() is NEED_DATA
    connection.receive_eof()
    assert connection.next_event() == LinesClosed(b"part\xff")


def test_send_encodes():
    connection = TextLineConnection(b"\n", encoding="latin-1")
    connection.send(TextLine("café"))
    connection.send(RawData(b"\x00"))
    assert connection.data_to_send() == b"caf\xe9\n\x00"
    assert connection.encoding == "latin-1"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (TextLine("€"), "ordinal not in range"),
        (TextLine(b"x"), "must be str"),
        (TextLine("a\nb"), "more than one line"),
        (Line(b"x"), "expected a TextLine"),
        (RawData(1), "raw data must be bytes"),
    ],
)
def test_unsendable_text_is_a_local_error(event, message):
    connection = TextLineConnection(b"\n", encoding="ascii")
    with pytest.raises(LocalProtocolError, match=message):
        connection.send(event)
    assert connection.data_to_send() == b""


@pytest.mark.parametrize("text", ["ok", "€", b"x", "a\nb"])
def test_send_line_is_send_of_a_text_line(text):
    connections = [TextLineConnection(b"\n", encoding="ascii") for _ in range(2)]
    outcomes = []
    for send, value in ((connections[0].send, TextLine(text)), (connections[1].send_line, text)):
        try:
            send(value)
        except LocalProtocolError as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append(send.__self__.data_to_send())
    assert outcomes[0] == outcomes[1]


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="unknown encoding"):
        TextLineConnection(encoding="no-such-codec")


@given(
    lines=st.lists(st.text(max_size=12).filter(lambda t: "\n" not in t), max_size=8),
    chunks=st.data(),
)
def test_text_round_trip(lines, chunks):
    sender = TextLineConnection(b"\n")
    for line in lines:
        sender.send(TextLine(line))
    data = sender.data_to_send()
    receiver = TextLineConnection(b"\n", max_line_length=64)
    outcome = run(receiver, chunks.draw(chunkings(data), label="chunks"), eof=True)
    assert outcome.events == [*map(TextLine, lines), LinesClosed()]


def test_loopback():
    a, b = TextLineConnection(), TextLineConnection()
    a.send(TextLine("ping ✓"))
    to_a, to_b = Loopback(a, b).close(a)
    assert to_b == [TextLine("ping ✓"), LinesClosed()]
    assert to_a == []
