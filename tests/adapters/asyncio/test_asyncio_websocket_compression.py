"""``compression=`` of tidewire_asyncio.websocket: "deflate", None, or a PerMessageDeflate.

Each configuration is checked against the real websockets library by the
extension parameters the two sides agreed, as each side reports them.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st
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
        (PerMessageDeflate(client_max_window_bits=8), "client_max_window_bits must be an int"),
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
        (PerMessageDeflate(server_max_window_bits=8), "server_max_window_bits must be an int"),
        (PerMessageDeflate(client_max_window_bits=8), "client_max_window_bits must be an int"),
    ],
)
def test_a_bad_server_setting_is_refused_when_serve_is_called(compression, message):
    with pytest.raises(ValueError, match="^" + message):
        ws_adapter.serve(their_echo, "127.0.0.1", 0, compression=compression)


def settings_from(flags, windows, levels):
    return st.builds(
        PerMessageDeflate,
        server_no_context_takeover=flags,
        client_no_context_takeover=flags,
        server_max_window_bits=windows,
        client_max_window_bits=windows,
        memory_level=levels,
    )


# Half of the examples within RFC 7692's ranges (8-bit windows included), half anything.
SETTINGS = st.one_of(
    settings_from(st.booleans(), st.none() | st.integers(8, 15), st.integers(1, 9)),
    settings_from(
        st.booleans() | st.sampled_from([0, 1, None, "yes"]),
        st.none() | st.integers(6, 17) | st.sampled_from(["12", 12.0, True]),
        st.integers(-1, 11) | st.sampled_from([None, "5", 5.0, True]),
    ),
)


def honourable(setting):
    """Whether zlib, on both sides, can work with ``setting`` (no 8-bit windows)."""
    flags = (setting.server_no_context_takeover, setting.client_no_context_takeover)
    windows = (setting.server_max_window_bits, setting.client_max_window_bits)
    return (
        all(type(flag) is bool for flag in flags)
        and all(bits is None or (type(bits) is int and 9 <= bits <= 15) for bits in windows)
        and type(setting.memory_level) is int
        and 1 <= setting.memory_level <= 9
    )


@given(setting=SETTINGS)
async def test_fuzz_any_client_compression_is_refused_at_once_or_works(setting):
    """Against websockets' server: a ValueError from connect(), or an agreed, working deflate."""
    async with their_server() as their:
        uri = f"ws://127.0.0.1:{port_of(their)}/"
        if not honourable(setting):
            with pytest.raises(ValueError, match="must be"):
                await ws_adapter.connect(uri, compression=setting)
            return
        async with await ws_adapter.connect(uri, compression=setting) as client:
            await client.send(TEXT)
            assert await client.receive() == TEXT
            for agreed in client.connection.extensions:
                assert agreed.memory_level == setting.memory_level


@given(setting=SETTINGS)
async def test_fuzz_any_server_compression_is_refused_at_once_or_works(setting):
    """Against websockets' client: a ValueError from serve(), or an agreed, working deflate."""
    if not honourable(setting):
        with pytest.raises(ValueError, match="must be"):
            ws_adapter.serve(their_echo, "127.0.0.1", 0, compression=setting)
        return
    async with ws_adapter.serve(
        their_echo, "127.0.0.1", 0, compression=setting, ping_interval=None
    ) as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        async with ws_connect(uri) as client:
            await client.send(TEXT)
            assert await client.recv() == TEXT
