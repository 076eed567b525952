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
import socket
import ssl
import subprocess
import sys
import textwrap
from pathlib import Path

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


# -- the conformance testee on trio, and the type hints ------------------------------

MiB = 1024 * 1024
EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"


async def test_the_echo_example_is_a_working_testee_on_trio():
    """docs/examples/websocket_echo.py --framework trio: 16 MiB messages, permessage-deflate."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(EXAMPLES / "websocket_echo.py"), "--port", str(port)]
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            functools.partial(
                trio.run_process,
                [*command, "--framework", "trio"],
                stdout=subprocess.PIPE,
                check=False,
            )
        )
        try:
            banner = b""
            while b"\n" not in banner:
                chunk = await process.stdout.receive_some()
                assert chunk, f"the example exited before listening: {banner!r}"
                banner += chunk
            assert f"ws://127.0.0.1:{port}".encode() in banner
            async with websockets.trio.client.connect(
                f"ws://127.0.0.1:{port}/", max_size=None
            ) as client:
                assert client.protocol.extensions  # permessage-deflate was agreed
                for message in ("text stays text", b"\x00binary", b"b" * (16 * MiB)):
                    await client.send(message)
                    assert await client.recv() == message
                await client.send(b"b" * (16 * MiB + 1))
                with pytest.raises(websockets.ConnectionClosedError):
                    await client.recv()
                assert client.close_code == 1009
        finally:
            process.kill()


def test_the_type_hints_refuse_a_mapping_and_an_int(tmp_path):
    """mypy --strict rejects send({...}) and send(123) on trio's WebSocket too."""
    checked = tmp_path / "sends.py"
    checked.write_text(
        textwrap.dedent(
            """
            from collections.abc import AsyncIterator
            from tidewire_trio.websocket import WebSocket

            async def pieces() -> AsyncIterator[str]:
                yield "a"

            async def use(ws: WebSocket) -> None:
                await ws.send("text")
                await ws.send(b"bytes")
                await ws.send(["a", "b"])
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
    assert result.stdout.startswith(str(checked)), result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == refused, result.stdout


async def test_wss_with_a_context_and_verified_by_default(tls):
    server_context, client_context = tls
    async with ws.serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
        uri = f"wss://localhost:{server.port}/"
        async with ws.connect(uri, ssl=client_context) as client:
            await client.send("over TLS")
            assert await client.receive() == "over TLS"
            assert client.get_extra_info("ssl_object") is not None
        with pytest.raises(ssl.SSLCertVerificationError):
            async with ws.connect(uri):  # the default context does not trust our CA
                pass


async def test_the_answers_to_a_burst_of_messages_leave_in_one_write_before_its_last(
    monkeypatch,
):
    """A peer sends three messages in one write: the echoes of the first two go
    out together, before the third is handed over; the third's at once."""
    from tidewire_websocket import AcceptConnection, Request, ServerConnection, TextMessage

    writes = []
    send_all = trio.SocketStream.send_all

    async def counting(self, data):
        writes.append(bytes(data))
        await send_all(self, data)

    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    received = []

    async def peer():  # a server made of the sans-IO core over a raw socket
        sock, _ = await listener.accept()
        core = ServerConnection()
        with sock:
            while not isinstance(core.next_event(), Request):
                core.receive_data(await sock.recv(65536))
            core.send(AcceptConnection())
            await sock.send(core.data_to_send())
            for text in ("a", "b", "c"):
                core.send(TextMessage(text))
            await sock.send(core.data_to_send())  # one burst
            while len(received) < 5:
                core.receive_data(await sock.recv(65536))
                received.extend(e.data for e in core.events() if isinstance(e, TextMessage))

    async def client():
        async with ws.connect(f"ws://127.0.0.1:{port}/") as websocket:
            monkeypatch.setattr(trio.SocketStream, "send_all", counting)
            for _ in range(3):
                message = await websocket.receive()
                if message == "c":  # the last of the burst: the answers left first
                    assert writes and len(writes) == 1
                await websocket.send(message)
            assert len(writes) == 2  # two answers in one write, the third alone
            await websocket.send("done")
            while len(received) < 5:
                await trio.sleep(0.01)
            monkeypatch.undo()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer)
        received.append("handshake")  # the peer answers the opening handshake first
        await client()
    listener.close()
    assert received == ["handshake", "a", "b", "c", "done"]
