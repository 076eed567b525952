"""The Twisted WebSocket client and server against the ``websockets`` library, and each other.

Peers: ``websockets``' sync client and its asyncio server, each in a daemon
thread of its own (so the harness's reactor never waits for them), and our
own client and server. These cover what tests/adapters/asyncio/test_asyncio_websocket.py
checks against the same peers; the shared suite's WebSocket files map one for
one to test_twisted_websocket_interrupted.py and test_twisted_websocket_timers.py.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from contextlib import asynccontextmanager

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.task import deferLater

from tidewire_twisted import websocket as ws
from tidewire_websocket import RejectConnection


def in_thread(reactor, function, *args):
    """Run ``function`` in a daemon thread; the Deferred fires with its result."""
    done = Deferred()

    def run():
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the test through the Deferred
            reactor.callFromThread(done.errback, exc)
        else:
            reactor.callFromThread(done.callback, result)

    threading.Thread(target=run, daemon=True).start()
    return done


@asynccontextmanager
async def serving(handler, endpoint="tcp:0:interface=127.0.0.1", **options):
    options.setdefault("ping_interval", None)
    server = await ws.serve(handler, endpoint, **options)
    try:
        yield server
    finally:
        await server.aclose()
        await turn()


async def turn():
    from twisted.internet import reactor

    await deferLater(reactor, 0.01, lambda: None)


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


@asynccontextmanager
async def websockets_server(reactor, handler, **options):
    """A ``websockets`` asyncio server in a thread with its own loop; yields its port."""
    from websockets.asyncio.server import serve

    started = Deferred()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main():
        async with serve(handler, "127.0.0.1", 0, **options) as server:
            port = server.sockets[0].getsockname()[1]
            reactor.callFromThread(started.callback, port)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    port = await started
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        await in_thread(reactor, thread.join, 10)
        loop.close()


# -- our server, websockets' client --------------------------------------------------------


def websockets_exchange(port, path="/", **options):
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}{path}", **options) as client:
        client.send("hello")
        text = client.recv()
        client.send(b"\x00\xff" * 50_000)
        binary = client.recv()
        client.send(["frag", "mented"])
        fragmented = client.recv()
        return text, binary, fragmented, client.subprotocol, client.response.headers


async def test_our_server_echoes_websockets_client_with_compression(reactor):
    requests = []

    def process_request(request):
        requests.append(request)

    async with serving(
        echo, subprotocols=["chat", "echo"], process_request=process_request
    ) as server:
        text, binary, fragmented, subprotocol, headers = await in_thread(
            reactor, lambda: websockets_exchange(server.port, "/room?x=1", subprotocols=["echo"])
        )
    assert (text, binary, fragmented) == ("hello", b"\x00\xff" * 50_000, "fragmented")
    assert subprotocol == "echo"
    assert headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert requests[0].target == "/room?x=1"


async def test_process_request_rejects_and_process_http_answers(reactor):
    from websockets.exceptions import InvalidStatus

    def process_request(request):
        if request.target == "/private":
            return RejectConnection(403, body=b"no\n")
        return None

    async def process_http(request):
        await turn()  # a hook may wait
        return RejectConnection(200, ((b"Content-Type", b"text/plain"),), b"healthy\n")

    async with serving(echo, process_request=process_request, process_http=process_http) as s:
        with pytest.raises(InvalidStatus) as info:
            await in_thread(reactor, websockets_exchange, s.port, "/private")
        assert info.value.response.status_code == 403
        body = await in_thread(
            reactor, lambda: urllib.request.urlopen(f"http://127.0.0.1:{s.port}/").read()
        )
    assert body == b"healthy\n"


async def test_our_client_gets_handshake_rejected(reactor):
    async with serving(echo, process_request=lambda r: RejectConnection(403)) as server:
        with pytest.raises(ws.HandshakeRejected) as info:
            await ws.connect(f"ws://127.0.0.1:{server.port}/")
    assert info.value.response.status_code == 403


async def test_a_failing_handler_closes_with_1011_and_the_server_goes_on(reactor, caplog):
    async def handler(websocket):
        message = await websocket.receive()
        if message == "fail":
            raise RuntimeError("the handler broke")
        await websocket.send(message)

    async with serving(handler) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        failing = await ws.connect(uri, ping_interval=None)
        await failing.send("fail")
        with pytest.raises(ws.WebSocketClosedError) as info:
            await failing.receive()
        assert info.value.code == 1011
        working = await ws.connect(uri, ping_interval=None)
        await working.send("fine")
        assert await working.receive() == "fine"
        await working.close()
        assert working.close_code == 1000
    assert "the WebSocket handler failed" in caplog.text


async def test_graceful_shutdown_closes_every_connection_with_1001(reactor):
    async with serving(echo) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        clients = [await ws.connect(uri, ping_interval=None) for _ in range(3)]
        await clients[0].send("before")
        assert await clients[0].receive() == "before"
        assert len(server.websockets) == 3
        await server.aclose()
        for client in clients:
            with pytest.raises(ws.WebSocketClosedError) as info:
                await client.receive()
            assert info.value.code == 1001
            assert client.close_reason == "server shutting down"
        assert not server.websockets


async def test_a_handler_ignoring_the_shutdown_is_cancelled_after_close_timeout(reactor):
    cancelled = []

    async def stubborn(websocket):
        try:
            await Deferred()  # never looks at the connection again
        except CancelledError:
            cancelled.append(True)
            raise

    async with serving(stubborn, close_timeout=0.2) as server:
        client = await ws.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None)
        await server.aclose()
        await client.wait_closed()
    assert cancelled == [True]
    assert client.close_code == 1001


# -- our client, websockets' server --------------------------------------------------------


async def test_our_client_against_websockets_server(reactor):
    async def handler(connection):
        async for message in connection:
            await connection.send(message)

    async with websockets_server(reactor, handler, subprotocols=["v2", "v1"]) as port:
        client = await ws.connect(
            f"ws://127.0.0.1:{port}/",
            subprotocols=["v1"],
            extra_headers=[("X-Test", "yes")],
            ping_interval=None,
        )
        assert client.subprotocol == "v1"
        assert client.connection.extensions  # permessage-deflate agreed
        await client.send("text")
        assert await client.receive() == "text"
        await client.send(iter([b"a", b"b"]))
        assert await client.receive() == b"ab"
        big = "x" * 300_000
        await client.send(big)
        assert await client.receive() == big
        assert 0 <= await client.ping() < 10
        await client.close(4000, "bye")
        assert client.close_code == 4000


async def test_a_cancelled_connect_stops_the_attempt(reactor):
    async with serving(echo, process_request=lambda request: Deferred()) as server:
        opening = ws.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None)
        await turn()
        assert not opening.called  # the server's hook never answers
        opening.cancel()
        with pytest.raises(CancelledError):
            await opening


# -- TLS and Unix sockets come from Twisted's endpoints --------------------------------------


# Twisted's certificate options hand pyOpenSSL its own X509 objects, which
# pyOpenSSL 24.3+ deprecates: Twisted's warning, not ours.
@pytest.mark.filterwarnings(
    "ignore:Passing pyOpenSSL (X509|PKey) objects is deprecated:DeprecationWarning"
)
async def test_wss_with_twisted_tls(reactor, twisted_tls):
    server_tls, client_tls = twisted_tls
    async with serving(echo, "tcp:0:interface=127.0.0.1", ssl=server_tls) as server:
        client = await ws.connect(
            f"wss://localhost:{server.port}/",
            ssl=client_tls,
            endpoint=f"tcp:127.0.0.1:{server.port}",
            ping_interval=None,
        )
        await client.send("secret")
        assert await client.receive() == "secret"
        assert client.get_extra_info("peercert") is not None
        await client.close()


async def test_a_unix_socket_endpoint(reactor, tmp_path):
    path = tmp_path / "ws.sock"
    async with serving(echo, f"unix:{path}"):
        client = await ws.connect(
            "ws://localhost/over-unix",
            endpoint=UNIXClientEndpoint(reactor, str(path)),
            ping_interval=None,
        )
        await client.send("local")
        assert await client.receive() == "local"
        await client.close()


# -- the callback idiom ----------------------------------------------------------------------


class Shout(ws.WebSocketProtocol):
    """Upper-cases text; each answer is sent before the next message is taken."""

    def __init__(self, log):
        self.log = log

    def connectionMade(self):
        self.log.append(("made", self.websocket.request.target))

    def messageReceived(self, message):
        return self.websocket.send(message.upper())

    def connectionLost(self, code, reason):
        self.log.append(("lost", code))


async def test_the_callback_idiom_serves_and_connects(reactor):
    log = []
    async with serving(Shout.handler(log)) as server:

        def exchange():
            from websockets.sync.client import connect

            with connect(f"ws://127.0.0.1:{server.port}/loud") as client:
                client.send("hello")
                return client.recv()

        assert await in_thread(reactor, exchange) == "HELLO"
        await turn()
        assert log == [("made", "/loud"), ("lost", 1000)]

        received = Deferred()

        class Collect(ws.WebSocketProtocol):
            def messageReceived(self, message):
                received.callback(message)

        client = await ws.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None)
        running = Collect().run(client)
        await client.send("quiet")
        assert await received == "QUIET"
        await client.close()
        await running
