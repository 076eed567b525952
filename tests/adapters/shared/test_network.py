"""connect() and serve(): any core, client and server, plain TCP and TLS.

The netstring core from the docs runs here with no adapter code of its own:
the proof that the binding is generic.
"""

import functools
import logging
import socket

import anyio
import pytest

from tidewire import ConnectionClosed, RemoteProtocolError

pytestmark = pytest.mark.anyio


async def echo(stream):
    async for event in stream:
        await stream.send(event)


async def test_netstring_echo_client_and_server(adapter, netstring):
    Netstring = netstring.Netstring
    payloads = [b"", b"a", b"hello", bytes(range(256)) * 4000]
    async with adapter.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0) as server:
        stream = await adapter.connect(netstring.NetstringConnection, "127.0.0.1", server.port)
        async with stream:
            for payload in payloads:
                await stream.send(Netstring(payload))
            for payload in payloads:
                assert await stream.receive() == Netstring(payload)


async def test_server_sees_clean_close_and_answers_after_it(adapter, netstring):
    Netstring = netstring.Netstring
    seen = []

    async def handler(stream):
        async for event in stream:
            seen.append(event.payload)
        closing = await stream.receive()
        assert isinstance(closing, ConnectionClosed)
        await stream.send(Netstring(b"%d events" % len(seen)))

    async with adapter.serve(netstring.NetstringConnection, handler, "127.0.0.1", 0) as server:
        stream = await adapter.connect(netstring.NetstringConnection, "127.0.0.1", server.port)
        async with stream:
            for i in range(3):
                await stream.send(Netstring(b"%d" % i))
            await stream.send_eof()
            assert await stream.receive() == Netstring(b"3 events")
            assert isinstance(await stream.receive(), ConnectionClosed)
    assert seen == [b"0", b"1", b"2"]


async def test_core_options_through_a_factory(adapter, netstring):
    factory = functools.partial(netstring.NetstringConnection, max_length=4)
    errors = []

    async def handler(stream):
        try:
            await stream.receive()
        except RemoteProtocolError as exc:
            errors.append(exc)

    async with (
        adapter.serve(factory, handler, "127.0.0.1", 0) as server,
        await adapter.connect(netstring.NetstringConnection, "127.0.0.1", server.port) as stream,
    ):
        await stream.send(netstring.Netstring(b"too long"))
        assert isinstance(await stream.receive(), ConnectionClosed)
    assert "exceeds the limit of 4" in str(errors[0])


async def test_tls_both_ways(adapter, netstring, tls):
    server_ctx, client_ctx = tls
    async with (
        adapter.serve(
            netstring.NetstringConnection, echo, "127.0.0.1", 0, ssl=server_ctx
        ) as server,
        await adapter.connect(
            netstring.NetstringConnection,
            "127.0.0.1",
            server.port,
            ssl=client_ctx,
            server_hostname="localhost",
        ) as stream,
    ):
        assert stream.get_extra_info("ssl_object") is not None
        big = netstring.Netstring(b"s" * 300_000)
        await stream.send(big)
        assert await stream.receive() == big
        with pytest.raises(NotImplementedError, match="cannot close only its sending side"):
            await stream.send_eof()


async def test_tls_bad_certificate_fails_to_connect(adapter, netstring, tls):
    server_ctx, _ = tls
    async with adapter.serve(
        netstring.NetstringConnection, echo, "127.0.0.1", 0, ssl=server_ctx
    ) as server:
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            await adapter.connect(
                netstring.NetstringConnection,
                "127.0.0.1",
                server.port,
                ssl=True,
                server_hostname="localhost",
            )
        assert server.streams == frozenset()


async def test_connect_refused_and_bad_arguments(adapter, netstring):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        await adapter.connect(netstring.NetstringConnection, "127.0.0.1", port)
    with pytest.raises(ValueError, match="host and port, sock or path"):
        await adapter.connect(netstring.NetstringConnection)
    with socket.socket() as sock, pytest.raises(ValueError, match="sock or path, not both"):
        await adapter.connect(netstring.NetstringConnection, sock=sock, path="/x")
    with pytest.raises(ValueError, match="one of them"):
        adapter.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0, path="/x")
    with pytest.raises(ValueError, match="read_low_water"):
        adapter.serve(netstring.NetstringConnection, echo, read_high_water=1, read_low_water=2)


