"""Keepalive, timeouts and split invariance of the WebSocket layer, on ``task.Clock``.

The deadlines are the core's, on the clock given as ``reactor=`` (a
``task.Clock`` moved by hand here), while the bytes travel over real
loopback TCP on the harness's reactor. So a 20 s keepalive passes in
milliseconds and never depends on how fast this machine is.

tests/adapters/shared/test_websocket_timers.py -> here:
  test_keepalive_keeps_a_live_connection_open -> same name
  test_keepalive_fails_a_silent_peer -> same name
  test_ping_returns_the_round_trip_on_the_loops_clock -> ..._on_the_reactors_clock
  test_close_timeout_against_a_peer_that_never_answers -> same name
  test_a_client_waits_for_the_server_to_close_tcp_but_not_forever -> same name
  test_open_timeout_on_both_sides -> same name
  test_connect_is_an_async_context_manager_and_awaitable_on_asyncio
    -> test_connect_fires_with_a_websocket_that_is_an_async_context_manager
  test_messages_before_a_protocol_error_are_answered_however_split -> same name
  test_the_exceptions_are_the_cores -> same name
  test_a_uri_with_credentials_is_refused_at_once -> same name
"""

from __future__ import annotations

import base64
import hashlib
from contextlib import asynccontextmanager

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock, deferLater

import tidewire
import tidewire_websocket
from tidewire_twisted import websocket as ws
from tidewire_websocket import apply_mask

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload=b"", *, fin=True, rsv=0):
    """A masked client frame."""
    mask = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, 0x80 | len(payload)])
    return head + mask + apply_mask(payload, mask)


def frames_of(data):
    """(opcode, payload) of each unmasked server frame, all shorter than 126 bytes."""
    out = []
    while data:
        size = data[1] & 0x7F
        out.append((data[0] & 0x0F, data[2 : 2 + size]))
        data = data[2 + size :]
    return out


class Raw(Protocol):
    """A misbehaving peer: records what it gets, sends what it is told."""

    def __init__(self, on_data=None):
        self.received = b""
        self.lost = Deferred()
        self._on_data = on_data

    def dataReceived(self, data):
        self.received += data
        if self._on_data is not None:
            self._on_data(self, data)

    def connectionLost(self, reason):
        self.lost.callback(None)


async def turns(reactor, n=3):
    for _ in range(n):
        await deferLater(reactor, 0.005, lambda: None)


async def run_clock_until(reactor, clock, done, step=1.0, limit=200):
    """Advance ``clock`` a step at a time, letting real I/O run in between, until ``done()``."""
    start = clock.seconds()
    while not done():
        assert clock.seconds() - start < limit, "the deadline never came"
        clock.advance(step)
        await turns(reactor, 2)
    return clock.seconds() - start


@asynccontextmanager
async def raw_server(reactor, answer=True, after_close_frame=None):
    """A TCP server answering the opening handshake (or not), then silent unless told."""
    peers = []

    def on_data(peer, data):
        if answer and b"\r\n\r\n" in peer.received and not getattr(peer, "answered", False):
            peer.answered = True
            key = peer.received.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            peer.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
        elif after_close_frame is not None and getattr(peer, "answered", False):
            after_close_frame(peer)

    def build(addr):
        peer = Raw(on_data)
        peers.append(peer)
        return peer

    factory = Factory()
    factory.buildProtocol = build
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        yield f"ws://127.0.0.1:{port.getHost().port}/"
    finally:
        await port.stopListening()
        for peer in peers:
            peer.transport.loseConnection()
            await peer.lost


def client_endpoint(reactor, uri):
    port = int(uri.rsplit(":", 1)[1].strip("/"))
    return TCP4ClientEndpoint(reactor, "127.0.0.1", port)


@asynccontextmanager
async def serving(reactor, clock, handler, **options):
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    server = await ws.serve(handler, endpoint, reactor=clock, compression=None, **options)
    try:
        yield server
    finally:
        await server.close()
        closing = server.aclose()
        await run_clock_until(reactor, clock, lambda: closing.called)
        await closing
        await turns(reactor)


