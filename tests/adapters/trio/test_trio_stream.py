"""trio only: an EventStream over trio streams of every kind, read in pull mode.

The shared suite (tests/adapters/shared) checks the mirrored behaviour over
TCP; these check what is trio's own: a user's trio.abc.Stream (memory streams,
lockstep streams), reading only inside receive(), trio's errors, cancel scopes
around every awaiting call, run_writer() and MockClock timers.
"""

import socket

import pytest
import trio
import trio.testing

import tidewire_trio
from tidewire import NEED_DATA, ConnectionClosed

pytestmark = pytest.mark.anyio


def ns(payload):
    return b"%d:%b," % (len(payload), payload)


async def pair(netstring, **marks):
    """Our stream on one end of trio's memory stream pair, the raw trio peer on the other."""
    ours, peer = trio.testing.memory_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=ours, **marks)
    return stream, peer


async def test_a_memory_stream_of_the_users(netstring):
    stream, peer = await pair(netstring)
    async with stream:
        await stream.send(netstring.Netstring(b"hello"))
        assert await peer.receive_some() == b"5:hello,"
        await peer.send_all(b"3:abc,")
        assert await stream.receive() == netstring.Netstring(b"abc")
        assert stream.get_extra_info("stream") is stream.transport
        assert stream.get_extra_info("peername", "none") == "none"  # no socket underneath
    assert stream.closed


async def test_nothing_is_read_while_nobody_receives_and_nothing_is_lost(netstring):
    """Pull mode: a peer flooding a stream nobody reads is held back by TCP, in the kernel."""
    ours, theirs = socket.socketpair()
    for sock in (ours, theirs):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    peer = trio.SocketStream(trio.socket.from_stdlib_socket(theirs))
    payload, count = b"z" * 1000, 4000  # about 4 MB, far beyond the kernel's buffers
    sent = 0

    async def flood():
        nonlocal sent
        for _ in range(count):
            await peer.send_all(ns(payload))
            sent += 1

    async with await tidewire_trio.connect(netstring.NetstringConnection, sock=ours) as stream:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await trio.testing.wait_all_tasks_blocked()
            assert sent < count  # held back
            assert stream.read_backlog == 0  # nothing of ours holds what the peer sent
            assert not stream.reading_paused
            for _ in range(count):
                assert (await stream.receive()).payload == payload
                assert stream.read_backlog <= 64 * 1024  # at most one read
        await peer.aclose()


async def test_receive_nowait_parses_what_an_earlier_receive_read(netstring):
    stream, peer = await pair(netstring)
    async with stream:
        assert stream.receive_nowait() is NEED_DATA  # never reads
        await peer.send_all(b"1:x,1:a,1:")
        assert await stream.receive() == netstring.Netstring(b"x")  # one read took it all
        assert stream.read_backlog == 0
        assert stream.receive_nowait() == netstring.Netstring(b"a")
        assert stream.receive_nowait() is NEED_DATA  # half a netstring waits in the core
        await peer.send_all(b"b,")
        assert await stream.receive() == netstring.Netstring(b"b")


async def test_a_second_receiver_gets_trios_busy_error(netstring):
    stream, peer = await pair(netstring)
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(stream.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError, match="already receiving"):
            await stream.receive()
        with pytest.raises(RuntimeError, match="already receiving"):  # asyncio's, too
            stream.receive_nowait()
        await peer.send_all(ns(b"x"))


async def test_a_send_cancelled_while_trio_writes_breaks_the_stream(netstring):
    """A lockstep peer takes nothing until it reads: the write is cut, so the stream is unusable."""
    ours, peer = trio.testing.lockstep_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=ours)
    async with stream:
        with trio.move_on_after(0.05) as scope:
            await stream.send(netstring.Netstring(b"never read"))
        assert scope.cancelled_caught
        assert stream.closed
        with pytest.raises(tidewire_trio.ConnectionLostError, match="interrupted half-way"):
            await stream.send(netstring.Netstring(b"more"))
        with pytest.raises(tidewire_trio.ConnectionLostError):
            await stream.receive()
    await peer.aclose()


async def test_a_send_cancelled_while_waiting_for_its_turn_sent_nothing(netstring):
    ours, peer = trio.testing.lockstep_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=ours)
    got = bytearray()

    async def read(size):
        while len(got) < size:
            got.extend(await peer.receive_some())

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(stream.send, netstring.Netstring(b"first"))
        await trio.testing.wait_all_tasks_blocked()  # it holds the turn, in send_all
        with trio.move_on_after(0.05) as scope:
            await stream.send(netstring.Netstring(b"cancelled"))
        assert scope.cancelled_caught
        nursery.start_soon(read, len(ns(b"first") + ns(b"after")))
        await stream.send(netstring.Netstring(b"after"))  # still usable
    assert bytes(got) == ns(b"first") + ns(b"after")


