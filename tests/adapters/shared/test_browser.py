"""A real browser (Debian's headless chromium) talks to our WebSocket server.

The page opens a connection offering a subprotocol, exchanges text, binary and
a 1 MiB message, and reports what it saw over the same connection. Chromium
must be installed (``apt-get install chromium``; ``.ci/run`` does it): a
missing browser fails this test, it is never skipped.
"""

import json

import anyio
import chromium  # loaded by conftest.py
import pytest
from adapter_under_test import adapter

ws_adapter = adapter.websocket

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html>
<html><body><pre id="log">starting</pre><script>
const log = (line) => { document.getElementById("log").textContent += "\\n" + line; };
const ws = new WebSocket("ws://127.0.0.1:%(port)d/browser?run=1", ["tidewire.test"]);
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


async def test_chromium_exchanges_text_and_binary(tmp_path):
    results = []
    got_result = anyio.Event()
    requests = []

    def process_request(request):
        requests.append(request)

    async def handler(websocket):
        async for message in websocket:
            if isinstance(message, bytes):
                await websocket.send(bytes(255 - b for b in message))
            elif message.startswith("RESULT "):
                results.append(json.loads(message[7:]))
                got_result.set()
                return
            elif len(message) > 1000:
                await websocket.send(f"{len(message)} chars")
            else:
                await websocket.send(message[::-1])

    async with ws_adapter.serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["tidewire.test"],
        process_request=process_request,
        max_message_size=4 * 1024 * 1024,
        ping_interval=None,
    ) as server:
        page = tmp_path / "page.html"
        page.write_text(PAGE % {"port": server.port})
        with chromium.headless(page.as_uri(), tmp_path / "profile"):
            with anyio.fail_after(60):
                await got_result.wait()
    (result,) = results
    assert result["seen"] == [
        "text:muimorhc morf olleh",
        "binary:255,254,253,1,0",
        "text:1048576 chars",
    ]
    assert result["protocol"] == "tidewire.test"
    assert result["extensions"].startswith("permessage-deflate")
    assert requests[0].target == "/browser?run=1"
    assert any(name == b"user-agent" and b"Chrome" in value for name, value in requests[0].headers)
