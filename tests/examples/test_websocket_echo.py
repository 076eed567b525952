"""docs/examples/websocket_echo.py --framework twisted: the conformance testee on Twisted.

The asyncio and trio runs of the same example are tested with their adapters
(tests/adapters/asyncio, tests/adapters/trio); this one runs the real command
under Twisted's reactor and drives it with the websockets library's client.
"""

import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import websockets
from websockets.asyncio.client import connect

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "websocket_echo.py"
MiB = 1024 * 1024

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_echo_example_is_a_working_testee_on_twisted():
    """16 MiB messages, permessage-deflate, 1009 past the limit; Ctrl-C stops it cleanly."""
    port = free_port()
    command = [sys.executable, str(EXAMPLE), "--port", str(port), "--framework", "twisted"]
    process = await anyio.open_process(command, stderr=subprocess.PIPE)
    try:
        banner = b""
        with anyio.fail_after(15):
            while b"\n" not in banner:
                banner += await process.stdout.receive()
        assert banner == f"echo server listening on ws://127.0.0.1:{port}\n".encode()
        async with connect(f"ws://127.0.0.1:{port}/", max_size=None) as client:
            assert client.protocol.extensions  # permessage-deflate was agreed
            for message in ("text stays text", b"\x00binary stays binary", b"b" * (16 * MiB)):
                await client.send(message)
                assert await client.recv() == message
            await client.send(b"b" * (16 * MiB + 1))
            with pytest.raises(websockets.ConnectionClosedError):
                await client.recv()
            assert client.close_code == 1009
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.aclose()


async def test_the_echo_example_on_twisted_says_why_it_cannot_listen():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, str(EXAMPLE), "--port", str(port), "--framework", "twisted"]
        with anyio.fail_after(15):
            finished = await anyio.run_process(command, check=False)
    assert finished.returncode == 1
    assert finished.stdout == b""
    assert finished.stderr.startswith(b"echo server: cannot listen: ")
    assert b"Address already in use" in finished.stderr
