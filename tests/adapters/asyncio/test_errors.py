"""The adapter's own exceptions: what they say and carry."""

import subprocess
import sys

import pytest

import tidewire
from tidewire import ConnectionClosed
from tidewire_asyncio import ConnectionLostError, EndOfStream, StreamClosedError
from tidewire_asyncio.websocket import HandshakeRejected, RejectConnection, WebSocketClosedError


def test_end_of_stream_is_an_eof_error_carrying_the_closing_event():
    event = ConnectionClosed()
    error = EndOfStream("the peer closed the connection while a line was awaited", event)
    assert isinstance(error, EOFError)
    assert error.event is event
    assert "a line" in str(error)


def test_the_closing_exceptions_are_the_base_ones():
    assert (ConnectionLostError, EndOfStream, StreamClosedError) == (
        tidewire.ConnectionLostError,
        tidewire.EndOfStream,
        tidewire.StreamClosedError,
    )
    assert issubclass(ConnectionLostError, StreamClosedError)
    assert issubclass(EndOfStream, StreamClosedError)


@pytest.mark.parametrize(
    ("code", "reason", "clean", "text"),
    [
        (1000, "", True, "(code 1000)"),
        (1001, "bye", True, "(code 1001, reason 'bye')"),
        (1006, "", False, "(code 1006)"),
        (4000, "app", False, "(code 4000, reason 'app')"),
    ],
)
def test_websocket_closed_error(code, reason, clean, text):
    error = WebSocketClosedError(code, reason)
    assert (error.code, error.reason, error.clean) == (code, reason, clean)
    assert str(error).endswith(text)


def test_handshake_rejected_keeps_the_response():
    response = RejectConnection(403, (), b"no")
    error = HandshakeRejected(response)
    assert error.response is response
    assert "HTTP 403" in str(error)


@pytest.mark.parametrize(
    ("module", "core"), [("lines", "tidewire_lines"), ("websocket", "tidewire_websocket")]
)
def test_a_missing_core_names_the_package_to_install(module, core):
    code = f"import sys; sys.modules[{core!r}] = None; import tidewire_asyncio.{module}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert f'pip install "tidewire-asyncio[{module}]"' in result.stderr
