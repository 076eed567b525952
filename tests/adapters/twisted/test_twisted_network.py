"""connect() and serve() over Twisted endpoints: TCP, TLS, Unix sockets, handlers, lifecycle.

The same behaviours as tests/adapters/shared/test_network.py, one for one,
on a real reactor (the default one here, asyncioreactor through
test_twisted_reactors.py). Shared test -> here:
"""

import tidewire_twisted


async def _echo(stream):
    async for event in stream:
        await stream.send(event)


async def test_netstring_echo_client_and_server(reactor, netstring):
    Netstring = netstring.Netstring
    server = await tidewire_twisted.serve(
        netstring.NetstringConnection, _echo, "tcp:0:interface=127.0.0.1"
    )
    try:
        client = await tidewire_twisted.connect(
            netstring.NetstringConnection, f"tcp:127.0.0.1:{server.port}"
        )
        for payload in (b"one", b"", b"x" * 100_000):
            await client.send(Netstring(payload))
            assert await client.receive() == Netstring(payload)
        await client.aclose()
    finally:
        await server.aclose()
