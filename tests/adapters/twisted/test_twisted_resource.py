"""A WebSocketResource in a twisted.web Site: pages and a WebSocket endpoint on one port.

tests/adapters/shared/test_browser.py -> here:
  test_chromium_exchanges_text_and_binary -> same name, the page itself served
    by the same Site as the WebSocket endpoint (one port, as the issue asks)
Besides: ordinary pages next to it, websockets' client through the
resource (compression, a message sent right behind the request), a plain
GET of the resource (426), graceful aclose (1001), and TLS through an
"ssl:"-wrapped Site.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from contextlib import asynccontextmanager

import chromium  # loaded by tests/adapters/conftest.py
import pytest
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import deferLater
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Site

from tidewire_twisted import websocket as ws
from tidewire_twisted.resource import WebSocketResource


def in_thread(reactor, function):
    done = Deferred()

    def run():
        try:
            result = function()
        except BaseException as exc:  # handed to the test through the Deferred
            reactor.callFromThread(done.errback, exc)
        else:
            reactor.callFromThread(done.callback, result)

    threading.Thread(target=run, daemon=True).start()
    return done


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


class Root(Resource):
    """An ordinary page at ``/``, the WebSocket resource at ``/ws``, 404 elsewhere."""

    def __init__(self, page, websocket):
        super().__init__()
        self.page, self.websocket = page, websocket

    def getChild(self, name, request):
        if name == b"ws":
            return self.websocket
        return self if name == b"" else notFound()

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html")
        return self.page


@asynccontextmanager
async def site(reactor, resource, page=b"<p>a page</p>", description="tcp:0:interface=127.0.0.1"):
    port = await serverFromString(reactor, description).listen(Site(Root(page, resource)))
    try:
        yield port.getHost().port
    finally:
        await resource.aclose()
        await port.stopListening()
        await deferLater(reactor, 0.01, lambda: None)


def fetch(url):
    with urllib.request.urlopen(url) as response:
        return response.status, response.read()


async def test_a_page_and_a_websocket_on_one_port(reactor):
    resource = WebSocketResource(echo, ping_interval=None)
    async with site(reactor, resource) as port:

        def exchange():
            from websockets.sync.client import connect

            with connect(f"ws://127.0.0.1:{port}/ws") as client:
                client.send("hello")
                text = client.recv()
                client.send(b"\x01" * 200_000)
                binary = client.recv()
                return text, binary, client.response.headers

        assert await in_thread(reactor, lambda: fetch(f"http://127.0.0.1:{port}/")) == (
            200,
            b"<p>a page</p>",
        )
        text, binary, headers = await in_thread(reactor, exchange)
        assert (text, binary) == ("hello", b"\x01" * 200_000)
        assert headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        # The Site still serves pages after handing connections over.
        assert (await in_thread(reactor, lambda: fetch(f"http://127.0.0.1:{port}/")))[0] == 200


async def test_frames_right_behind_the_request_reach_the_websocket(reactor):
    """Bytes in the same TCP segment as the request are the WebSocket's, not twisted.web's."""
    import socket

    from tidewire_websocket import apply_mask

    resource = WebSocketResource(echo, ping_interval=None, compression=None)
    async with site(reactor, resource) as port:

        def raw():
            mask = b"\x01\x02\x03\x04"
            frame = bytes([0x81, 0x80 | 5]) + mask + apply_mask(b"early", mask)
            request = (
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request + frame)
                data = b""
                while not data.endswith(b"early"):
                    data += sock.recv(4096)
                return data

        answer = await in_thread(reactor, raw)
    assert answer.startswith(b"HTTP/1.1 101")
    assert answer.endswith(b"\x81\x05early")


async def test_a_plain_get_of_the_resource_gets_426(reactor):
    resource = WebSocketResource(echo)
    async with site(reactor, resource) as port:
        with pytest.raises(urllib.error.HTTPError) as info:
            await in_thread(reactor, lambda: fetch(f"http://127.0.0.1:{port}/ws"))
    info.value.close()
    assert info.value.code == 426
    assert info.value.headers["Upgrade"] == "websocket"


async def test_a_bad_upgrade_request_gets_the_cores_400_not_a_reset(reactor):
    """The core's HTTP error answer goes out whole, as with the asyncio adapter."""
    import socket

    resource = WebSocketResource(echo)
    async with site(reactor, resource) as port:

        def raw():
            request = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"  # no Connection
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                return data

        answer = await in_thread(reactor, raw)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"\r\n\r\nthe Connection header does not include upgrade\n")


