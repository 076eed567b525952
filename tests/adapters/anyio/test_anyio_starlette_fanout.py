"""docs/examples/starlette_fanout: Starlette, tidewire-anyio's Redis client and real peers.

The application serves with hypercorn on the test's own backend (asyncio,
then trio), fans Redis pub/sub out to WebSocket clients that are not ours
(the websockets library's threaded client), and takes messages published
by any Redis client (here a raw socket speaking RESP).
"""

import functools
import socket
import sys
from pathlib import Path

import anyio
import hypercorn.asyncio
import hypercorn.trio
import pytest
import redis_server
from hypercorn.config import Config
from websockets.sync.client import connect as sync_connect

sys.path.insert(0, str(Path(__file__).parents[3] / "docs" / "examples"))
from starlette_fanout import create_app

pytestmark = pytest.mark.anyio


def _publish(redis_port, channel, text):
    """PUBLISH from a client that is not ours: RESP written by hand on a plain socket."""
    args = [b"PUBLISH", channel.encode(), text.encode()]
    command = b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection(("127.0.0.1", redis_port), timeout=10) as sock:
        sock.sendall(command)
        assert sock.recv(100).startswith(b":")  # how many subscribers got it


def _ready(ws, text):
    """Send ``text`` and read until it comes back: this client is in its room now."""
    ws.send(text)
    while ws.recv(timeout=10) != text:
        pass


def _talk(port, redis_port):
    uri = f"ws://127.0.0.1:{port}/ws/"
    with (
        sync_connect(uri + "lobby") as b,
        sync_connect(uri + "lobby") as a,
        sync_connect(uri + "other") as c,
    ):
        _ready(b, "b-ready")
        _ready(a, "a-ready")
        _ready(c, "c-ready")
        assert b.recv(timeout=10) == "a-ready"  # b was in the lobby before a said it
        a.send("hello")
        got = {"a": [a.recv(timeout=10)], "b": [b.recv(timeout=10)]}
        _publish(redis_port, "room:lobby", "from redis")
        _publish(redis_port, "room:other", "other room")
        for name, ws in (("a", a), ("b", b)):
            got[name].append(ws.recv(timeout=10))
        return got, c.recv(timeout=10)


async def _listening(port):
    with anyio.fail_after(10):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.02)
            else:
                await stream.aclose()
                return


async def test_starlette_fans_redis_messages_out_to_websocket_clients(server, anyio_backend):
    backend = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    serve = hypercorn.trio.serve if backend == "trio" else hypercorn.asyncio.serve
    config = Config()
    port = redis_server.free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        app = create_app(server.url)
        tg.start_soon(functools.partial(serve, app, config, shutdown_trigger=stop.wait))
        await _listening(port)
        got, other = await anyio.to_thread.run_sync(_talk, port, server.port)
        stop.set()
    assert got == {"a": ["hello", "from redis"], "b": ["hello", "from redis"]}
    assert other == "other room"  # the lobby's messages never reached the other room
