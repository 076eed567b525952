"""connect() and serve() over Twisted endpoints: TCP, TLS, Unix sockets, handlers, lifecycle.

The same behaviours as tests/adapters/shared/test_network.py on a real
reactor: the default one here, and asyncioreactor when
test_twisted_reactors.py runs this file again with
``TIDEWIRE_TWISTED_REACTOR=asyncio``. Shared test -> here:

- netstring_echo_client_and_server -> same name (and a description-string variant)
- server_sees_clean_close_and_answers_after_it, core_options_through_a_factory -> same
- tls_both_ways -> same name (``ssl=`` options) and tls_through_endpoint_descriptions
- tls_bad_certificate_fails_to_connect -> same name (an ``OpenSSL.SSL.Error``)
- connect_refused_and_bad_arguments -> same name (Twisted's ConnectionRefusedError)
- handler_failure_is_logged_and_closes_only_that_connection,
  handler_protocol_errors_are_logged_quietly -> same names
- server_lifecycle, aclose_cancels_handlers_and_closes_their_connections,
  serve_forever_is_ended_by_close_and_by_cancellation -> same names
- serve_and_connect_on_given_sockets -> endpoints_of_any_kind (an endpoint object
  rather than a socket: Twisted's way to hand over where to connect)
- serve_and_connect_on_a_unix_socket -> same name ("unix:" descriptions)
Twisted-only: handlers returning a Deferred or nothing, a cancelled connect().
"""

import contextlib
import functools
import logging
import socket
import sys

import pytest
from OpenSSL import SSL
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory
from twisted.internet.ssl import optionsForClientTLS

import tidewire_twisted
from tidewire import ConnectionClosed, RemoteProtocolError

LOCAL = "tcp:0:interface=127.0.0.1"


# Twisted's certificate options hand pyOpenSSL its own X509 objects, which
# pyOpenSSL 24.3+ deprecates: Twisted's warning, not ours.
twisted_tls_warning = pytest.mark.filterwarnings(
    "ignore:Passing pyOpenSSL (X509|PKey) objects is deprecated:DeprecationWarning"
)


async def echo(stream):
    async for event in stream:
        await stream.send(event)


def address(server):
    return f"tcp:127.0.0.1:{server.port}"


async def test_netstring_echo_client_and_server(reactor, netstring):
    Netstring = netstring.Netstring
    payloads = [b"", b"a", b"hello", bytes(range(256)) * 4000]
    async with await tidewire_twisted.serve(netstring.NetstringConnection, echo, LOCAL) as server:
        stream = await tidewire_twisted.connect(netstring.NetstringConnection, address(server))
        async with stream:
            for payload in payloads:
                await stream.send(Netstring(payload))
            for payload in payloads:
                assert await stream.receive() == Netstring(payload)


async def test_server_sees_clean_close_and_answers_after_it(reactor, netstring):
    Netstring = netstring.Netstring
    seen = []

    async def handler(stream):
        async for event in stream:
            seen.append(event.payload)
        assert isinstance(await stream.receive(), ConnectionClosed)
        await stream.send(Netstring(b"%d events" % len(seen)))

    async with await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL) as srv:  # noqa: SIM117 - the inner needs the server's port
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(srv)
        ) as stream:
            for i in range(3):
                await stream.send(Netstring(b"%d" % i))
            await stream.send_eof()
            assert await stream.receive() == Netstring(b"3 events")
            assert isinstance(await stream.receive(), ConnectionClosed)
    assert seen == [b"0", b"1", b"2"]


async def test_core_options_through_a_factory(reactor, netstring):
    factory = functools.partial(netstring.NetstringConnection, max_length=4)
    errors = []

    async def handler(stream):
        try:
            await stream.receive()
        except RemoteProtocolError as exc:
            errors.append(exc)

    async with await tidewire_twisted.serve(factory, handler, LOCAL) as server:  # noqa: SIM117 - the inner needs the server's port
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(server)
        ) as stream:
            await stream.send(netstring.Netstring(b"too long"))
            assert isinstance(await stream.receive(), ConnectionClosed)
    assert "exceeds the limit of 4" in str(errors[0])


@twisted_tls_warning
async def test_tls_both_ways(reactor, netstring, twisted_tls):
    server_tls, client_tls = twisted_tls
    async with (
        await tidewire_twisted.serve(
            netstring.NetstringConnection, echo, LOCAL, ssl=server_tls
        ) as server,
        await tidewire_twisted.connect(
            netstring.NetstringConnection, address(server), ssl=client_tls
        ) as stream,
    ):
        assert stream.get_extra_info("ssl_object") is not None
        assert stream.get_extra_info("peercert") is not None
        big = netstring.Netstring(b"s" * 300_000)
        await stream.send(big)
        assert await stream.receive() == big
        with pytest.raises(NotImplementedError, match="cannot close only its sending side"):
            await stream.send_eof()


