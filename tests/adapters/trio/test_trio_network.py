"""trio only: serve() in a nursery with task_status, the server's own nursery, TLS streams."""

import functools
import logging
import socket
import ssl

import pytest
import trio
import trio.testing

import tidewire_trio
from tidewire import ConnectionClosed

pytestmark = pytest.mark.anyio


async def echo(stream):
    async for event in stream:
        await stream.send(event)


async def test_nursery_start_serve_reports_the_listening_server(netstring):
    async with trio.open_nursery() as nursery:
        start = functools.partial(
            tidewire_trio.serve, netstring.NetstringConnection, echo, "127.0.0.1", 0
        )
        server = await nursery.start(start)
        assert isinstance(server, tidewire_trio.Server) and server.port > 0
        async with tidewire_trio.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        ) as stream:
            await stream.send(netstring.Netstring(b"started"))
            assert (await stream.receive()).payload == b"started"
        nursery.cancel_scope.cancel()  # the serving task ends with the nursery
    assert server.sockets == ()


async def test_cancelling_the_owner_cancels_the_handlers_and_closes_their_streams(netstring):
    cancelled = []

    async def handler(stream):
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(stream)
            raise

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(tidewire_trio.serve, netstring.NetstringConnection, handler),
        )
        client = await tidewire_trio.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        )
        await trio.testing.wait_all_tasks_blocked()
        assert len(server.streams) == 1
        nursery.cancel_scope.cancel()
    assert len(cancelled) == 1 and cancelled[0].closed
    assert isinstance(await client.receive(), ConnectionClosed)  # closed cleanly, not reset
    await client.aclose()


async def test_a_failing_handler_never_reaches_the_owners_nursery(netstring, caplog):
    async def handler(stream):
        raise ValueError("handler bug")

    caplog.set_level(logging.ERROR, logger="tidewire_trio")
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(tidewire_trio.serve, netstring.NetstringConnection, handler),
        )
        for _ in range(3):
            async with await tidewire_trio.connect(
                netstring.NetstringConnection, "127.0.0.1", server.port
            ) as stream:
                assert isinstance(await stream.receive(), ConnectionClosed)
        server.close()
        await server.wait_closed()
    assert len([r for r in caplog.records if "handler bug" in r.exc_text]) == 3


async def test_the_body_of_async_with_serve_raises_unwrapped(netstring):
    with pytest.raises(KeyError):  # not an ExceptionGroup
        async with tidewire_trio.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0):
            raise KeyError("from the body")


async def test_serve_forever_and_start_in_a_nursery_of_yours(netstring):
    server = tidewire_trio.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="serves in a task of your nursery"):
        await server.start()
    async with trio.open_nursery() as nursery:
        assert await server.start(nursery) is server
        with pytest.raises(RuntimeError, match="already started"):
            await nursery.start(server.serve_forever)
        async with tidewire_trio.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        ) as stream:
            await stream.send(netstring.Netstring(b"x"))
            assert (await stream.receive()).payload == b"x"
        await server.aclose()  # ends serve_forever, and so the nursery's only task


async def test_a_tls_handshake_is_cancellable_and_leaks_nothing(netstring, tls):
    _, client_ctx = tls
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (kernel), never answers
        port = silent.getsockname()[1]
        with trio.move_on_after(0.1) as scope:
            await tidewire_trio.connect(
                netstring.NetstringConnection,
                "127.0.0.1",
                port,
                ssl=client_ctx,
                server_hostname="localhost",
            )
        assert scope.cancelled_caught


async def test_the_handshake_timeout_is_asyncios_option_on_trios_clock(
    netstring, tls, virtual_clock
):
    _, client_ctx = tls
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with pytest.raises(TimeoutError, match="TLS handshake"):
            await tidewire_trio.connect(
                netstring.NetstringConnection,
                "127.0.0.1",
                port,
                ssl=client_ctx,
                server_hostname="localhost",
                ssl_handshake_timeout=30,
            )


async def test_a_users_ssl_stream_and_the_ssl_extra_info(netstring, tls):
    server_ctx, client_ctx = tls
    async with tidewire_trio.serve(
        netstring.NetstringConnection, echo, "127.0.0.1", 0, ssl=server_ctx
    ) as server:
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        ours = trio.SSLStream(tcp, client_ctx, server_hostname="localhost")
        async with await tidewire_trio.connect(netstring.NetstringConnection, stream=ours) as s:
            await s.send(netstring.Netstring(b"over the user's SSLStream"))
            assert (await s.receive()).payload == b"over the user's SSLStream"
            assert s.get_extra_info("ssl_object") is ours
            assert s.get_extra_info("ssl_object").version().startswith("TLS")
            assert s.get_extra_info("peercert")["subjectAltName"]
            assert isinstance(s.get_extra_info("sslcontext"), ssl.SSLContext)
            assert s.get_extra_info("peername")[0] == "127.0.0.1"


async def test_connect_takes_one_of_sock_path_and_stream(netstring):
    ours, _ = trio.testing.memory_stream_pair()
    with socket.socket() as sock, pytest.raises(ValueError, match="one of sock, path or stream"):
        await tidewire_trio.connect(netstring.NetstringConnection, sock=sock, stream=ours)