async def test_aclose_closes_every_connection_with_1001_and_refuses_new_ones(reactor):
    resource = WebSocketResource(echo, ping_interval=None)
    async with site(reactor, resource) as port:
        uri = f"ws://127.0.0.1:{port}/ws"
        clients = [await ws.connect(uri, ping_interval=None) for _ in range(2)]
        assert len(resource.websockets) == 2
        await resource.aclose()
        for client in clients:
            with pytest.raises(ws.WebSocketClosedError) as info:
                await client.receive()
            assert info.value.code == 1001
        with pytest.raises(ws.HandshakeRejected) as refused:
            await ws.connect(uri, ping_interval=None)
        assert refused.value.response.status_code == 503


@pytest.mark.filterwarnings(  # Twisted's use of pyOpenSSL, not ours
    "ignore:Passing pyOpenSSL (X509|PKey) objects is deprecated:DeprecationWarning"
)
async def test_the_resource_over_tls(reactor, tls_files, twisted_tls):
    key, _ = tls_files
    _, client_tls = twisted_tls
    resource = WebSocketResource(echo, ping_interval=None)
    description = f"ssl:0:interface=127.0.0.1:privateKey={key}"
    async with site(reactor, resource, description=description) as port:
        client = await ws.connect(
            f"wss://localhost:{port}/ws",
            ssl=client_tls,
            endpoint=f"tcp:127.0.0.1:{port}",
            ping_interval=None,
        )
        await client.send("over tls")
        assert await client.receive() == "over tls"
        await client.close()
        assert client.close_code == 1000


PAGE = """<!doctype html>
<html><body><pre id="log">starting</pre><script>
const log = (line) => { document.getElementById("log").textContent += "\\n" + line; };
const ws = new WebSocket("ws://" + location.host + "/ws/browser?run=1", ["tidewire.test"]);
ws.binaryType = "arraybuffer";
const seen = [];
ws.onopen = () => {
  ws.send("hello from chromium");
  ws.send(new Uint8Array([0, 1, 2, 254, 255]).buffer);
  ws.send("x".repeat(1 << 20));
};
ws.onmessage = (event) => {
  seen.push(typeof event.data === "string"
    ? "text:" + event.data
    : "binary:" + Array.from(new Uint8Array(event.data)).join(","));
  if (seen.length === 3) {
    ws.send("RESULT " + JSON.stringify({
      seen: seen, protocol: ws.protocol, extensions: ws.extensions}));
  }
};
ws.onclose = (event) => log("closed " + event.code);
ws.onerror = () => log("error");
</script></body></html>
"""


async def test_chromium_exchanges_text_and_binary(reactor, tmp_path):
    results = []
    got_result = Deferred()
    requests = []

    def process_request(request):
        requests.append(request)

    async def handler(websocket):
        async for message in websocket:
            if isinstance(message, bytes):
                await websocket.send(bytes(255 - b for b in message))
            elif message.startswith("RESULT "):
                results.append(json.loads(message[7:]))
                got_result.callback(None)
                return
            elif len(message) > 1000:
                await websocket.send(f"{len(message)} chars")
            else:
                await websocket.send(message[::-1])

    resource = WebSocketResource(
        handler,
        subprotocols=["tidewire.test"],
        process_request=process_request,
        max_message_size=4 * 1024 * 1024,
        ping_interval=None,
    )
    async with site(reactor, resource, page=PAGE.encode()) as port:
        with chromium.headless(f"http://127.0.0.1:{port}/", tmp_path / "profile"):
            await got_result.addTimeout(60, reactor)
    (result,) = results
    assert result["seen"] == [
        "text:muimorhc morf olleh",
        "binary:255,254,253,1,0",
        "text:1048576 chars",
    ]
    assert result["protocol"] == "tidewire.test"
    assert result["extensions"].startswith("permessage-deflate")
    assert requests[0].target == "/ws/browser?run=1"
    assert any(name == b"user-agent" and b"Chrome" in value for name, value in requests[0].headers)