async def test_handler_failure_is_logged_and_closes_only_that_connection(
    adapter, netstring, caplog
):
    async def handler(stream):
        event = await stream.receive()
        if event.payload == b"boom":
            raise ValueError("handler bug")
        await stream.send(event)

    caplog.set_level(logging.DEBUG, logger=adapter.__name__)
    async with adapter.serve(netstring.NetstringConnection, handler, "127.0.0.1", 0) as server:
        async with await adapter.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        ) as bad:
            await bad.send(netstring.Netstring(b"boom"))
            assert isinstance(await bad.receive(), ConnectionClosed)
        async with await adapter.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        ) as good:
            await good.send(netstring.Netstring(b"fine"))
            assert (await good.receive()).payload == b"fine"
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and "handler bug" in failures[0].exc_text


async def test_handler_protocol_errors_are_logged_quietly(adapter, netstring, caplog):
    caplog.set_level(logging.DEBUG, logger=adapter.__name__)

    async with adapter.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0) as server:
        sock = await anyio.connect_tcp("127.0.0.1", server.port)
        async with sock:
            await sock.send(b"nonsense")
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await sock.receive()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("must start with a digit" in r.getMessage() for r in caplog.records)


async def test_server_lifecycle(adapter, netstring):
    started = anyio.Event()
    release = anyio.Event()

    async def handler(stream):
        started.set()
        await release.wait()

    server = adapter.serve(netstring.NetstringConnection, handler, "127.0.0.1", 0)
    assert server.sockets == ()
    with pytest.raises(RuntimeError, match="not listening"):
        assert server.port
    async with (
        server,  # started (on trio, in the server's own nursery); leaving it is harmless here
        await adapter.connect(netstring.NetstringConnection, "127.0.0.1", server.port),
    ):
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
        port = server.port
        await started.wait()
        assert len(server.streams) == 1
        server.close()  # stop accepting; the handler goes on
        assert server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await adapter.connect(netstring.NetstringConnection, "127.0.0.1", port)
        assert len(server.streams) == 1
        release.set()
        await server.wait_closed()
        assert server.streams == frozenset()


async def test_aclose_cancels_handlers_and_closes_their_connections(adapter, netstring):
    started = anyio.Event()
    cancelled = []

    async def handler(stream):
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async with adapter.serve(netstring.NetstringConnection, handler, "127.0.0.1", 0) as server:
        stream = await adapter.connect(netstring.NetstringConnection, "127.0.0.1", server.port)
        await started.wait()
    assert cancelled == [True]
    assert isinstance(await stream.receive(), ConnectionClosed)
    await stream.aclose()


async def test_serve_forever_is_ended_by_close_and_by_cancellation(adapter, netstring):
    server = adapter.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve_forever)
        await anyio.sleep(0.01)
        assert server.port > 0
        server.close()
    server = adapter.serve(netstring.NetstringConnection, echo, "127.0.0.1", 0)
    with anyio.move_on_after(0.05):
        await server.serve_forever()
    assert server.sockets == ()


async def test_serve_and_connect_on_given_sockets(adapter, netstring):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    async with adapter.serve(netstring.NetstringConnection, echo, sock=listener) as server:
        assert server.port == port
        raw = socket.create_connection(("127.0.0.1", port))
        async with await adapter.connect(netstring.NetstringConnection, sock=raw) as stream:
            await stream.send(netstring.Netstring(b"via sockets"))
            assert (await stream.receive()).payload == b"via sockets"


async def test_serve_and_connect_on_a_unix_socket(adapter, netstring, tmp_path):
    path = tmp_path / "netstring.sock"
    async with adapter.serve(netstring.NetstringConnection, echo, path=path) as server:
        with pytest.raises(RuntimeError, match="no port"):
            server.port  # noqa: B018 - the property raises
        async with await adapter.connect(netstring.NetstringConnection, path=path) as stream:
            await stream.send(netstring.Netstring(b"over a unix socket"))
            assert (await stream.receive()).payload == b"over a unix socket"
        # A peer that is not ours: a plain socket from the standard library.
        with socket.socket(socket.AF_UNIX) as raw:
            raw.settimeout(5)
            await anyio.to_thread.run_sync(raw.connect, str(path))
            raw.sendall(b"5:hello,")
            assert await anyio.to_thread.run_sync(raw.recv, 100) == b"5:hello,"