def connect(reactor, clock, uri, **options):
    return ws.connect(uri, reactor=clock, endpoint=client_endpoint(reactor, uri), **options)


async def raw_client(reactor, server):
    peer = Raw()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", server.port), peer)
    peer.transport.write(REQUEST)
    while b"\r\n\r\n" not in peer.received:
        await turns(reactor, 1)
    assert peer.received.startswith(b"HTTP/1.1 101")
    peer.received = peer.received.split(b"\r\n\r\n", 1)[1]
    return peer


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


# -- keepalive ---------------------------------------------------------------------------


async def test_keepalive_keeps_a_live_connection_open(reactor):
    clock = Clock()
    async with serving(reactor, clock, echo, ping_interval=None) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        client = await connect(reactor, clock, uri, ping_interval=20, ping_timeout=20)
        for _ in range(5):  # five keepalive rounds, each answered
            clock.advance(20)
            await client.send("round")  # the echo comes after the pong: in order on TCP
            assert await client.receive() == "round"
        assert client.close_code is None
        closing = client.close()
        await run_clock_until(reactor, clock, lambda: closing.called)


async def test_keepalive_fails_a_silent_peer(reactor):
    clock = Clock()
    async with raw_server(reactor) as uri:  # answers the handshake, then nothing
        client = await connect(reactor, clock, uri, ping_interval=20, ping_timeout=20)
        waited = await run_clock_until(reactor, clock, lambda: client.closed)
        assert waited >= 40
        assert client.close_code == 1006
        with pytest.raises(ws.WebSocketClosedError):
            await client.receive()


async def test_ping_returns_the_round_trip_on_the_reactors_clock(reactor):
    clock = Clock()
    async with serving(reactor, clock, echo, ping_interval=None) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        client = await connect(reactor, clock, uri, ping_interval=None)
        assert await client.ping(b"mine") == 0  # the clock did not move
        pinging = client.ping(b"again")
        clock.advance(3)  # the pong is on its way: three clock seconds pass meanwhile
        assert await pinging == 3
        closing = client.close()
        await run_clock_until(reactor, clock, lambda: closing.called)


# -- closing deadlines --------------------------------------------------------------------


async def test_close_timeout_against_a_peer_that_never_answers(reactor):
    clock = Clock()
    codes = []

    async def handler(websocket):
        await websocket.close()
        codes.append(websocket.close_code)

    async with serving(reactor, clock, handler, close_timeout=10) as server:
        peer = await raw_client(reactor, server)  # never answers the close
        waited = await run_clock_until(reactor, clock, lambda: codes)
        assert waited >= 10
        peer.transport.loseConnection()
        await peer.lost
    assert codes == [1006]


async def test_a_client_waits_for_the_server_to_close_tcp_but_not_forever(reactor):
    clock = Clock()

    def answer_close_keep_tcp(peer):
        if not getattr(peer, "closed_back", False):  # the client's close frame came
            peer.closed_back = True
            peer.transport.write(b"\x88\x02\x03\xe8")

    async with raw_server(reactor, after_close_frame=answer_close_keep_tcp) as uri:
        client = await connect(reactor, clock, uri, close_timeout=10, ping_interval=None)
        closing = client.close(1000)
        waited = await run_clock_until(reactor, clock, lambda: closing.called)
        await closing
        assert waited >= 10
        assert client.closed and client.close_code == 1000


async def test_open_timeout_on_both_sides(reactor):
    clock = Clock()
    async with raw_server(reactor, answer=False) as uri:
        opening = connect(reactor, clock, uri, open_timeout=10)
        await turns(reactor)
        clock.advance(10)
        with pytest.raises(TimeoutError):
            await opening
    async with serving(reactor, clock, echo, open_timeout=10) as server:
        peer = Raw()  # says nothing: the server gives up on it
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", server.port), peer)
        waited = await run_clock_until(reactor, clock, lambda: peer.lost.called)
        assert waited >= 10
        assert peer.received == b""


