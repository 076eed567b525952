"""Shared fixtures for the adapter's behavioural tests.

The test bodies use the adapter only through the ``adapter`` fixture (the
module) and the mirrored public names, and drive peers with anyio, so the same
bodies can later run against the trio and Twisted adapters by parametrising
``anyio_backend`` and ``adapter``.

Keepalive and timeout tests run on a virtual clock instead of sleeping: a
test that asks for the ``virtual_clock`` fixture (or carries the
``virtual_clock`` marker) runs on an event loop whose time stands still while
anything can run, and jumps straight to the next timer when nothing can::

    async def test_keepalive_fails_a_silent_peer(adapter, virtual_clock, ...):
        start = virtual_clock()  # anyio.current_time(), which reads the loop's time
        ...  # a 20 s ping interval and a 20 s ping timeout pass instantly
        assert virtual_clock() - start >= 40

"Nothing can run" means no callback is ready and no I/O arrives within a
short real grace (10 ms, so a peer in another process, a redis-server, has
time to answer); a thread's work (``getaddrinfo``) does not hold time back.
Time then jumps exactly to the earliest timer, so a core's deadline is met
on the dot and a test of a 3600 s timeout takes milliseconds. The trio
adapter will get the same from ``trio.testing.MockClock(autojump_threshold=0)``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import selectors
import socket
import ssl
import struct
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import anyio
import anyio.abc
import pytest
import trustme

import tidewire_asyncio

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"
_KERNEL_BUFFER = 64 * 1024  # bytes, for each socket buffer of stream_and_socket()


def load_module(name, path):
    """Import a helper module by file path (tests run with --import-mode=importlib)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_example(name):
    return load_module(name, EXAMPLES / f"{name}.py")


# Helpers a test module imports by name (`import redis_server`) find them here.
redis_server = load_module("redis_server", Path(__file__).with_name("redis_server.py"))
load_module("chromium", Path(__file__).parent / "peers" / "chromium.py")


@pytest.fixture(scope="module")
def server():
    """A real redis-server on a free port, for one test module."""
    with redis_server.running_redis() as running:
        yield running


_VIRTUAL_START = 1_000_000.0  # far from the real monotonic clock, so a mix-up shows
_REAL_GRACE = 0.01  # seconds of real time I/O gets before virtual time jumps


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that, finding no I/O, makes the loop's clock jump to the next timer."""

    def __init__(self) -> None:
        super().__init__()
        self.now = _VIRTUAL_START

    def select(self, timeout=None):
        # The loop passes 0 when callbacks are ready, None when no timer is
        # pending (only I/O can wake it: wait for real), else the time until
        # the earliest timer.
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        events = super().select(min(timeout, _REAL_GRACE))
        if not events:
            self.now += timeout
        return events


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time: it jumps to the next timer whenever nothing can run."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "virtual_clock: run the test on an event loop with virtual time (see conftest)"
    )


@pytest.fixture
def anyio_backend(request):
    if "virtual_clock" in request.fixturenames or request.node.get_closest_marker("virtual_clock"):
        return ("asyncio", {"loop_factory": VirtualClockLoop})
    return "asyncio"


@pytest.fixture
def virtual_clock(anyio_backend):
    """Run the test on virtual time; the value reads it (the loop's clock, in seconds)."""
    return anyio.current_time


@pytest.fixture
def adapter():
    return tidewire_asyncio


@pytest.fixture
def netstring():
    return load_example("netstring")


@pytest.fixture(scope="session")
def tls():
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def eventually(predicate):
    """Wait (bounded) until ``predicate()`` is true; never a timing assertion."""
    with anyio.fail_after(10):
        while not predicate():
            await anyio.sleep(0.005)


async def read_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        data += await sock.receive(n - len(data))
    return bytes(data)


async def read_until_eof(sock):
    data = bytearray()
    try:
        while True:
            data += await sock.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return bytes(data)


async def reset(sock):
    """Close an anyio socket with a TCP reset (SO_LINGER 0)."""
    raw = sock.extra(anyio.abc.SocketAttribute.raw_socket)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await sock.aclose()


@asynccontextmanager
async def stream_and_socket(adapter, factory, **options):
    """Our stream on one end of a TCP connection, a raw anyio socket (the peer) on the other.

    The peer is anyio's client socket, which reads only when asked to, so a
    test can make it a peer that never reads. Both ends get small, fixed
    kernel buffers: with the host's autotuning (up to 32 MB here) a flood
    could vanish into the kernel before TCP flow control holds it back.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            listener.setsockopt(socket.SOL_SOCKET, option, _KERNEL_BUFFER)  # accept() inherits
        port = listener.getsockname()[1]
        sock = await anyio.connect_tcp("127.0.0.1", port)
        raw = sock.extra(anyio.abc.SocketAttribute.raw_socket)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            raw.setsockopt(socket.SOL_SOCKET, option, _KERNEL_BUFFER)
        accepted, _ = listener.accept()
        stream = await adapter.connect(factory, sock=accepted, **options)
        async with stream, sock:  # the peer closes first: a stuck aclose() cannot hang
            yield stream, sock


@pytest.fixture
def tools():
    return SimpleNamespace(
        eventually=eventually,
        read_exactly=read_exactly,
        read_until_eof=read_until_eof,
        reset=reset,
        stream_and_socket=stream_and_socket,
    )
