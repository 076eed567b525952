import pytest

from tidewire import (
    ConnectionClosed,
    ConnectionLostError,
    EndOfStream,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    StreamClosedError,
)


def test_base_class_cannot_be_raised_itself():
    with pytest.raises(TypeError, match="LocalProtocolError or RemoteProtocolError"):
        ProtocolError("x")


@pytest.mark.parametrize("cls", [LocalProtocolError, RemoteProtocolError])
def test_fields_and_text(cls):
    error = cls("bad length", code=1002, offset=17)
    assert isinstance(error, ProtocolError)
    assert (error.message, error.code, error.offset) == ("bad length", 1002, 17)
    assert str(error) == "bad length (code 1002, at byte 17)"
    assert repr(error) == f"{cls.__name__}('bad length', code=1002, offset=17)"


def test_text_without_code_or_offset():
    assert str(RemoteProtocolError("plain")) == "plain"
    assert str(RemoteProtocolError("coded", code="ERR")) == "coded (code 'ERR')"
    assert str(LocalProtocolError("placed", offset=0)) == "placed (at byte 0)"


def test_local_and_remote_are_distinct():
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)


def test_the_closing_vocabulary():
    assert issubclass(ConnectionLostError, StreamClosedError)
    assert issubclass(EndOfStream, StreamClosedError)
    assert issubclass(EndOfStream, EOFError)
    assert not issubclass(EndOfStream, ConnectionLostError)
    assert not issubclass(StreamClosedError, ProtocolError)
    closed = ConnectionClosed()
    error = EndOfStream("the peer closed the connection while a line was awaited", closed)
    assert error.event is closed
    assert str(error) == "the peer closed the connection while a line was awaited"
    assert StreamClosedError().event is None
    assert ConnectionLostError("reset", event=None).event is None
