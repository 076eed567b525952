from __future__ import annotations  # string annotations on events, too

import pytest

from tidewire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    NeedData,
    ReceiveState,
    RemoteProtocolError,
)
from tidewire.testing import ConnectionContract


class Line(Event):
    line: bytes


class Lines(Connection[Line, Line]):
    """A toy newline protocol: enough to drive every path of the base."""

    def __init__(self, max_length: int | None = 8, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.max_length = max_length

    def _next_event(self) -> Line | NeedData:
        line = self._buffer.read_until(b"\n", max_length=self.max_length)
        return NEED_DATA if line is None else Line(line)

    def _send(self, event: Line) -> None:
        if b"\n" in event.line:
            raise LocalProtocolError("a line may not contain a newline")
        self._write(event.line)
        self._write(bytearray(b"\n"))

    def _on_remote_error(self, error: RemoteProtocolError) -> None:
        self._write(b"ERR " + error.message.encode() + b"\n")


class TestLinesContract(ConnectionContract):
    valid_input = b"one\ntwo\n\nfour\n"
    invalid_input = b"ok\nmuch too long\n"

    def make_connection(self) -> Lines:
        return Lines()

    def sendable_events(self) -> list[Event]:
        return [Line(b"a"), Line(b"")]

    def unsendable_events(self) -> list[object]:
        return [Line(b"a\nb")]


def test_events_in_order_and_need_data():
    connection = Lines()
    connection.receive_data(b"a\nb")
    assert connection.next_event() == Line(b"a")
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"\n")
    assert list(connection.events()) == [Line(b"b")]
    assert connection.receive_state is ReceiveState.OPEN


def test_end_of_file_after_complete_events():
    connection = Lines()
    connection.receive_data(b"a\n")
    connection.receive_eof()
    assert connection.receive_state is ReceiveState.EOF
    events = list(connection.events())
    assert events == [Line(b"a"), ConnectionClosed()]
    assert connection.receive_state is ReceiveState.CLOSED
    assert connection.next_event() is events[-1]
    assert list(connection.events()) == [events[-1]]


def test_end_of_file_inside_an_event():
    connection = Lines()
    connection.receive_data(b"partial")
    connection.receive_eof()
    with pytest.raises(RemoteProtocolError, match=r"incomplete event \(7 bytes left\)") as info:
        connection.next_event()
    assert info.value.offset == 0
    assert connection.receive_state is ReceiveState.ERROR


def test_receive_after_eof_is_misuse():
    connection = Lines()
    connection.receive_eof()
    connection.receive_eof()
    with pytest.raises(LocalProtocolError, match="after receive_eof"):
        connection.receive_data(b"x")
    assert connection.next_event() == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        connection.receive_data(b"x")


def test_remote_error_is_terminal_and_owed_bytes_are_queued():
    connection = Lines(max_length=2)
    connection.receive_data(b"ok\ntoo long\n")
    assert connection.next_event() == Line(b"ok")
    with pytest.raises(RemoteProtocolError) as info:
        connection.next_event()
    assert connection.error is info.value
    assert connection.receive_state is ReceiveState.ERROR
    assert connection.data_to_send() == b"ERR line longer than the limit of 2 bytes\n"
    connection.receive_data(b"more\n" * 1000)  # discarded
    connection.receive_eof()
    with pytest.raises(RemoteProtocolError, match="already failed: line longer") as again:
        connection.next_event()
    assert again.value.offset == info.value.offset == 3
    with pytest.raises(RemoteProtocolError):
        list(connection.events())


@pytest.mark.parametrize("chunks", [[b"x" * 11], [b"x" * 5, b"x" * 6]])
def test_buffer_cap_holds_however_split(chunks):
    connection = Lines(max_length=None, max_buffer_size=10)
    for chunk in chunks[:-1]:
        connection.receive_data(chunk)
        assert connection.next_event() is NEED_DATA
    connection.receive_data(chunks[-1])
    with pytest.raises(RemoteProtocolError, match="11 bytes buffered without a complete event"):
        connection.next_event()


def test_buffer_cap_counts_only_incomplete_events():
    connection = Lines(max_length=None, max_buffer_size=10)
    connection.receive_data(b"12345678\n" * 5 + b"123456789")
    assert len(list(connection.events())) == 5


def test_no_buffer_cap():
    connection = Lines(max_length=None, max_buffer_size=None)
    connection.receive_data(b"x" * 100_000)
    assert connection.next_event() is NEED_DATA


def test_data_to_send_joins_and_drains():
    connection = Lines()
    assert connection.data_to_send() == b""
    connection.send(Line(b"a"))
    connection.send(Line(b"b"))
    data = connection.data_to_send()
    assert data == b"a\nb\n" and type(data) is bytes
    assert connection.data_to_send() == b""


def test_data_to_send_single_piece_is_bytes():
    connection = Lines()
    connection.receive_data(b"much too long\n")
    with pytest.raises(RemoteProtocolError):
        connection.next_event()
    assert type(connection.data_to_send()) is bytes


def test_data_to_send_converts_a_lone_mutable_piece():
    class Raw(Lines):
        def _send(self, event: Line) -> None:
            self._write(memoryview(event.line))

    connection = Raw()
    connection.send(Line(b"abc"))
    data = connection.data_to_send()
    assert data == b"abc" and type(data) is bytes


def test_local_error_leaves_everything_as_it_was():
    connection = Lines()
    connection.send(Line(b"kept"))
    with pytest.raises(LocalProtocolError, match="newline"):
        connection.send(Line(b"a\nb"))
    assert connection.data_to_send() == b"kept\n"


def test_connection_is_abstract():
    with pytest.raises(TypeError):
        Connection()  # type: ignore[abstract]


def test_a_core_without_timers_never_asks_to_be_woken():
    connection = Lines()
    assert connection.get_timer() is None
    connection.handle_timer(1e9)  # nothing to do, nothing changes
    assert connection.get_timer() is None
    assert connection.data_to_send() == b""
    assert connection.next_event() is NEED_DATA
