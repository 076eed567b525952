"""tidewire-anyio's protocol layers as anyio code sees them, on both anyio backends.

LineStream and WebSocket are anyio ObjectStreams (generic anyio code drives
them), servers start with TaskGroup.start, the WebSocket and Redis
connections are async with only, and the WebSocket talks to a real peer
that is not ours (the websockets library's threaded client and server)
whichever backend runs the test.
"""

import threading

import anyio
import anyio.abc
import pytest
from websockets.sync.client import connect as sync_connect
from websockets.sync.server import serve as sync_serve

import tidewire_anyio
from tidewire_anyio import lines, resp, websocket

pytestmark = pytest.mark.anyio


async def echo_all(objects: anyio.abc.ObjectStream) -> list:
    """Generic anyio code: echo every object until the end of the stream, then say how many."""
    seen = []
    async for item in objects:
        seen.append(item)
        await objects.send(item)
    return seen


async def upper_lines(stream):
    async for line in stream:
        await stream.send_line(line.upper())


async def test_a_line_stream_is_an_anyio_object_stream():
    async with anyio.create_task_group() as tg:
        server = await tg.start(lines.serve, upper_lines, "127.0.0.1", 0)
        async with lines.connect("127.0.0.1", server.port, encoding="utf-8") as stream:
            assert isinstance(stream, anyio.abc.ObjectStream)
            await stream.send("hello")
            assert await stream.receive() == "HELLO"
            assert stream.extra(anyio.abc.SocketAttribute.remote_port) == server.port
            await stream.send_eof()
            with pytest.raises(anyio.EndOfStream) as ended:
                await stream.receive()
            assert isinstance(ended.value, tidewire_anyio.EndOfStream)
        tg.cancel_scope.cancel()


async def test_generic_anyio_code_drives_a_line_server():
    results = []

    async def handler(stream):
        results.append(await echo_all(stream))

    async with (
        lines.serve(handler, "127.0.0.1", 0) as server,
        lines.connect("127.0.0.1", server.port) as stream,
    ):
        for line in (b"one", b"two"):
            await stream.send_line(line)
            assert await stream.receive_line() == line
        await stream.send_eof()
        with pytest.raises(anyio.EndOfStream):
            await stream.receive_line()
    assert results == [[b"one", b"two"]]


async def test_a_websocket_is_an_anyio_object_stream():
    results = []

    async def handler(ws):
        assert isinstance(ws, anyio.abc.ObjectStream)
        results.append(await echo_all(ws))

    async with anyio.create_task_group() as tg:
        server = await tg.start(websocket.serve, handler, "127.0.0.1", 0)
        assert isinstance(server, websocket.WebSocketServer)
        async with websocket.connect(f"ws://127.0.0.1:{server.port}/") as client:
            await client.send("text")
            assert await client.receive() == "text"
            await client.send(b"bytes")
            assert await client.receive() == b"bytes"
            await client.send_eof()  # begins the closing handshake with 1000
            await client.wait_closed()
        assert client.close_code == 1000
        tg.cancel_scope.cancel()
    assert results == [["text", b"bytes"]]


async def test_websocket_and_redis_connections_are_async_with_only():
    with pytest.raises(TypeError, match="async with"):
        await websocket.connect("ws://127.0.0.1:1/")
    with pytest.raises(TypeError, match="async with"):
        await resp.connect("redis://127.0.0.1:1")


async def test_our_server_answers_the_websockets_library():
    async def handler(ws):
        async for message in ws:
            await ws.send(message[::-1])

    def talk(port):
        with sync_connect(f"ws://127.0.0.1:{port}/") as peer:
            peer.send("stressed")
            reply = peer.recv(timeout=10)
            peer.ping().wait(10)
            return reply

    async with websocket.serve(handler, "127.0.0.1", 0) as server:
        assert await anyio.to_thread.run_sync(talk, server.port) == "desserts"


async def test_our_client_talks_to_the_websockets_library():
    def handler(peer):
        for message in peer:
            peer.send(message * 2)

    with sync_serve(handler, "127.0.0.1", 0) as peer_server:
        thread = threading.Thread(target=peer_server.serve_forever)
        thread.start()
        try:
            port = peer_server.socket.getsockname()[1]
            async with websocket.connect(f"ws://127.0.0.1:{port}/") as client:
                await client.send("ab")
                assert await client.receive() == "abab"
                assert await client.ping() >= 0
        finally:
            peer_server.shutdown()
            await anyio.to_thread.run_sync(thread.join)


async def test_redis_client_in_a_task_group(server):
    async with resp.Client(server.url) as client, anyio.create_task_group() as tg:
        results = {}

        async def incr(i):
            results[i] = await client.execute("INCR", "anyio-counter")

        for i in range(50):
            tg.start_soon(incr, i)
    assert sorted(results.values())[-1] - sorted(results.values())[0] == 49