# -- connect() ---------------------------------------------------------------------------


async def test_connect_fires_with_a_websocket_that_is_an_async_context_manager(reactor):
    clock = Clock()
    async with serving(reactor, clock, echo, ping_interval=None) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        opening = connect(reactor, clock, uri)
        assert isinstance(opening, Deferred)
        async with await opening as client:
            await client.send("with")
            assert await client.receive() == "with"
            closing = Deferred.fromCoroutine(client.__aexit__(None, None, None))
            await run_clock_until(reactor, clock, lambda: closing.called)
        assert client.closed and client.close_code == 1000


# -- split invariance: what the peer sees does not depend on how TCP split it ----------

T, CONT, PING = 1, 0, 9
AUTOBAHN_SHAPES = {  # a valid message, then bad frames (Autobahn|Testsuite cases)
    "3.2": (frame(T, b"Hello"), frame(T, b"Hello", rsv=2) + frame(PING, b"Hello")),
    "3.3": (frame(T, b"Hello"), frame(T, b"Hello", rsv=3) + frame(PING, b"Hello")),
    "3.4": (frame(T, b"Hello"), frame(T, b"Hello", rsv=4) + frame(PING, b"Hello")),
    "4.1.3": (frame(T, b"Hello"), frame(3) + frame(PING)),
    "4.1.4": (frame(T, b"Hello"), frame(4, b"reserved") + frame(PING)),
    "4.1.5": (frame(T, b"Hello"), frame(5, b"\xff" * 100) + frame(PING)),
    "4.2.3": (frame(T, b"Hello"), frame(0xB) + frame(PING)),
    "4.2.4": (frame(T, b"Hello"), frame(0xC, b"reserved") + frame(PING)),
    "4.2.5": (frame(T, b"Hello"), frame(0xD, b"\xff" * 100) + frame(PING)),
    "5.15": (
        frame(T, b"frag1", fin=False) + frame(CONT, b"frag2"),
        frame(CONT, b"frag3", fin=False) + frame(CONT, b"frag4"),
    ),
}


async def what_the_peer_sees(reactor, chunks):
    """Send ``chunks`` a few reactor turns apart to our echo server; return its frames.

    Like a real peer, it stops sending once it has the server's close frame.
    """
    async with serving(reactor, Clock(), echo, ping_interval=None) as server:
        peer = await raw_client(reactor, server)
        for chunk in chunks:
            if any(opcode == 8 for opcode, _ in frames_of(peer.received)):
                break
            peer.transport.write(chunk)
            await turns(reactor)
        await peer.lost  # the server closes TCP after its close frame
        return frames_of(peer.received)


@pytest.mark.parametrize("case", sorted(AUTOBAHN_SHAPES))
async def test_messages_before_a_protocol_error_are_answered_however_split(reactor, case):
    good, bad = AUTOBAHN_SHAPES[case]
    expected = [(1, b"frag1frag2" if case == "5.15" else b"Hello"), (8, b"\x03\xea")]
    data = good + bad
    assert await what_the_peer_sees(reactor, [data]) == expected
    assert await what_the_peer_sees(reactor, [good, bad]) == expected
    bytewise = [data[i : i + 1] for i in range(len(data))]
    assert await what_the_peer_sees(reactor, bytewise) == expected


# -- the core's policy, seen through the adapter ------------------------------------------


def test_the_exceptions_are_the_cores():
    assert ws.WebSocketClosedError is tidewire_websocket.WebSocketClosedError
    assert ws.HandshakeRejected is tidewire_websocket.HandshakeRejected
    assert issubclass(ws.WebSocketClosedError, tidewire.StreamClosedError)


def test_a_uri_with_credentials_is_refused_at_once():
    with pytest.raises(ValueError, match="credentials"):
        ws.connect("ws://user:secret@127.0.0.1:9/")
