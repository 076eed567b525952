"""asyncio only: an EventStream on transports the loop makes, through its protocol."""

import asyncio
import socket

import pytest

pytestmark = pytest.mark.anyio


async def test_any_transport_through_the_protocol_property(adapter, netstring, tmp_path):
    """Unix sockets made by the loop, with the streams' protocols."""
    path = str(tmp_path / "sock")
    loop = asyncio.get_running_loop()
    server_side = adapter.EventStream(netstring.NetstringConnection())
    unix_server = await loop.create_unix_server(lambda: server_side.protocol, path)
    async with unix_server:
        client = adapter.EventStream(netstring.NetstringConnection())
        await loop.create_unix_connection(lambda: client.protocol, path)
        async with client, server_side:
            await client.send(netstring.Netstring(b"custom"))
            assert (await server_side.receive()).payload == b"custom"


async def test_transport_closed_under_the_stream(adapter, netstring):
    ours, theirs = socket.socketpair()
    stream = adapter.EventStream(netstring.NetstringConnection())
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(lambda: stream.protocol, sock=ours)
    with theirs:
        transport.close()  # not through the stream: neither EOF nor our aclose()
        with pytest.raises(adapter.ConnectionLostError, match="closed before the peer finished"):
            await stream.receive()
        assert "lost" in repr(stream)
        assert stream.closed


async def test_a_stream_takes_one_transport(adapter, netstring):
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    other, other_peer = socket.socketpair()
    stream = adapter.EventStream(netstring.NetstringConnection())
    await loop.create_connection(lambda: stream.protocol, sock=ours)
    second, _ = await loop.create_connection(asyncio.Protocol, sock=other)
    with theirs, other_peer:
        with pytest.raises(RuntimeError, match="only one transport"):
            stream.protocol.connection_made(second)
        assert second.is_closing()  # refused, and aborted
        await stream.aclose()