async def test_every_awaiting_call_is_cancellable_and_leaves_the_stream_usable(netstring):
    ours, peer = trio.testing.lockstep_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=ours)
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(stream.send, netstring.Netstring(b"held"))
        await trio.testing.wait_all_tasks_blocked()
        for waiting in (stream.drain, stream.send_eof, stream.receive):
            with trio.move_on_after(0.01) as scope:
                await waiting()
            assert scope.cancelled_caught, waiting
        assert await peer.receive_some() == ns(b"held")
        nursery.start_soon(peer.send_all, ns(b"reply"))
        assert (await stream.receive()).payload == b"reply"


async def test_a_cancelled_aclose_closes_at_once(netstring):
    ours, peer = trio.testing.lockstep_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=ours)
    stream.send_nowait(netstring.Netstring(b"never read"))
    with trio.move_on_after(0.05) as scope:
        await stream.aclose()
    assert scope.cancelled_caught
    with pytest.raises(trio.ClosedResourceError):
        await ours.send_all(b"x")  # the trio stream is closed
    await peer.aclose()


async def test_abort_closes_a_memory_stream_at_once(netstring):
    stream, peer = await pair(netstring)
    stream.send_nowait(netstring.Netstring(b"dropped"))
    stream.abort()
    assert stream.write_backlog == 0
    assert await peer.receive_some() == b""  # closed, nothing written
    with pytest.raises(tidewire_trio.StreamClosedError):
        await stream.receive()
    await stream.aclose()


async def test_run_writer_coalesces_what_tasks_queue_into_one_write(netstring):
    writes = []

    class Counting(trio.abc.Stream):  # a user's stream: counts the writes
        def __init__(self, inner):
            self.inner = inner

        async def send_all(self, data):
            writes.append(bytes(data))
            await self.inner.send_all(data)

        async def wait_send_all_might_not_block(self):
            await self.inner.wait_send_all_might_not_block()

        async def receive_some(self, max_bytes=None):
            return await self.inner.receive_some(max_bytes)

        async def aclose(self):
            await self.inner.aclose()

    ours, peer = trio.testing.memory_stream_pair()
    stream = await tidewire_trio.connect(netstring.NetstringConnection, stream=Counting(ours))
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(stream.run_writer)
        await trio.testing.wait_all_tasks_blocked()

        async def request(i):  # as the Redis layer queues a request from each calling task
            stream.send_nowait(netstring.Netstring(b"%d" % i))

        async with trio.open_nursery() as senders:
            for i in range(10):
                senders.start_soon(request, i)
        await trio.testing.wait_all_tasks_blocked()
        assert len(writes) == 1
        got = await peer.receive_some()
        assert sorted(got.split(b",")[:-1]) == [b"1:%d" % i for i in range(10)]
        nursery.cancel_scope.cancel()


@pytest.fixture
def alarm(netstring):
    """A netstring core whose timer, an hour after its last event, writes and returns b"alarm"."""

    class Alarm(netstring.NetstringConnection):
        def __init__(self):
            super().__init__()
            self._deadline = trio.current_time() + 3600
            self._rang = False

        def _next_event(self):
            if self._rang:
                self._rang = False
                return netstring.Netstring(b"alarm")
            return super()._next_event()

        def get_timer(self):
            return self._deadline

        def handle_timer(self, now):
            self._write(ns(b"alarm"))
            self._rang = True
            self._deadline = now + 3600

    return Alarm


async def test_mockclock_runs_the_core_timer_inside_receive(alarm, virtual_clock):
    ours, peer = trio.testing.memory_stream_pair()
    async with await tidewire_trio.connect(alarm, stream=ours) as stream:
        start = trio.current_time()
        with trio.fail_after(4000):  # virtual seconds
            assert (await stream.receive()).payload == b"alarm"
        assert trio.current_time() - start >= 3600
        assert await peer.receive_some() == ns(b"alarm")
        with trio.fail_after(4000):
            assert (await stream.receive()).payload == b"alarm"
        assert trio.current_time() - start >= 7200


async def test_no_timer_runs_while_nobody_receives(alarm, virtual_clock):
    ours, peer = trio.testing.memory_stream_pair()
    async with await tidewire_trio.connect(alarm, stream=ours):
        await trio.sleep(10_000)  # virtual: pull mode, nothing reads, nothing fires
        with trio.move_on_after(1) as scope:
            await peer.receive_some()
        assert scope.cancelled_caught


async def test_the_peers_end_then_closing_event_on_a_memory_stream(netstring):
    stream, peer = await pair(netstring)
    async with stream:
        await peer.send_all(ns(b"last"))
        await peer.send_eof()
        assert [e.payload async for e in stream] == [b"last"]
        assert isinstance(await stream.receive(), ConnectionClosed)


async def test_a_send_in_a_cancelled_scope_sent_nothing(netstring):
    stream, peer = await pair(netstring)
    async with stream:
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.send(netstring.Netstring(b"cancelled"))
        assert scope.cancelled_caught
        await stream.send(netstring.Netstring(b"after"))
        assert await peer.receive_some() == ns(b"after")