@twisted_tls_warning
async def test_tls_through_endpoint_descriptions(reactor, netstring, tls_files):
    key, authority = tls_files
    description = f"ssl:0:interface=127.0.0.1:privateKey={key}"
    async with await tidewire_twisted.serve(
        netstring.NetstringConnection, echo, description
    ) as server:
        client = f"ssl:host=localhost:port={server.port}:caCertsDir={authority.parent}"
        async with await tidewire_twisted.connect(netstring.NetstringConnection, client) as stream:
            await stream.send(netstring.Netstring(b"described"))
            assert (await stream.receive()).payload == b"described"


@twisted_tls_warning
async def test_tls_bad_certificate_fails_to_connect(reactor, netstring, twisted_tls):
    server_tls, _ = twisted_tls
    async with await tidewire_twisted.serve(
        netstring.NetstringConnection, echo, LOCAL, ssl=server_tls
    ) as server:
        untrusting = optionsForClientTLS("localhost")  # the platform's roots: not our CA
        with pytest.raises(SSL.Error, match="certificate verify failed"):
            await tidewire_twisted.connect(
                netstring.NetstringConnection, address(server), ssl=untrusting
            )
        assert server.streams == frozenset()


def test_tls_without_pyopenssl_is_refused_plainly(reactor, netstring, twisted_tls, monkeypatch):
    # Plain TCP never imports pyOpenSSL; TLS without it names the extra to install.
    server_tls, _ = twisted_tls
    monkeypatch.setitem(sys.modules, "twisted.protocols.tls", None)
    with pytest.raises(ImportError, match=r"tidewire-twisted\[tls\]"):
        tidewire_twisted.serve(netstring.NetstringConnection, echo, LOCAL, ssl=server_tls)


async def test_connect_refused_and_bad_arguments(reactor, netstring):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        await tidewire_twisted.connect(netstring.NetstringConnection, f"tcp:127.0.0.1:{port}")
    with pytest.raises(TypeError, match="unexpected options: path"):
        tidewire_twisted.connect(netstring.NetstringConnection, "tcp:x:1", path="/x")
    with pytest.raises(ValueError, match="read_low_water"):
        tidewire_twisted.serve(
            netstring.NetstringConnection, echo, LOCAL, read_high_water=1, read_low_water=2
        )
    with pytest.raises(ValueError, match="Unknown endpoint type"):
        tidewire_twisted.connect(netstring.NetstringConnection, "nonsense:1")


async def test_handler_failure_is_logged_and_closes_only_that_connection(
    reactor, netstring, caplog
):
    async def handler(stream):
        event = await stream.receive()
        if event.payload == b"boom":
            raise ValueError("handler bug")
        await stream.send(event)

    caplog.set_level(logging.DEBUG, logger="tidewire_twisted")
    async with await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL) as srv:
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(srv)
        ) as bad:
            await bad.send(netstring.Netstring(b"boom"))
            assert isinstance(await bad.receive(), ConnectionClosed)
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(srv)
        ) as good:
            await good.send(netstring.Netstring(b"fine"))
            assert (await good.receive()).payload == b"fine"
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and "handler bug" in failures[0].exc_text


async def test_handler_protocol_errors_are_logged_quietly(reactor, netstring, caplog, tools):
    caplog.set_level(logging.DEBUG, logger="tidewire_twisted")
    async with await tidewire_twisted.serve(netstring.NetstringConnection, echo, LOCAL) as srv:
        peer = tools.RawPeer()
        await TCP4ClientEndpoint(reactor, "127.0.0.1", srv.port).connect(_once(peer))
        peer.send(b"nonsense")
        assert await peer.read_until_eof() == b""
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("must start with a digit" in r.getMessage() for r in caplog.records)


def _once(protocol):
    factory = Factory()
    factory.buildProtocol = lambda addr: protocol
    return factory


async def test_server_lifecycle(reactor, netstring):
    started = Deferred()
    release = Deferred()

    def handler(stream):
        started.callback(None)
        return release  # a handler may return a Deferred

    server = await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL)
    assert server.listening_port is not None
    port = server.port
    async with await tidewire_twisted.connect(
        netstring.NetstringConnection, f"tcp:127.0.0.1:{port}"
    ):
        await started
        assert len(server.streams) == 1
        await server.close()  # stop accepting; the handler goes on
        assert server.listening_port is None
        with pytest.raises(RuntimeError, match="not listening"):
            server.port  # noqa: B018 - the property raises
        with pytest.raises(ConnectionRefusedError):
            await tidewire_twisted.connect(netstring.NetstringConnection, f"tcp:127.0.0.1:{port}")
        assert len(server.streams) == 1
        release.callback(None)
        await server.wait_closed()
        assert server.streams == frozenset()


