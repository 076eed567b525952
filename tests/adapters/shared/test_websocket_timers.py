"""Keepalive, timeouts and split invariance of the WebSocket layer, on virtual time.

The deadlines are the core's, on the loop's clock (the ``virtual_clock``
fixture jumps it to the next timer when nothing else can run), so a 20 s
keepalive or a 10 s close timeout passes in milliseconds. The peers are our
own client and server, or a raw TCP peer that misbehaves on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
from contextlib import asynccontextmanager

import adapter_under_test
import anyio
import anyio.abc
import pytest

import tidewire
import tidewire_websocket
from tidewire_websocket import apply_mask

pytestmark = pytest.mark.anyio


@pytest.fixture
def ws(adapter):
    """The adapter's WebSocket module."""
    return importlib.import_module(f"{adapter.__name__}.websocket")


KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame."""
    mask = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, 0x80 | len(payload)])
    return head + mask + apply_mask(payload, mask)


def frames_of(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame, all shorter than 126 bytes."""
    out = []
    while data:
        size = data[1] & 0x7F
        out.append((data[0] & 0x0F, data[2 : 2 + size]))
        data = data[2 + size :]
    return out


async def read_head(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    return data


async def read_all(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return data


@asynccontextmanager
async def raw_server(after_handshake=None, *, answer=True):
    """A TCP server that answers the opening handshake (or not), then runs ``after_handshake``."""

    async def handle(stream):
        async with stream:
            head = await read_head(stream)
            if answer:
                key = head.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
                accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
                await stream.send(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
            if after_handshake is not None:
                await after_handshake(stream)
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        yield f"ws://127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}/"
        group.cancel_scope.cancel()


async def raw_client(server) -> anyio.abc.SocketStream:
    """A TCP connection to ``server`` past the opening handshake."""
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    await stream.send(REQUEST)
    assert (await read_head(stream)).startswith(b"HTTP/1.1 101")
    return stream


def serve(ws, handler, **options):
    return ws.serve(handler, "127.0.0.1", 0, compression=None, **options)


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


# -- keepalive ---------------------------------------------------------------------------


async def test_keepalive_keeps_a_live_connection_open(ws, virtual_clock):
    async with (
        serve(ws, echo) as server,
        ws.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=20, ping_timeout=20) as client,
    ):
        start = virtual_clock()
        await anyio.sleep(100)  # five keepalive rounds, each answered
        assert virtual_clock() - start >= 100
        await client.send("alive")
        assert await client.receive() == "alive"
        assert client.close_code is None


async def test_keepalive_fails_a_silent_peer(ws, virtual_clock):
    async with (
        raw_server() as uri,  # answers the handshake, then nothing
        ws.connect(uri, ping_interval=20, ping_timeout=20) as client,
    ):
        start = virtual_clock()
        await client.wait_closed()
        assert virtual_clock() - start >= 40
        assert client.close_code == 1006
        with pytest.raises(ws.WebSocketClosedError):
            await client.receive()


async def test_ping_returns_the_round_trip_on_the_loops_clock(ws, virtual_clock):
    async with (
        serve(ws, echo) as server,
        ws.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None) as client,
    ):
        assert 0 <= await client.ping(b"mine") < 1


# -- closing deadlines --------------------------------------------------------------------


async def test_close_timeout_against_a_peer_that_never_answers(ws, virtual_clock):
    codes = []
    done = anyio.Event()

    async def handler(websocket):
        await websocket.close()
        codes.append(websocket.close_code)
        done.set()

    async with serve(ws, handler, close_timeout=10) as server:
        stream = await raw_client(server)  # never answers the close
        async with stream:
            start = virtual_clock()
            await done.wait()
            assert virtual_clock() - start >= 10
    assert codes == [1006]


async def test_a_client_waits_for_the_server_to_close_tcp_but_not_forever(ws, virtual_clock):
    async def answer_close_keep_tcp(stream):
        await stream.receive()  # the client's close frame
        await stream.send(b"\x88\x02\x03\xe8")

    async with (
        raw_server(answer_close_keep_tcp) as uri,
        ws.connect(uri, close_timeout=10, ping_interval=None) as client,
    ):
        start = virtual_clock()
        await client.close(1000)
        assert virtual_clock() - start >= 10
        assert client.closed and client.close_code == 1000


async def test_open_timeout_on_both_sides(ws, virtual_clock):
    async with raw_server(answer=False) as uri:
        with pytest.raises(TimeoutError):
            async with ws.connect(uri, open_timeout=10):
                pass
    async with serve(ws, echo, open_timeout=10) as server:
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:  # says nothing: the server gives up on it
            start = virtual_clock()
            assert await read_all(stream) == b""
            assert virtual_clock() - start >= 10


# -- connect() both ways ------------------------------------------------------------------


async def test_connect_is_an_async_context_manager_and_awaitable_on_asyncio(ws):
    async with serve(ws, echo, ping_interval=None) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        async with ws.connect(uri) as client:
            await client.send("with")
            assert await client.receive() == "with"
        assert client.closed and client.close_code == 1000
        if adapter_under_test.name != "asyncio":
            # Its reader task lives in a nursery the async with owns (see the guide).
            with pytest.raises(TypeError, match="async with"):
                await ws.connect(uri)
            return
        client = await ws.connect(uri)
        async with client:
            await client.send("await")
            assert await client.receive() == "await"


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


async def what_the_peer_sees(ws, chunks: list[bytes]) -> list[tuple[int, bytes]]:
    """Send ``chunks`` one read apart to our echo server; return the frames it answers.

    Like a real peer, it stops sending once it has the server's close frame
    (sending on would earn a reset, which drops what was not read yet).
    """
    async with serve(ws, echo, ping_interval=None) as server:
        stream = await raw_client(server)
        async with stream:
            seen = b""
            for chunk in chunks:
                if any(opcode == 8 for opcode, _ in frames_of(seen)):
                    break
                await stream.send(chunk)
                await anyio.sleep(1)  # virtual: the server has read and answered it
                with anyio.move_on_after(1):
                    seen += await stream.receive()
            return frames_of(seen + await read_all(stream))


@pytest.mark.parametrize("case", sorted(AUTOBAHN_SHAPES))
async def test_messages_before_a_protocol_error_are_answered_however_split(ws, virtual_clock, case):
    good, bad = AUTOBAHN_SHAPES[case]
    expected = [(1, b"frag1frag2" if case == "5.15" else b"Hello"), (8, b"\x03\xea")]
    data = good + bad
    assert await what_the_peer_sees(ws, [data]) == expected
    assert await what_the_peer_sees(ws, [good, bad]) == expected
    bytewise = [data[i : i + 1] for i in range(len(data))]
    assert await what_the_peer_sees(ws, bytewise) == expected


# -- the core's policy, seen through the adapter ------------------------------------------


def test_the_exceptions_are_the_cores(ws):
    assert ws.WebSocketClosedError is tidewire_websocket.WebSocketClosedError
    assert ws.HandshakeRejected is tidewire_websocket.HandshakeRejected
    assert issubclass(ws.WebSocketClosedError, tidewire.StreamClosedError)


def test_a_uri_with_credentials_is_refused_at_once(ws):
    with pytest.raises(ValueError, match="credentials"):
        ws.connect("ws://user:secret@127.0.0.1:9/")
