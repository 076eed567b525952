"""The adapter's exceptions: the base's and the cores' classes, re-exported under its names."""

import importlib
import subprocess
import sys

import pytest

import tidewire
import tidewire_websocket
from tidewire import ConnectionClosed


def test_end_of_stream_is_an_eof_error_carrying_the_closing_event(adapter):
    event = ConnectionClosed()
    error = adapter.EndOfStream("the peer closed the connection while a line was awaited", event)
    assert isinstance(error, EOFError)
    assert error.event is event
    assert "a line" in str(error)


def test_the_closing_exceptions_are_the_base_ones(adapter):
    assert (adapter.ConnectionLostError, adapter.EndOfStream, adapter.StreamClosedError) == (
        tidewire.ConnectionLostError,
        tidewire.EndOfStream,
        tidewire.StreamClosedError,
    )


def test_the_websocket_exceptions_are_the_cores(adapter):
    websocket = importlib.import_module(f"{adapter.__name__}.websocket")
    assert websocket.WebSocketClosedError is tidewire_websocket.WebSocketClosedError
    assert websocket.HandshakeRejected is tidewire_websocket.HandshakeRejected
    assert issubclass(websocket.WebSocketClosedError, adapter.StreamClosedError)


@pytest.mark.parametrize(
    ("module", "core"), [("lines", "tidewire_lines"), ("websocket", "tidewire_websocket")]
)
def test_a_missing_core_names_the_package_to_install(adapter, module, core):
    name = adapter.__name__
    code = f"import sys; sys.modules[{core!r}] = None; import {name}.{module}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    distribution = name.replace("_", "-")
    assert f'pip install "{distribution}[{module}]"' in result.stderr
