"""trio only: the WebSocket layer's nurseries, cancel scopes and trio peers.

The shared suite checks the mirrored behaviour; these check what is trio's:
the connection's reader lives in the nursery its ``async with`` opens (and an
error in the block comes out as itself, not in an ExceptionGroup),
``nursery.start(serve, ...)``, cancel scopes around each awaiting call, a
failing handler that does not take the server down, and websockets' own trio
implementation as a real peer both ways.
"""

import functools
import logging

import pytest
import trio
import websockets
import websockets.trio.client
import websockets.trio.server

from tidewire_trio import websocket as ws

pytestmark = pytest.mark.anyio


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def uri(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


async def test_the_reader_lives_in_the_connections_nursery():
    async with ws.serve(echo, "127.0.0.1", 0) as server:
        before = len(trio.lowlevel.current_task().child_nurseries)
        async with ws.connect(uri(server)) as client:
            # The reader answers pings while the application awaits nothing of it.
            assert len(trio.lowlevel.current_task().child_nurseries) == before + 1
            assert await client.ping() >= 0
        assert client.closed and client.close_code == 1000
        assert len(trio.lowlevel.current_task().child_nurseries) == before


async def test_an_error_in_the_block_comes_out_as_itself_and_closes_with_1011():
    codes = []

    async def handler(websocket):
        try:
            await websocket.receive()
        except ws.WebSocketClosedError as closed:
            codes.append(closed.code)

    async with ws.serve(handler, "127.0.0.1", 0) as server:
        with pytest.raises(KeyError):  # not an ExceptionGroup
            async with ws.connect(uri(server)):
                raise KeyError("mine")
        with trio.fail_after(10):
            while not codes:
                await trio.sleep(0.01)
    assert codes == [1011]


async def test_serve_with_nursery_start_and_a_graceful_aclose():
    seen = []

    async def handler(websocket):
        try:
            await websocket.receive()
        finally:
            seen.append(websocket.close_code)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(ws.serve, handler, "127.0.0.1", 0)
        assert isinstance(server, ws.WebSocketServer) and server.port > 0
        async with ws.connect(uri(server)) as client:
            with trio.fail_after(10):
                while not server.websockets:
                    await trio.sleep(0.01)
            await server.aclose()  # every connection closed with 1001
            with pytest.raises(ws.WebSocketClosedError) as closed:
                await client.receive()
            assert closed.value.code == 1001
    assert seen == [1001]


async def test_a_failing_handler_is_logged_and_others_go_on(caplog):
    async def handler(websocket):
        if websocket.request.target == "/fail":
            raise ValueError("the handler broke")
        await echo(websocket)

    async with ws.serve(handler, "127.0.0.1", 0) as server:
        async with ws.connect(uri(server, "/fail")) as failing:
            with pytest.raises(ws.WebSocketClosedError) as closed:
                await failing.receive()
            assert closed.value.code == 1011
        async with ws.connect(uri(server)) as client:
            await client.send("still serving")
            assert await client.receive() == "still serving"
    assert any("the WebSocket handler failed" in r.message for r in caplog.records)
    assert caplog.records[0].levelno == logging.ERROR


@pytest.mark.parametrize("what", ["receive", "ping", "send", "close"])
async def test_a_cancel_scope_around_each_await(what):
    """Cancelled at once, each call leaves the connection usable (close: ended)."""
    async with ws.serve(echo, "127.0.0.1", 0) as server, ws.connect(uri(server)) as client:
        with trio.CancelScope() as scope:
            scope.cancel()
            if what == "receive":
                await client.receive()
            elif what == "ping":
                await client.ping(b"cancelled")
            elif what == "send":
                await client.send("cancelled")
            else:
                await client.close()
        assert scope.cancelled_caught
        if what == "close":  # the handshake began; the reader finishes it
            await client.wait_closed()
            assert client.close_code == 1000
            return
        await client.send("after")
        assert await client.receive() == "after"
        assert await client.ping(b"again") >= 0


@pytest.mark.virtual_clock
async def test_mockclock_keepalive_is_instant_and_on_trios_clock():
    async with (
        ws.serve(echo, "127.0.0.1", 0) as server,
        ws.connect(uri(server), ping_interval=30, ping_timeout=30) as client,
    ):
        start = trio.current_time()
        await trio.sleep(600)  # twenty keepalive rounds, virtual
        assert trio.current_time() - start >= 600
        await client.send("alive")
        assert await client.receive() == "alive"


# -- websockets' trio implementation as a real peer ------------------------------------


async def test_our_client_against_websockets_trio_server():
    async def handler(connection):
        async for message in connection:
            await connection.send(message)

    async with trio.open_nursery() as nursery:
        peer = await nursery.start(
            functools.partial(websockets.trio.server.serve, handler, 0, host="127.0.0.1")
        )
        port = peer.listeners[0].socket.getsockname()[1]
        async with ws.connect(f"ws://127.0.0.1:{port}/", max_message_size=None) as client:
            assert client.response.extensions  # permessage-deflate agreed
            await client.send("text")
            assert await client.receive() == "text"
            await client.send([b"frag", b"ments"])
            assert await client.receive() == b"fragments"
            big = b"x" * (1 << 20)
            await client.send(big)
            assert await client.receive() == big
        nursery.cancel_scope.cancel()


async def test_websockets_trio_client_against_our_server():
    async with (
        ws.serve(echo, "127.0.0.1", 0, subprotocols=["chat"]) as server,
        websockets.trio.client.connect(uri(server), subprotocols=["chat"]) as peer,
    ):
        assert peer.subprotocol == "chat"
        await peer.send("hello")
        assert await peer.recv() == "hello"
        await peer.send(b"\x00\x01")
        assert await peer.recv() == b"\x00\x01"
        assert await peer.ping() is not None
