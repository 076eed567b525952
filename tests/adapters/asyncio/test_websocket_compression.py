"""``compression=`` of tidewire_asyncio.websocket: "deflate", None, or a PerMessageDeflate.

Each configuration is checked against the real websockets library by the
extension parameters the two sides agreed, as each side reports them.
"""

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

from tidewire_asyncio import websocket as ws_adapter
from tidewire_websocket import PerMessageDeflate

pytestmark = pytest.mark.anyio

TEXT = "a message that deflate can shrink, " * 40


async def their_echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def their_server():
    """websockets' server with its default compression (12-bit windows asked of clients)."""
    return ws_serve(their_echo, "127.0.0.1", 0, ping_interval=None)


def port_of(their):
    return their.sockets[0].getsockname()[1]


async def test_our_client_offers_the_settings_given():
    chosen = PerMessageDeflate(
        client_no_context_takeover=True,
        server_max_window_bits=10,
        client_max_window_bits=11,
        memory_level=3,
    )
    seen = []

    async def remember(websocket):
        seen.append(websocket.protocol.extensions)
        await their_echo(websocket)

    factory = ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=12)
    async with ws_serve(remember, "127.0.0.1", 0, extensions=[factory]) as their:
        uri = f"ws://127.0.0.1:{port_of(their)}/"
        async with await ws_adapter.connect(uri, compression=chosen) as client:
            await client.send(TEXT)
            assert await client.receive() == TEXT
            assert client.connection.extensions == (
                PerMessageDeflate(
                    server_no_context_takeover=False,
                    client_no_context_takeover=True,
                    server_max_window_bits=10,
                    client_max_window_bits=11,
                    memory_level=3,
                ),
            )
    [[theirs]] = seen
    assert theirs.remote_no_context_takeover is True  # the client's, seen by the server
    assert theirs.local_no_context_takeover is False
    assert theirs.local_max_window_bits == 10
    assert theirs.remote_max_window_bits == 11


async def test_our_server_answers_with_the_settings_given():
    chosen = PerMessageDeflate(
        server_no_context_takeover=True, server_max_window_bits=9, client_max_window_bits=10
    )
    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    async with ws_adapter.serve(
        their_echo, "127.0.0.1", 0, compression=chosen, ping_interval=None
    ) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        async with ws_connect(uri, extensions=[offer]) as client:
            await client.send(TEXT)
            assert await client.recv() == TEXT
            [theirs] = client.protocol.extensions
            assert theirs.remote_no_context_takeover is True  # the server's
            assert theirs.local_no_context_takeover is False
            assert theirs.remote_max_window_bits == 9
            assert theirs.local_max_window_bits == 10
            header = client.response.headers["Sec-WebSocket-Extensions"]
            assert header == (
                "permessage-deflate; server_no_context_takeover;"
                " server_max_window_bits=9; client_max_window_bits=10"
            )


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_the_named_settings_still_work(compression):
    async with their_server() as their:
        uri = f"ws://127.0.0.1:{port_of(their)}/"
        async with await ws_adapter.connect(uri, compression=compression) as client:
            await client.send(TEXT)
            assert await client.receive() == TEXT
            if compression is None:
                assert client.connection.extensions == ()
            else:
                [agreed] = client.connection.extensions
                assert agreed.client_max_window_bits == 12  # websockets' server asked for it
                assert agreed.memory_level == 5


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ("brotli", 'compression must be "deflate", a PerMessageDeflate or None'),
        (PerMessageDeflate, 'compression must be "deflate", a PerMessageDeflate or None'),
        (PerMessageDeflate(memory_level=0), "memory_level must be an int from 1 to 9"),
        (PerMessageDeflate(server_max_window_bits=16), "server_max_window_bits must be an int"),
        (PerMessageDeflate(client_max_window_bits=8), "client_max_window_bits=8 is not supported"),
    ],
)
async def test_a_bad_client_setting_is_refused_before_connecting(compression, message):
    # Port 1: were the setting not refused first, connecting would fail instead.
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        await ws_adapter.connect("ws://127.0.0.1:1/", compression=compression)


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ("brotli", 'compression must be "deflate", a PerMessageDeflate or None'),
        (PerMessageDeflate(memory_level=10), "memory_level must be an int from 1 to 9"),
        (PerMessageDeflate(server_max_window_bits=8), "server_max_window_bits=8 is not supported"),
    ],
)
def test_a_bad_server_setting_is_refused_when_serve_is_called(compression, message):
    with pytest.raises(ValueError, match="^" + message):
        ws_adapter.serve(their_echo, "127.0.0.1", 0, compression=compression)
