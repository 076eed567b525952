"""EventStream on Twisted: receiving, sending, backpressure, cancellation, loss, closing, timers.

tests/adapters/shared runs its bodies on an anyio loop and awaits the
adapter directly, which Twisted's Deferred API does not allow; these are the
same behaviours, one for one, on a real reactor (see conftest.py). Shared
test (tests/adapters/shared/test_stream.py) -> here:
"""


def ns(payload):
    return b"%d:%b," % (len(payload), payload)


async def test_send_and_receive_events(reactor, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        await stream.send(Netstring(b"hello"))
        await stream.send(Netstring(b""))
        assert await peer.read_exactly(11) == b"5:hello,0:,"
        peer.send(b"3:abc,2:")
        assert await stream.receive() == Netstring(b"abc")
        peer.send(b"de,")
        assert await stream.receive() == Netstring(b"de")
