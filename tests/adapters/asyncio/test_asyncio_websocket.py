"""tidewire_asyncio.websocket against the websockets library (both roles) and raw sockets.

Every test runs real connections on loopback; the other side is never a
mock: it is websockets' asyncio client or server, or a raw TCP socket that
misbehaves on purpose.
"""

import base64
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import anyio.abc
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.client import unix_connect as ws_unix_connect
from websockets.asyncio.server import serve as ws_serve

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire_asyncio import ConnectionLostError
from tidewire_asyncio import websocket as ws_adapter

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
SIZES = [0, 1, 125, 126, 65535, 65536, MiB]


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def payloads(size):
    text = ("héllo wörld " * (size // 12 + 1))[:size]
    return [text, os.urandom(size)]


def serve_ours(handler=echo, **options):
    options.setdefault("ping_interval", None)
    return ws_adapter.serve(handler, "127.0.0.1", 0, **options)


class TheirServer:
    """websockets' asyncio server, as an async context manager with a URI."""

    def __init__(self, handler=None, **options):
        async def their_echo(websocket):
            async for message in websocket:
                await websocket.send(message)

        options.setdefault("ping_interval", None)
        self.context = ws_serve(handler or their_echo, "127.0.0.1", 0, **options)

    async def __aenter__(self):
        self.server = await self.context.__aenter__()
        self.uri = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        await self.context.__aexit__(*exc)


def uri(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


# -- messages both ways, sizes and compression ---------------------------------------


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_client_against_our_server(compression):
    async with serve_ours(compression=compression, max_message_size=16 * MiB) as server:
        client = await ws_connect(uri(server), compression=compression, max_size=None)
        async with client:
            assert bool(client.protocol.extensions) == bool(compression)
            for size in SIZES:
                for message in payloads(size):
                    await client.send(message)
                    assert await client.recv() == message


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_our_client_against_websockets_server(compression):
    async with TheirServer(compression=compression, max_size=None) as their:
        client = await ws_adapter.connect(
            their.uri, compression=compression, max_message_size=16 * MiB
        )
        async with client:
            assert bool(client.connection.extensions) == bool(compression)
            for size in SIZES:
                for message in payloads(size):
                    await client.send(message)
                    assert await client.receive() == message


async def test_sixteen_mebibytes_each_way():
    big_text = "0123456789abcdef" * MiB  # compresses well
    big_bytes = os.urandom(16 * MiB)  # does not
    async with serve_ours(max_message_size=16 * MiB) as server:
        client = await ws_connect(uri(server), max_size=None)
        async with client:
            await client.send(big_text)
            assert await client.recv() == big_text
    async with TheirServer(compression=None, max_size=None) as their:
        client = await ws_adapter.connect(their.uri, compression=None, max_message_size=16 * MiB)
        async with client:
            await client.send(big_bytes)
            assert await client.receive() == big_bytes


async def test_fragmented_messages_both_ways():
    pieces = [b"a" * 1000, b"b" * 70000, b"", b"c"]
    async with serve_ours() as server, ws_connect(uri(server)) as client:
        await client.send(pieces)  # websockets fragments an iterable
        assert await client.recv() == b"".join(pieces)
        await client.send(["frag", "mented ", "text"])
        assert await client.recv() == "fragmented text"
    async with TheirServer() as their, await ws_adapter.connect(their.uri) as client:
        await client.send(iter(pieces))
        assert await client.receive() == b"".join(pieces)

        async def text_pieces():
            for piece in ("à", "é", "ô"):
                yield piece

        await client.send(text_pieces())
        assert await client.receive() == "àéô"
        with pytest.raises(TypeError, match="at least one piece"):
            await client.send([])
        await client.send("still fine")
        assert await client.receive() == "still fine"
        # Mixed pieces: the message cannot be finished, so the connection is
        # failed with 1011 (test_websocket_interrupted.py has the details).
        with pytest.raises(TypeError, match="all str or all bytes"):
            await client.send(["text", b"bytes"])
        assert client.closed


async def test_streaming_a_large_message_in_bounded_pieces():
    size = 8 * MiB
    async with TheirServer(compression=None, max_size=None) as their:
        client = await ws_adapter.connect(
            their.uri, compression=None, streaming=True, max_message_size=size, max_queue=4
        )
        async with client:

            async def chunks():
                for _ in range(size // 65536):
                    yield b"z" * 65536

            await client.send(chunks())
            received = 0
            pieces = 0
            async for piece in client.receive_stream():
                assert piece == b"z" * len(piece)
                received += len(piece)
                pieces += 1
            assert received == size and pieces > 1
            await client.send("short")
            assert await client.receive() == "short"  # streaming mode joins for receive()
            await client.send("also short")
            pieces = [p async for p in client.receive_stream()]
            assert "".join(pieces) == "also short"


async def test_our_client_against_our_server_non_streaming_stream_api():
    async with serve_ours() as server, await ws_adapter.connect(uri(server)) as client:
        await client.send("whole")
        assert [p async for p in client.receive_stream()] == ["whole"]


# -- handshake: paths, subprotocols, headers, the request hook ---------------------------


async def test_request_hook_accepts_with_subprotocol_and_headers():
    seen = []

    def process_request(request):
        seen.append(request)
        return ws_adapter.AcceptConnection("chat.v2", headers=((b"X-Server", b"tidewire"),))

    async def handler(websocket):
        await websocket.send(f"{websocket.request.target} {websocket.subprotocol}")

    async with (
        serve_ours(handler, process_request=process_request) as server,
        ws_connect(
            uri(server, "/room?id=7"),
            subprotocols=["chat.v1", "chat.v2"],
            additional_headers={"X-Client": "websockets"},
        ) as client,
    ):
        assert client.subprotocol == "chat.v2"
        assert client.response.headers["X-Server"] == "tidewire"
        assert await client.recv() == "/room?id=7 chat.v2"
    assert (b"x-client", b"websockets") in seen[0].headers


async def test_request_hook_rejects_with_status_and_body():
    async def process_request(request):
        return ws_adapter.RejectConnection(403, ((b"X-Why", b"token"),), b"go away\n")

    async with serve_ours(process_request=process_request) as server:
        with pytest.raises(websockets.InvalidStatus) as info:
            await ws_connect(uri(server))
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"go away\n"
        assert info.value.response.headers["X-Why"] == "token"


def http_get(url):
    """A plain HTTP GET by the standard library's client: (status, headers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


async def test_plain_http_get_is_answered_by_its_hook_or_with_426():
    seen = []

    async def process_http(request):
        seen.append(request)
        if request.target == "/healthz":
            return ws_adapter.RejectConnection(200, ((b"Content-Type", b"text/plain"),), b"ok\n")
        return None

    def process_request(request):
        assert isinstance(request, ws_adapter.Request)  # never given a plain request

    async with serve_ours(process_request=process_request, process_http=process_http) as server:
        base = f"http://127.0.0.1:{server.port}"
        status, headers, body = await anyio.to_thread.run_sync(http_get, base + "/healthz")
        assert (status, headers["Content-Type"], body) == (200, "text/plain", b"ok\n")
        status, headers, body = await anyio.to_thread.run_sync(http_get, base + "/")
        assert (status, headers["Upgrade"]) == (426, "websocket")
        assert b"WebSocket client" in body
        # The same port still speaks WebSocket.
        async with ws_connect(uri(server)) as client:
            await client.send("still here")
            assert await client.recv() == "still here"
    assert [request.target for request in seen] == ["/healthz", "/"]
    assert all(isinstance(request, ws_adapter.HTTPRequest) for request in seen)


async def test_plain_http_get_without_a_hook_gets_426():
    async with serve_ours() as server:
        status, _, _ = await anyio.to_thread.run_sync(http_get, f"http://127.0.0.1:{server.port}/")
        assert status == 426


async def test_over_a_unix_socket(tmp_path):
    path = tmp_path / "ws.sock"
    async with ws_adapter.serve(echo, path=path):
        async with await ws_adapter.connect("ws://localhost/chat", path=path) as ours:
            await ours.send("ours")
            assert await ours.receive() == "ours"
        async with ws_unix_connect(str(path), "ws://localhost/chat") as theirs:
            await theirs.send(b"theirs")
            assert await theirs.recv() == b"theirs"


async def test_default_subprotocol_choice():
    async def handler(websocket):
        await websocket.send(str(websocket.subprotocol))

    async with serve_ours(handler, subprotocols=["b", "a"]) as server:
        async with ws_connect(uri(server), subprotocols=["a", "b"]) as client:
            assert await client.recv() == "b"
        async with ws_connect(uri(server), subprotocols=["c"]) as client:
            assert await client.recv() == "None"


async def test_our_client_handshake_options_and_rejection():
    def process_request(connection, request):
        if request.path == "/private":
            return connection.respond(401, "who are you?\n")
        assert request.headers["X-Token"] == "secret"
        return None

    async def handler(websocket):
        await websocket.send(f"{websocket.request.path} {websocket.subprotocol}")

    async with TheirServer(handler, process_request=process_request, subprotocols=["v1"]) as their:
        client = await ws_adapter.connect(
            their.uri + "/public?x=1",
            subprotocols=["v1"],
            extra_headers=[("X-Token", "secret")],
            open_timeout=5,
        )
        async with client:
            assert client.subprotocol == "v1"
            assert await client.receive() == "/public?x=1 v1"
            assert client.response.subprotocol == "v1"
        with pytest.raises(ws_adapter.HandshakeRejected) as info:
            await ws_adapter.connect(their.uri + "/private", extra_headers=[(b"X-Token", b"s")])
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"who are you?\n"


async def test_bad_uris_and_options():
    with pytest.raises(ValueError, match="not a WebSocket URI"):
        await ws_adapter.connect("http://example.com/")
    with pytest.raises(ValueError, match="compression"):
        await ws_adapter.connect("ws://127.0.0.1:1/", compression="brotli")


async def test_wss_with_tls(tls):
    server_ctx, client_ctx = tls
    async with serve_ours(ssl=server_ctx) as server:
        client = await ws_adapter.connect(
            f"wss://127.0.0.1:{server.port}/", ssl=client_ctx, server_hostname="localhost"
        )
        async with client:
            assert client.get_extra_info("ssl_object") is not None
            await client.send("secure")
            assert await client.receive() == "secure"


# -- pings and keepalive ---------------------------------------------------------------


async def test_pings_both_ways():
    async with serve_ours() as server, ws_connect(uri(server)) as client:
        latency = await (await client.ping(b"theirs"))
        assert latency >= 0
    async with TheirServer() as their, await ws_adapter.connect(their.uri) as client:
        assert await client.ping() >= 0
        assert await client.ping(b"mine") >= 0
        # A pong answers every earlier ping too.
        async with anyio.create_task_group() as tg:
            for payload in (b"1", b"2", b"3"):
                tg.start_soon(client.ping, payload)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.ping, b"same")
            await anyio.sleep(0)
            with pytest.raises(ValueError, match="already waiting"):
                await client.ping(b"same")


# -- every close path ------------------------------------------------------------------


async def test_their_client_closes_normally_or_with_a_code():
    codes = []

    async def handler(websocket):
        try:
            async for message in websocket:
                await websocket.send(message)
            codes.append(("clean", websocket.close_code, websocket.close_reason))
        except ws_adapter.WebSocketClosedError as exc:
            codes.append(("error", exc.code, exc.reason))

    async with serve_ours(handler) as server:
        for code in (1000, 4000):
            async with ws_connect(uri(server)) as client:
                await client.send("x")
                await client.recv()
                await client.close(code, "client done")
        await anyio.sleep(0.05)
    assert codes == [("clean", 1000, "client done"), ("error", 4000, "client done")]


async def test_our_handler_returning_closes_with_1000():
    async def handler(websocket):
        await websocket.send("bye")

    async with serve_ours(handler) as server, ws_connect(uri(server)) as client:
        assert await client.recv() == "bye"
        with pytest.raises(websockets.ConnectionClosedOK):
            await client.recv()
        assert client.close_code == 1000


async def test_handler_failure_closes_with_1011(caplog):
    async def handler(websocket):
        raise RuntimeError("boom")

    async with serve_ours(handler) as server, ws_connect(uri(server)) as client:
        with pytest.raises(websockets.ConnectionClosedError):
            await client.recv()
        assert client.close_code == 1011
    assert "boom" in caplog.text


async def test_our_client_closes_with_code_and_reason():
    seen = []

    async def handler(websocket):
        try:
            await websocket.recv()
        except websockets.ConnectionClosed:
            seen.append((websocket.close_code, websocket.close_reason))

    async with TheirServer(handler) as their:
        client = await ws_adapter.connect(their.uri)
        await client.close(4321, "all done")
        assert client.closed and client.close_code == 4321
        assert client.close_reason == "all done"
        await client.close()  # again: harmless
        with pytest.raises(ws_adapter.WebSocketClosedError, match="4321"):
            await client.send("late")
        await anyio.sleep(0.05)
    assert seen == [(4321, "all done")]


async def test_their_server_closes_with_an_error_code():
    async def handler(websocket):
        await websocket.send("first")
        await websocket.close(4001, "policy")

    async with TheirServer(handler) as their:
        client = await ws_adapter.connect(their.uri)
        assert await client.receive() == "first"
        with pytest.raises(ws_adapter.WebSocketClosedError) as info:
            async for _ in client:
                pass
        assert (info.value.code, info.value.reason, info.value.clean) == (4001, "policy", False)
        await client.wait_closed()
        assert client.close_code == 4001 and "closed" in repr(client)


async def test_their_server_closes_normally_ends_iteration():
    async def handler(websocket):
        await websocket.send("only")

    async with TheirServer(handler) as their, await ws_adapter.connect(their.uri) as client:
        assert [m async for m in client] == ["only"]
        assert client.close_code == 1000


async def test_graceful_shutdown_closes_everyone_with_1001():
    async with serve_ours() as server:
        clients = [await ws_connect(uri(server)) for _ in range(5)]
        ours = await ws_adapter.connect(uri(server))
        await anyio.sleep(0.05)
        assert len(server.websockets) == 6
    for client in clients:
        with pytest.raises(websockets.ConnectionClosedOK):
            await client.recv()
        assert client.close_code == 1001
    with pytest.raises(ws_adapter.WebSocketClosedError) as info:
        await ours.receive()
    assert info.value.code == 1001 and info.value.clean
    assert client.close_reason == "server shutting down"


async def test_graceful_shutdown_with_a_reason_of_ours():
    server = await ws_adapter.serve(echo, "127.0.0.1", 0).start()
    client = await ws_connect(uri(server))
    await server.aclose("maintenance")
    with pytest.raises(websockets.ConnectionClosedOK):
        await client.recv()
    assert (client.close_code, client.close_reason) == (1001, "maintenance")


async def test_peer_vanishing_without_close_is_1006():
    closed = anyio.Event()
    codes = []

    async def handler(websocket):
        with pytest.raises(ws_adapter.WebSocketClosedError):
            await websocket.receive()
        codes.append(websocket.close_code)
        closed.set()

    async with serve_ours(handler) as server:
        sock = await handshake(server.port)
        await sock.aclose()
        await closed.wait()
    assert codes == [1006]


async def test_invalid_close_code_is_refused_before_sending():
    async with serve_ours() as server, await ws_adapter.connect(uri(server)) as client:
        with pytest.raises(LocalProtocolError):
            await client.close(1006)
        await client.send("still open")
        assert await client.receive() == "still open"


# -- limits and faults -----------------------------------------------------------------


async def test_message_too_big_closes_with_1009():
    async with serve_ours(max_message_size=1000) as server, ws_connect(uri(server)) as client:
        await client.send(b"x" * 1001)
        with pytest.raises(websockets.ConnectionClosedError):
            await client.recv()
        assert client.close_code == 1009


async def test_slow_consumer_stops_reading_with_bounded_memory():
    stalled = anyio.Event()
    release = anyio.Event()
    state = {}

    async def handler(websocket):
        stalled.set()
        await release.wait()
        count = 0
        async for _ in websocket:
            count += 1
        state["count"] = count

    async with serve_ours(handler, max_queue=4, read_high_water=64 * 1024) as server:
        client = await ws_connect(uri(server), compression=None, write_limit=64 * 1024)
        await stalled.wait()
        sent = 0

        async def flood():
            nonlocal sent
            for _ in range(2000):
                await client.send(b"m" * 10_000)  # 20 MB in all
                sent += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(flood)
            (websocket,) = server.websockets
            await anyio.sleep(0.3)
            assert websocket.events.reading_paused
            assert websocket.events.read_backlog <= 64 * 1024 + 256 * 1024
            assert sent < 2000
            release.set()
        await client.close()
        await anyio.sleep(0.05)
    assert state["count"] == 2000


async def test_peer_reset_mid_message():
    codes = []
    done = anyio.Event()

    async def handler(websocket):
        with pytest.raises(ws_adapter.WebSocketClosedError):
            await websocket.receive()
        codes.append(websocket.close_code)
        done.set()

    async with serve_ours(handler) as server:
        sock = await handshake(server.port)
        # A masked binary frame announcing 1000 bytes, of which 10 arrive.
        await sock.send(b"\x82\xfe\x03\xe8" + b"\x00\x00\x00\x00" + b"y" * 10)
        await anyio.sleep(0.02)
        raw = sock.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        await sock.aclose()
        await done.wait()
    assert codes == [1006]


async def test_cancelled_receive_and_send_keep_the_connection_in_step():
    async with serve_ours() as server:
        client = await ws_adapter.connect(uri(server), compression=None)
        async with client:
            with anyio.move_on_after(0.05) as scope:
                await client.receive()
            assert scope.cancelled_caught
            await client.send("after a cancelled receive")
            assert await client.receive() == "after a cancelled receive"
    release = anyio.Event()

    async def never_reads(websocket):
        await release.wait()

    async with TheirServer(never_reads) as their:
        client = await ws_adapter.connect(their.uri, compression=None, write_high_water=1024)
        sent = 0
        with anyio.move_on_after(0.3):
            while True:  # the server never reads: the send buffer fills
                await client.send(b"q" * 100_000)
                sent += 1
        assert sent > 0
        assert client.events.transport.get_write_buffer_size() <= 1024 + 100_100
        client.abort()
        assert client.close_code == 1006
        release.set()


async def test_concurrent_receive_is_refused():
    async with serve_ours() as server:
        client = await ws_adapter.connect(uri(server))
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(client.receive)
            await anyio.sleep(0.01)
            with pytest.raises(RuntimeError, match="already receiving"):
                await client.receive()
            await client.send("unblock")


async def test_a_thousand_concurrent_connections_echo():
    count = 1000
    errors = []

    async def one(i):
        try:
            async with await ws_adapter.connect(uri(server), compression=None) as client:
                for j in range(3):
                    message = f"{i}:{j}"
                    await client.send(message)
                    assert await client.receive() == message
        except Exception as exc:  # collected, so one failure does not hide the rest
            errors.append(exc)

    server = serve_ours(compression=None, backlog=count)
    async with server, anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(one, i)
    assert errors == []


# -- raw-socket peers -------------------------------------------------------------------

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def handshake(port):
    """Open a raw TCP connection and complete the opening handshake by hand."""
    sock = await anyio.connect_tcp("127.0.0.1", port)
    await sock.send(REQUEST)
    response = b""
    while b"\r\n\r\n" not in response:
        response += await sock.receive()
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def accept_101(conn, request):
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key")
    )
    accept_key = base64.b64encode(
        hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    )
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key + b"\r\n\r\n"
    )


class silent_peer_server:
    """A TCP server (a thread) that answers the handshake with ``respond``, then reads nothing."""

    def __init__(self, respond=accept_101):
        self.respond = respond

    async def __aenter__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        return self.listener.getsockname()[1]

    def serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:  # closed before anyone came
            return
        self.held.append(conn)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        self.respond(conn, request)

    async def __aexit__(self, *exc):
        self.listener.close()
        await anyio.to_thread.run_sync(self.thread.join)
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize(
    ("respond", "error"),
    [
        (lambda conn, request: conn.sendall(b"NOT HTTP AT ALL\r\n\r\n"), RemoteProtocolError),
        (lambda conn, request: conn.shutdown(socket.SHUT_WR), ConnectionLostError),
    ],
)
async def test_broken_handshake_answers(respond, error):
    async with silent_peer_server(respond) as port:
        with pytest.raises(error):
            await ws_adapter.connect(f"ws://127.0.0.1:{port}/")


async def test_wss_verifies_certificates_by_default(tls):
    server_ctx, _ = tls
    async with serve_ours(ssl=server_ctx) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await ws_adapter.connect(f"wss://127.0.0.1:{server.port}/")


def test_max_queue_must_be_positive():
    with pytest.raises(ValueError, match="max_queue"):
        ws_adapter.WebSocket(None, None, None, max_queue=0)


async def test_the_echo_example_is_a_working_testee():
    """docs/examples/websocket_echo.py --port N: 16 MiB messages, permessage-deflate."""
    example = Path(__file__).parents[3] / "docs" / "examples" / "websocket_echo.py"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await anyio.open_process([sys.executable, str(example), "--port", str(port)])
    try:
        banner = b""
        while b"\n" not in banner:
            banner += await process.stdout.receive()
        assert f"ws://127.0.0.1:{port}".encode() in banner
        async with ws_connect(f"ws://127.0.0.1:{port}/", max_size=None) as client:
            assert client.protocol.extensions  # permessage-deflate was agreed
            for message in ("text stays text", b"\x00binary stays binary", b"b" * (16 * MiB)):
                await client.send(message)
                assert await client.recv() == message
            await client.send(b"b" * (16 * MiB + 1))
            with pytest.raises(websockets.ConnectionClosedError):
                await client.recv()
            assert client.close_code == 1009
    finally:
        process.kill()
        await process.wait()
        await process.aclose()


def test_the_type_hints_refuse_a_mapping_and_an_int(tmp_path):
    """mypy --strict rejects send({...}) and send(123), and accepts the documented forms."""
    checked = tmp_path / "sends.py"
    checked.write_text(
        textwrap.dedent(
            """
            from collections.abc import AsyncIterator
            from tidewire_asyncio.websocket import WebSocket

            async def pieces() -> AsyncIterator[str]:
                yield "a"

            async def use(ws: WebSocket) -> None:
                await ws.send("text")
                await ws.send(b"bytes")
                await ws.send(bytearray(b"x"))
                await ws.send(["a", "b"])
                await ws.send(iter([b"a", b"b"]))
                await ws.send(pieces())
                await ws.send({"a": 1, "bb": 2})  # refused
                await ws.send(123)  # refused
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(checked)],
        capture_output=True,
        text=True,
        check=False,
    )
    refused = [
        str(number)
        for number, line in enumerate(checked.read_text().splitlines(), 1)
        if line.endswith("# refused")
    ]
    assert result.stdout.startswith(str(checked)), result.stderr  # mypy ran: a test requirement
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == refused, result.stdout
    assert len(refused) == 2
