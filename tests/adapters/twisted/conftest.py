"""The Twisted test harness: ``async def`` tests run on one real reactor per process.

A test written ``async def test_x(reactor, ...)`` runs as
``Deferred.fromCoroutine(test_x(...))`` on the process's global reactor,
which is started once and then iterated (``reactor.iterate()``) until the
test's Deferred fires: Twisted's global reactor cannot be restarted, so no
test stops it, and a whole pytest run works. A test still waiting after 30
seconds is cancelled (its Deferred gets ``CancelledError``): a hang fails,
it never blocks the run. After each test the harness checks that the test
closed every connection and listening port it opened (it waits briefly for
closes in progress), like trial's dirty-reactor check, then cleans up and
fails the test if not.

Which reactor: ``TIDEWIRE_TWISTED_REACTOR=asyncio`` installs
``asyncioreactor`` (on a fresh asyncio event loop) before anything imports
the reactor; otherwise Twisted's default one (epoll on Linux). ``nox -s
tests`` runs the whole suite on both (``OTHER_LOOP`` in noxfile.py).

Timer tests do not need a reactor at all: they build an ``EventStream`` with
``reactor=task.Clock()`` over a ``StringTransport`` (the ``clocked`` fixture)
and move time by hand.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import socket
import struct
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
import trustme
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

HERE = Path(__file__).parent
REACTOR_NAME = os.environ.get("TIDEWIRE_TWISTED_REACTOR", "default")
TEST_TIMEOUT = 30.0

if REACTOR_NAME == "asyncio" and "twisted.internet.reactor" not in sys.modules:
    from twisted.internet import asyncioreactor

    asyncioreactor.install(asyncio.new_event_loop())

from twisted.internet import reactor as _reactor  # noqa: E402 - after the choice above

if REACTOR_NAME == "asyncio":
    assert type(_reactor).__name__ == "AsyncioSelectorReactor", "another reactor was installed"


def _baseline():
    return set(_reactor.getReaders()) | set(_reactor.getWriters())


_BASELINE = None


def _spin_until(predicate, limit):
    """Run the reactor until ``predicate()`` or ``limit`` seconds of its clock passed."""
    global _BASELINE
    if not _reactor.running:
        _reactor.startRunning(installSignalHandlers=False)
        _reactor.iterate(0)  # the "startup" triggers
        _BASELINE = _baseline()
    deadline = _reactor.seconds() + limit
    while not predicate() and _reactor.seconds() < deadline:
        _reactor.iterate(0.01)


def run_deferred(deferred, timeout=TEST_TIMEOUT):
    """Run the global reactor until ``deferred`` fires; return its result or raise its failure."""
    outcome = []
    timer = _reactor.callLater(timeout, deferred.cancel)
    deferred.addBoth(outcome.append)
    _spin_until(lambda: outcome, timeout + 5)
    if timer.active():
        timer.cancel()
    if not outcome:
        raise TimeoutError("the test's Deferred never fired, even after cancel()")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _check_clean():
    """Fail the test if it left connections or ports open (after letting closes finish).

    A test's own raw peer may stay half-open after our side closed (it reads
    only its end of file): that is the test's socket, closed here.
    """
    for peer in list(RawPeer.live):
        peer.transport.abortConnection()
    _spin_until(lambda: _baseline() <= _BASELINE, 2.0)
    gc.collect()  # an unclosed socket's warning belongs to the test that dropped it
    left = _baseline() - _BASELINE
    for selectable in left:
        _reactor.removeReader(selectable)
        _reactor.removeWriter(selectable)
        selectable.connectionLost(Failure(ConnectionError("left open by a test")))
    for call in _reactor.getDelayedCalls():
        if call.active():
            call.cancel()
    if left:
        pytest.fail(f"the test left open: {sorted(map(repr, left))}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = inspect.signature(function).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    try:
        run_deferred(Deferred.fromCoroutine(function(**kwargs)))
    finally:
        _check_clean()
    return True


@pytest.fixture
def reactor():
    """The running global reactor (the one the harness iterates)."""
    return _reactor


@pytest.fixture(scope="session")
def ca():
    return trustme.CA()


@pytest.fixture(scope="session")
def twisted_tls(ca):
    """Twisted TLS options: (server context factory, client connection creator) for localhost."""
    from twisted.internet import ssl as tssl

    cert = ca.issue_cert("localhost", "127.0.0.1")
    server = tssl.PrivateCertificate.loadPEM(
        cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes()
    ).options()
    authority = tssl.Certificate.loadPEM(ca.cert_pem.bytes())
    client = tssl.optionsForClientTLS("localhost", trustRoot=authority)
    return server, client


@pytest.fixture(scope="session")
def tls_files(ca, tmp_path_factory):
    """The same certificate as files, for ``"ssl:"`` endpoint descriptions."""
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("localhost", "127.0.0.1")
    key = folder / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(key))
    (folder / "authorities").mkdir()  # caCertsDir= reads every file in it
    authority = folder / "authorities" / "ca.pem"
    ca.cert_pem.write_to_path(str(authority))
    return key, authority


_KERNEL_BUFFER = 64 * 1024  # bytes, for each socket buffer of the pair fixture


@implementer(IHalfCloseableProtocol)
class RawPeer(Protocol):
    """The other end of a test connection: raw bytes, read only when asked to.

    ``read_exactly(n)`` and ``read_until_eof()`` return Deferreds;
    ``stop_reading()`` makes it a peer that never reads (TCP flow control
    then holds our writes back); ``reset()`` closes with a TCP reset.
    """

    live: ClassVar[set[RawPeer]] = set()  # the harness closes what a test left half-open

    def __init__(self):
        self.received = bytearray()
        self.eof = False
        self.gone = False
        self.lost = Deferred()
        self.made = Deferred()
        self._want = None

    def connectionMade(self):
        RawPeer.live.add(self)
        self.made.callback(self)

    def dataReceived(self, data):
        self.received += data
        self._check()

    def readConnectionLost(self):
        self.eof = True
        self._check()

    def writeConnectionLost(self):
        pass

    def connectionLost(self, reason):
        RawPeer.live.discard(self)
        self.eof = True
        self.gone = True
        self._check()
        self.lost.callback(None)

    def _check(self):
        if self._want is None:
            return
        size, waiter = self._want
        if size is None and self.eof:
            self._want = None
            data = bytes(self.received)
            self.received.clear()
            waiter.callback(data)
        elif size is not None and len(self.received) >= size:
            self._want = None
            data = bytes(self.received[:size])
            del self.received[:size]
            waiter.callback(data)
        elif size is not None and self.eof:
            self._want = None
            waiter.errback(EOFError(f"wanted {size} bytes, got {bytes(self.received)!r}"))

    def read_exactly(self, size):
        self.transport.resumeProducing()
        self._want = (size, Deferred())
        waiter = self._want[1]
        self._check()
        return waiter

    def read_until_eof(self):
        self.transport.resumeProducing()
        self._want = (None, Deferred())
        waiter = self._want[1]
        self._check()
        return waiter

    def send(self, data):
        self.transport.write(data)

    def send_eof(self):
        self.transport.loseWriteConnection()

    def stop_reading(self):
        self.transport.pauseProducing()

    def reset(self):
        sock = self.transport.getHandle()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abortConnection()
        return self.lost

    def close(self):
        if not self.gone:
            self.transport.loseConnection()
        return self.lost


@asynccontextmanager
async def stream_and_peer(connection_factory, **options):
    """Our stream connected over loopback TCP to a :class:`RawPeer`; both closed on exit."""
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Factory

    import tidewire_twisted

    peers = []

    def build(addr):
        peer = RawPeer()
        peers.append(peer)
        return peer

    factory = Factory()
    factory.buildProtocol = build
    port = await TCP4ServerEndpoint(_reactor, 0, interface="127.0.0.1").listen(factory)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        port.socket.setsockopt(socket.SOL_SOCKET, option, _KERNEL_BUFFER)  # accept() inherits
    try:
        endpoint = f"tcp:127.0.0.1:{port.getHost().port}"
        stream = await tidewire_twisted.connect(connection_factory, endpoint, **options)
        sock = stream.get_extra_info("socket")
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, _KERNEL_BUFFER)
        peer = peers[0]
        await peer.made
    finally:
        await port.stopListening()
    try:
        yield stream, peer
    finally:
        await peer.close()  # the peer closes first: a stuck aclose() cannot hang
        await stream.aclose()


async def eventually(predicate):
    """Let the reactor run (bounded) until ``predicate()``; never a timing assertion."""
    from twisted.internet.task import deferLater

    for _ in range(2000):
        if predicate():
            return
        await deferLater(_reactor, 0.005, lambda: None)
    raise AssertionError("the condition never came true")


def sleep(seconds):
    """A Deferred firing after ``seconds`` of the reactor's clock (cancellable)."""
    from twisted.internet.task import deferLater

    return deferLater(_reactor, seconds, lambda: None)


async def cancelled_after(deferred, seconds):
    """Cancel ``deferred`` unless it fires within ``seconds``; True if it was cancelled."""
    from twisted.internet.defer import CancelledError

    timer = _reactor.callLater(seconds, deferred.cancel)
    try:
        await deferred
    except CancelledError:
        return True
    if timer.active():
        timer.cancel()
    return False


async def fill(stream, event, seconds=0.3):
    """Send ``event`` until one send waits ``seconds`` (then cancel it); return how many went."""
    sent = 0
    while True:
        sending = stream.send(event)
        if not sending.called and await cancelled_after(sending, seconds):
            return sent
        await sending
        sent += 1


@pytest.fixture
def tools():
    return SimpleNamespace(
        RawPeer=RawPeer,
        fill=fill,
        stream_and_peer=stream_and_peer,
        eventually=eventually,
        sleep=sleep,
        cancelled_after=cancelled_after,
    )


def pytest_sessionfinish(session, exitstatus):
    """Stop the reactor's thread pool (name resolution starts it): its threads outlive pytest."""
    pool = getattr(_reactor, "threadpool", None)
    if pool is not None:
        pool.stop()
