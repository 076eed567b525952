"""Fixtures for the behavioural suite every adapter runs (tests/adapters/shared).

The bodies in tests/adapters/shared use an adapter only through the adapter
under test (the ``adapter`` fixture, or ``adapter_under_test.adapter`` at
module level) and the mirrored public names, and drive their peers with
anyio: no framework is called directly. ``pytest --adapter NAME`` picks the
adapter (``asyncio`` by default; ``nox -s tests`` passes each adapter's own
name); a new adapter plugs in with one entry in ``ADAPTERS`` below: its
import name and the anyio backends its tests run on (tidewire-anyio: both).
Tests that only make sense on one framework live in tests/adapters/NAME.

Keepalive and timeout tests run on a virtual clock instead of sleeping: a
test that asks for the ``virtual_clock`` fixture (or carries the
``virtual_clock`` marker) runs on an event loop whose time stands still while
anything can run, and jumps straight to the next timer when nothing can::

    async def test_keepalive_fails_a_silent_peer(adapter, virtual_clock, ...):
        start = virtual_clock()  # anyio.current_time(), which reads the loop's time
        ...  # a 20 s ping interval and a 20 s ping timeout pass instantly
        assert virtual_clock() - start >= 40

On asyncio that is tests/adapters/asyncio/virtual_clock.py; on trio it is
``trio.testing.MockClock(autojump_threshold=0)``.
"""

from __future__ import annotations

import importlib
import importlib.util
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

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "docs" / "examples"
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
load_module("chromium", HERE / "peers" / "chromium.py")


@pytest.fixture(scope="module")
def server():
    """A real redis-server on a free port, for one test module."""
    with redis_server.running_redis() as running:
        yield running


def _virtual(backend):
    """The anyio backend (with options) that runs ``backend`` on virtual time."""
    if backend == "trio":
        import trio.testing

        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    clock = load_module("asyncio_virtual_clock", HERE / "asyncio" / "virtual_clock.py")
    return ("asyncio", {"loop_factory": clock.VirtualClockLoop})


# name -> (import name, the anyio backends its tests run on); tidewire-anyio runs on both.
ADAPTERS = {
    "asyncio": ("tidewire_asyncio", ("asyncio",)),
    "trio": ("tidewire_trio", ("trio",)),
    "anyio": ("tidewire_anyio", ("asyncio", "trio")),
}
# Adapters whose EventStream reads only inside receive() (pull mode, trio's way): tests
# marked ``reads_ahead`` look at what a push-mode stream read while nobody received, so
# they do not apply; tests/adapters/NAME checks the pull-mode counterparts.
PULL_MODE = {"trio"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "virtual_clock: run the test on an event loop with virtual time (see conftest)"
    )
    config.addinivalue_line(
        "markers", "reads_ahead: about what a stream read while nobody received (see PULL_MODE)"
    )
    name = config.getoption("--adapter")
    if name not in ADAPTERS:
        raise pytest.UsageError(f"--adapter {name}: not one of {', '.join(sorted(ADAPTERS))}")
    under_test = load_module("adapter_under_test", HERE / "adapter_under_test.py")
    under_test.name = name
    try:
        under_test.adapter = importlib.import_module(ADAPTERS[name][0])
    except ModuleNotFoundError as missing:
        if missing.name != ADAPTERS[name][0]:
            raise
        # Not installed: fine for tests/adapters/twisted, which runs no shared test;
        # a shared test run without it fails on the missing attribute.
        return
    for protocol in ("lines", "websocket", "resp"):  # adapter.lines ... for the bodies
        try:
            importlib.import_module(f"{ADAPTERS[name][0]}.{protocol}")
        except ModuleNotFoundError as missing:  # the tests that use it fail, one by one
            if missing.name != f"{ADAPTERS[name][0]}.{protocol}":
                raise


def pytest_collection_modifyitems(config, items):
    if config.getoption("--adapter") not in PULL_MODE:
        return
    push_only = [item for item in items if item.get_closest_marker("reads_ahead")]
    if push_only:
        config.hook.pytest_deselected(items=push_only)
        items[:] = [item for item in items if item not in push_only]


def pytest_generate_tests(metafunc):
    backends = ADAPTERS[metafunc.config.getoption("--adapter")][1]
    if len(backends) > 1 and "anyio_backend" in metafunc.fixturenames:
        metafunc.parametrize("anyio_backend", backends, indirect=True)


@pytest.fixture
def anyio_backend(request):
    backends = ADAPTERS[request.config.getoption("--adapter")][1]
    backend = getattr(request, "param", backends[0])
    if "virtual_clock" in request.fixturenames or request.node.get_closest_marker("virtual_clock"):
        return _virtual(backend)
    return backend


@pytest.fixture
def virtual_clock(anyio_backend):
    """Run the test on virtual time; the value reads it (the loop's clock, in seconds)."""
    return anyio.current_time


@pytest.fixture
def adapter(request):
    return sys.modules["adapter_under_test"].adapter


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


async def stalled(progress):
    """Wait (bounded) until ``progress()`` stops moving for 0.1 s: a peer held back by TCP."""
    with anyio.fail_after(10):
        before, now = None, progress()
        while now != before:
            await anyio.sleep(0.1)
            before, now = now, progress()


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
        stalled=stalled,
        read_exactly=read_exactly,
        read_until_eof=read_until_eof,
        reset=reset,
        stream_and_socket=stream_and_socket,
    )