async def test_a_plain_function_handler_closes_its_stream_on_return(reactor, netstring):
    def handler(stream):
        stream.send_nowait(netstring.Netstring(b"hello and goodbye"))

    async with await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL) as srv:  # noqa: SIM117 - the inner needs the server's port
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(srv)
        ) as stream:
            assert (await stream.receive()).payload == b"hello and goodbye"
            assert isinstance(await stream.receive(), ConnectionClosed)


async def test_aclose_cancels_handlers_and_closes_their_connections(reactor, netstring):
    started = Deferred()
    cancelled = []

    async def handler(stream):
        started.callback(None)
        try:
            await Deferred()  # forever
        except CancelledError:
            cancelled.append(True)
            raise

    async with await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL) as srv:
        stream = await tidewire_twisted.connect(netstring.NetstringConnection, address(srv))
        await started
    assert cancelled == [True]
    assert isinstance(await stream.receive(), ConnectionClosed)
    await stream.aclose()


async def test_serve_forever_is_ended_by_close_and_by_cancellation(reactor, netstring, tools):
    server = await tidewire_twisted.serve(netstring.NetstringConnection, echo, LOCAL)
    forever = server.serve_forever()
    assert server.port > 0 and not forever.called
    await server.close()
    await forever
    server = await tidewire_twisted.serve(netstring.NetstringConnection, echo, LOCAL)
    assert await tools.cancelled_after(server.serve_forever(), 0.05)
    await server.wait_closed()
    assert server.listening_port is None


async def test_tcp_streams_send_small_writes_at_once(reactor, netstring):
    # TCP_NODELAY, as asyncio and trio set it: no wait for a delayed ACK.
    accepted = []

    async def keep(stream):
        accepted.append(stream)
        await stream.receive()

    async with await tidewire_twisted.serve(netstring.NetstringConnection, keep, LOCAL) as server:  # noqa: SIM117 - the inner needs its port
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(server)
        ) as stream:
            await stream.send(netstring.Netstring(b"x"))
            for each in (stream, *accepted):
                sock = each.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_endpoints_of_any_kind(reactor, netstring):
    listening = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    async with await tidewire_twisted.serve(
        netstring.NetstringConnection, echo, listening
    ) as server:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.port)
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, endpoint
        ) as stream:
            await stream.send(netstring.Netstring(b"via endpoints"))
            assert (await stream.receive()).payload == b"via endpoints"


async def test_serve_and_connect_on_a_unix_socket(reactor, netstring, tmp_path, tools):
    path = tmp_path / "netstring.sock"
    async with await tidewire_twisted.serve(
        netstring.NetstringConnection, echo, f"unix:{path}"
    ) as server:
        with pytest.raises(RuntimeError, match="no port"):
            server.port  # noqa: B018 - the property raises
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, f"unix:path={path}"
        ) as stream:
            await stream.send(netstring.Netstring(b"over a unix socket"))
            assert (await stream.receive()).payload == b"over a unix socket"
            assert stream.get_extra_info("peername") == str(path) or stream.get_extra_info(
                "sockname"
            ) in (None, "", str(path))
        # A peer that is not ours: a plain socket from the standard library.
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(path))
            raw.setblocking(False)
            raw.sendall(b"5:hello,")
            got = bytearray()

            def read():
                with contextlib.suppress(BlockingIOError):
                    got.extend(raw.recv(100))
                return got == b"5:hello,"

            await tools.eventually(read)


@twisted_tls_warning
async def test_a_cancelled_connect_closes_what_it_opened(reactor, netstring, twisted_tls, tools):
    _, client_tls = twisted_tls
    peers = []

    def build(addr):
        peers.append(tools.RawPeer())  # accepts, never answers the TLS handshake
        return peers[-1]

    factory = Factory()
    factory.buildProtocol = build
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    try:
        connecting = tidewire_twisted.connect(
            netstring.NetstringConnection, f"tcp:127.0.0.1:{port.getHost().port}", ssl=client_tls
        )
        await tools.eventually(lambda: peers and peers[0].received)  # the ClientHello
        assert await tools.cancelled_after(connecting, 0.01)
        await peers[0].lost  # the half-made connection was closed
    finally:
        await port.stopListening()


async def test_a_handler_may_return_an_already_fired_deferred(reactor, netstring):
    handled = []

    def handler(stream):
        handled.append(stream)
        return succeed(None)

    async with await tidewire_twisted.serve(netstring.NetstringConnection, handler, LOCAL) as srv:  # noqa: SIM117 - the inner needs the server's port
        async with await tidewire_twisted.connect(
            netstring.NetstringConnection, address(srv)
        ) as stream:
            assert isinstance(await stream.receive(), ConnectionClosed)
    assert len(handled) == 1
