"""EventStream: receiving, sending, backpressure, cancellation, loss and closing.

Every test drives a real TCP connection on loopback. The core is the docs'
netstring example (no adapter code of its own), or a subclass of it that
answers on its own, to check the adapter flushes core replies.
"""

import gc
import socket
from functools import partial

import anyio
import pytest

from tidewire import NEED_DATA, ConnectionClosed, LocalProtocolError, RemoteProtocolError

pytestmark = pytest.mark.anyio


def ns(payload):
    return b"%d:%b," % (len(payload), payload)


async def send_forever(stream, event):
    """Send until a send raises: the test closes the stream under one that waits."""
    while True:
        await stream.send(event)


@pytest.fixture
def replying(netstring):
    """A netstring core that answers pings by itself and owes b"bye" on error.

    b"ping" is answered with b"pong", b"PING" with 64 KiB (a peer that makes
    us write a lot for little).
    """

    class Replying(netstring.NetstringConnection):
        def _next_event(self):
            event = super()._next_event()
            if event is not NEED_DATA and event.payload == b"ping":
                self._write(ns(b"pong"))
            elif event is not NEED_DATA and event.payload == b"PING":
                self._write(ns(b"P" * 65536))
            return event

        def _on_remote_error(self, error):
            self._write(ns(b"bye"))

    return Replying


async def test_send_and_receive_events(adapter, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await stream.send(Netstring(b"hello"))
        await stream.send(Netstring(b""))
        assert await tools.read_exactly(sock, 11) == b"5:hello,0:,"
        await sock.send(b"3:abc,2:")
        assert await stream.receive() == Netstring(b"abc")
        await sock.send(b"de,")
        assert await stream.receive() == Netstring(b"de")


async def test_async_for_stops_at_clean_close_and_close_event_repeats(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send(b"1:a,1:b,1:c,")
        await sock.send_eof()
        got = [event.payload async for event in stream]
        assert got == [b"a", b"b", b"c"]
        assert isinstance(await stream.receive(), ConnectionClosed)
        assert isinstance(await stream.receive(), ConnectionClosed)


async def test_events_split_byte_by_byte(adapter, netstring, tools):
    payloads = [b"x" * n for n in (0, 1, 9, 10, 100)]
    wire = b"".join(ns(p) for p in payloads)
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):

        async def trickle():
            for i in range(len(wire)):
                await sock.send(wire[i : i + 1])
                await anyio.sleep(0)
            await sock.send_eof()

        async with anyio.create_task_group() as tg:
            tg.start_soon(trickle)
            assert [e.payload async for e in stream] == payloads


async def test_half_close_peer_can_still_be_answered(adapter, netstring, tools):
    """After the peer's EOF we can still send; after our send_eof the peer still sends."""
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send(ns(b"question"))
        await sock.send_eof()
        assert await stream.receive() == Netstring(b"question")
        assert isinstance(await stream.receive(), ConnectionClosed)
        await stream.send(Netstring(b"answer"))
        await stream.send_eof()
        assert await tools.read_until_eof(sock) == ns(b"answer")


async def test_send_eof_then_peer_keeps_sending(adapter, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await stream.send(Netstring(b"done"))
        await stream.send_eof()
        assert await tools.read_until_eof(sock) == ns(b"done")
        await sock.send(ns(b"late"))
        assert await stream.receive() == Netstring(b"late")


async def test_bad_bytes_raise_and_owed_bytes_are_written(adapter, replying, tools):
    async with tools.stream_and_socket(adapter, replying) as (stream, sock):
        await sock.send(b"3:abc;")
        with pytest.raises(RemoteProtocolError, match="ends with"):
            await stream.receive()
        assert await tools.read_exactly(sock, len(ns(b"bye"))) == ns(b"bye")
        with pytest.raises(RemoteProtocolError, match="already failed"):
            await stream.receive()


async def test_eof_inside_an_event_is_a_protocol_error(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send(b"10:abc")
        await sock.send_eof()
        with pytest.raises(RemoteProtocolError, match="incomplete event"):
            await stream.receive()


async def test_core_replies_are_flushed(adapter, replying, tools):
    async with tools.stream_and_socket(adapter, replying) as (stream, sock):
        await sock.send(ns(b"ping") + ns(b"other"))
        assert (await stream.receive()).payload == b"ping"
        assert await tools.read_exactly(sock, len(ns(b"pong"))) == ns(b"pong")
        assert (await stream.receive()).payload == b"other"


async def test_local_protocol_error_leaves_stream_usable(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        with pytest.raises(LocalProtocolError):
            await stream.send(b"not an event")
        await stream.send(netstring.Netstring(b"ok"))
        assert await tools.read_exactly(sock, 5) == b"2:ok,"


async def test_reset_after_complete_events_delivers_them_then_raises(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send(ns(b"first") + ns(b"second") + b"100:half a mess")
        await anyio.sleep(0.05)  # let the bytes arrive before the reset
        await tools.reset(sock)
        assert (await stream.receive()).payload == b"first"
        assert (await stream.receive()).payload == b"second"
        with pytest.raises(adapter.ConnectionLostError, match="lost") as info:
            await stream.receive()
        assert isinstance(info.value.__cause__, ConnectionResetError)
        with pytest.raises(adapter.ConnectionLostError):
            await stream.send(netstring.Netstring(b"too late"))


async def test_receive_raises_when_peer_resets_while_waiting(adapter, netstring, tools):
    peer = tools.stream_and_socket(adapter, netstring.NetstringConnection)
    async with peer as (stream, sock), anyio.create_task_group() as tg:

        async def receiver():
            with pytest.raises(adapter.ConnectionLostError):
                await stream.receive()

        tg.start_soon(receiver)
        await anyio.sleep(0.01)
        await tools.reset(sock)


async def test_cancelled_receive_loses_nothing(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        with anyio.move_on_after(0.02) as scope:
            await stream.receive()
        assert scope.cancelled_caught
        await sock.send(b"11:hello")
        with anyio.move_on_after(0.02) as scope:
            await stream.receive()  # half an event has arrived: still waiting
        assert scope.cancelled_caught
        await sock.send(b" world,")
        assert (await stream.receive()).payload == b"hello world"


async def test_concurrent_receive_is_refused(adapter, netstring, tools):
    peer = tools.stream_and_socket(adapter, netstring.NetstringConnection)
    async with peer as (stream, sock), anyio.create_task_group() as tg:
        tg.start_soon(stream.receive)
        await anyio.sleep(0.01)
        with pytest.raises(RuntimeError, match="already receiving"):
            await stream.receive()
        await sock.send(ns(b"x"))


async def test_slow_consumer_pauses_reading_with_bounded_memory(adapter, netstring, tools):
    """A peer floods us while we do not receive: reading stops, nothing is lost."""
    payload = b"z" * 1000
    count = 4000  # about 4 MB, far beyond the marks and the socket buffers
    async with tools.stream_and_socket(
        adapter,
        netstring.NetstringConnection,
        read_high_water=32 * 1024,
        read_low_water=8 * 1024,
    ) as (stream, sock):
        sent = 0

        async def flood():
            nonlocal sent
            for _ in range(count):
                await sock.send(ns(payload))
                sent += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(flood)
            await tools.stalled(lambda: sent)  # TCP holds the peer back: we stopped reading
            # Bounded: the high mark plus at most one read (pull mode: at most one read).
            assert stream.read_backlog <= 32 * 1024 + 256 * 1024
            assert sent < count  # the peer is held back by TCP flow control
            for _ in range(count):
                assert (await stream.receive()).payload == payload
        assert not stream.reading_paused
        assert stream.read_backlog == 0


async def test_send_waits_for_drain_and_cancel_sends_nothing_partial(adapter, netstring, tools):
    """The peer does not read: send blocks with a bounded buffer; a cancelled send sends nothing."""
    payload = b"p" * 50_000
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=64 * 1024
    ) as (stream, sock):
        sent = 0
        filling = True

        async def fill():  # until the test says stop; a send in progress is never cancelled
            nonlocal sent
            while filling:
                await stream.send(netstring.Netstring(payload))
                sent += 1
                assert stream.write_backlog <= 64 * 1024 + len(ns(payload))

        received = []

        async def read():
            received.append(await tools.read_until_eof(sock))

        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as filler:
                filler.start_soon(fill)
                await anyio.wait_all_tasks_blocked()  # the filler waits: the peer reads nothing
                assert sent > 0
                with anyio.move_on_after(0.02) as scope:
                    await stream.send(netstring.Netstring(b"cancelled"))
                assert scope.cancelled_caught
                filling = False
                tg.start_soon(read)  # the filler's waiting send goes through, then it stops
            await stream.aclose()
        assert received == [ns(payload) * sent]  # whole events only, not the cancelled one


async def test_concurrent_senders_never_interleave(adapter, netstring, tools):
    Netstring = netstring.Netstring
    payloads = [bytes([65 + i]) * 30_000 for i in range(20)]
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=16 * 1024
    ) as (stream, sock):

        async def read_all():
            expected = sum(len(ns(p)) for p in payloads)
            got = await tools.read_exactly(sock, expected)
            peer = netstring.NetstringConnection()
            peer.receive_data(got)
            assert sorted(e.payload for e in peer.events()) == sorted(payloads)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_all)
            async with anyio.create_task_group() as senders:
                for p in payloads:
                    senders.start_soon(stream.send, Netstring(p))


async def test_replies_to_a_peer_that_never_reads_are_bounded(adapter, replying, tools):
    """A peer sends pings and never reads the pongs: we stop parsing, memory stays bounded."""
    async with tools.stream_and_socket(
        adapter, replying, write_high_water=4096, read_high_water=4096
    ) as (stream, sock):
        flooded = 0

        async def flood():
            nonlocal flooded
            while True:
                await sock.send(ns(b"PING") * 100)
                flooded += 1

        async def consume():
            while True:
                await stream.receive()

        async with anyio.create_task_group() as tg:
            tg.start_soon(flood)
            tg.start_soon(consume)
            await tools.stalled(lambda: flooded)  # TCP holds the peer back: we stopped reading
            # Written replies are bounded: the mark plus the replies of one parse.
            assert stream.write_backlog <= 4096 + 65536 + 16
            assert stream.read_backlog <= 4096 + 256 * 1024
            tg.cancel_scope.cancel()


async def test_aclose_wakes_a_waiting_receiver_and_blocks_further_use(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        async with anyio.create_task_group() as tg:

            async def receiver():
                with pytest.raises(adapter.StreamClosedError):
                    await stream.receive()

            tg.start_soon(receiver)
            await anyio.sleep(0.01)
            await stream.aclose()
        await stream.aclose()  # twice is harmless
        with pytest.raises(adapter.StreamClosedError):
            await stream.send(netstring.Netstring(b"x"))
        with pytest.raises(adapter.StreamClosedError):
            await stream.receive()
        with pytest.raises(adapter.StreamClosedError):
            await stream.drain()
        assert await tools.read_until_eof(sock) == b""


async def test_aclose_wakes_a_blocked_sender(adapter, netstring, tools):
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=1024
    ) as (stream, _sock):
        big = netstring.Netstring(b"b" * 100_000)

        async def fill():  # until a send waits, then that send is woken by abort()
            with pytest.raises(adapter.StreamClosedError):
                await send_forever(stream, big)

        async def sender():
            with pytest.raises(adapter.StreamClosedError):
                await stream.send(big)

        async with anyio.create_task_group() as tg:
            tg.start_soon(fill)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            stream.abort()
        assert "closed" in repr(stream)


async def test_aclose_cancelled_aborts(adapter, netstring, tools):
    """A peer that never reads cannot make aclose() hang past its caller's timeout."""
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=1024
    ) as (stream, _sock):

        async def fill():  # until a send waits; the aborting aclose() wakes it
            with pytest.raises(adapter.StreamClosedError):
                await send_forever(stream, netstring.Netstring(b"c" * 100_000))

        async with anyio.create_task_group() as tg:
            tg.start_soon(fill)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0.05) as scope:
                await stream.aclose()
            assert scope.cancelled_caught
        await tools.eventually(lambda: stream.write_backlog == 0)  # aborted: unsent bytes dropped
        with pytest.raises(adapter.StreamClosedError):
            await stream.receive()


async def test_bytes_owed_on_error_are_written_once(adapter, replying, tools):
    async with tools.stream_and_socket(adapter, replying) as (stream, sock):
        await sock.send(b"xx")
        with pytest.raises(RemoteProtocolError):
            await stream.receive()
        # The owed bytes were written already; writing pending output again adds nothing.
        stream.write_pending()
        await stream.drain()
        await stream.aclose()
        assert await tools.read_until_eof(sock) == ns(b"bye")


async def test_properties_and_extra_info(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, _sock):
        assert isinstance(stream.connection, netstring.NetstringConnection)
        assert stream.get_extra_info("peername")[0] == "127.0.0.1"
        assert stream.get_extra_info("no such thing", 42) == 42
        assert "NetstringConnection" in repr(stream) and "peer=" in repr(stream)
        assert not stream.closed
        assert not stream.reading_paused
        assert stream.read_backlog == 0


def test_unattached_stream(adapter, netstring):
    stream = adapter.EventStream(netstring.NetstringConnection())
    assert stream.get_extra_info("peername", "none") == "none"
    assert stream.write_backlog == 0
    assert "unattached" in repr(stream)


async def test_unattached_stream_cannot_send(adapter, netstring):
    stream = adapter.EventStream(netstring.NetstringConnection())
    with pytest.raises(RuntimeError, match="no transport"):
        await stream.send(netstring.Netstring(b"x"))
    await stream.aclose()


@pytest.mark.parametrize(
    "marks",
    [
        {"read_high_water": 10, "read_low_water": 11},
        {"read_high_water": 10, "read_low_water": -1},
        {"write_high_water": -1},
        {"write_low_water": -1},
    ],
)
def test_bad_water_marks(adapter, netstring, marks):
    with pytest.raises(ValueError, match=r"must not be negative|read_low_water"):
        adapter.EventStream(netstring.NetstringConnection(), **marks)


async def test_sender_waits_for_a_slow_reader_then_goes_on(adapter, netstring, tools):
    """20 MB through a peer that starts reading late: every byte arrives, in order."""
    payloads = [bytes([i % 251]) * 100_000 for i in range(200)]
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=64 * 1024
    ) as (stream, sock):
        got = []

        async def read_late():
            await anyio.sleep(0.1)
            got.append(await tools.read_exactly(sock, sum(len(ns(p)) for p in payloads)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_late)
            for p in payloads:
                await stream.send(netstring.Netstring(p))
                assert stream.write_backlog <= 64 * 1024 + len(ns(p))
        assert got == [b"".join(ns(p) for p in payloads)]


async def test_replies_resume_once_the_peer_reads(adapter, replying, tools):
    async with tools.stream_and_socket(
        adapter, replying, write_high_water=4096, read_high_water=4096
    ) as (stream, sock):
        requests = 400  # about 26 MB of replies, far beyond the kernel's buffers
        await sock.send(ns(b"PING") * requests + ns(b"end"))
        count = 0

        async def consume():
            nonlocal count
            while (await stream.receive()).payload != b"end":
                count += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.1)
            assert count < requests  # parsing stopped while the replies could not leave
            replies = await tools.read_exactly(sock, requests * len(ns(b"P" * 65536)))
        assert count == requests
        assert replies == ns(b"P" * 65536) * requests


async def test_core_output_at_creation_is_written_on_attach(adapter, netstring, tools):
    class Greeting(netstring.NetstringConnection):
        def __init__(self):
            super().__init__()
            self.send(netstring.Netstring(b"hello"))

    async with tools.stream_and_socket(adapter, Greeting) as (_, sock):
        assert await tools.read_exactly(sock, 8) == b"5:hello,"


async def test_coalesced_writes_keep_their_order_with_core_replies(adapter, replying, tools):
    """Replies the core makes and events the application sends leave in the order made."""
    async with tools.stream_and_socket(adapter, replying) as (stream, sock):
        await sock.send(ns(b"ping") + ns(b"a") + ns(b"ping") + ns(b"b"))
        for _ in range(4):
            event = await stream.receive()
            await stream.send(type(event)(b"echo " + event.payload))
        expected = (
            ns(b"pong") + ns(b"echo ping") + ns(b"echo a")
            + ns(b"pong") + ns(b"echo ping") + ns(b"echo b")
        )  # fmt: skip
        assert await tools.read_exactly(sock, len(expected)) == expected


async def test_a_send_after_a_batch_leaves_without_another_receive(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send(ns(b"one") + ns(b"two"))
        assert (await stream.receive()).payload == b"one"
        await stream.send(netstring.Netstring(b"reply"))  # more input is waiting: coalesced
        assert await tools.read_exactly(sock, len(ns(b"reply"))) == ns(b"reply")


async def test_waiting_senders_are_served_in_arrival_order(adapter, netstring, tools):
    """A waits on a full buffer, B behind it; A's next send (C) goes after B, not before."""
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=16 * 1024
    ) as (stream, sock):
        filler = b"F" * 1_000_000

        async def first():
            await stream.send(Netstring(b"A"))
            await stream.send(Netstring(b"C"))  # B has been waiting since before A returned

        async def second():
            await stream.send(Netstring(b"B"))

        async with anyio.create_task_group() as tg:
            # More than the kernel takes: senders now wait. One at a time, in this order.
            for sending in (partial(stream.send, Netstring(filler)), first, second):
                tg.start_soon(sending)
                await anyio.wait_all_tasks_blocked()
            got = await tools.read_exactly(sock, len(ns(filler)) + 3 * len(ns(b"A")))
        assert got == ns(filler) + ns(b"A") + ns(b"B") + ns(b"C")


async def test_a_cancelled_waiting_sender_keeps_the_others_in_order(adapter, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(
        adapter, netstring.NetstringConnection, write_high_water=16 * 1024
    ) as (stream, sock):
        filler = b"F" * 1_000_000
        cancelled = anyio.CancelScope()

        async def first():
            await stream.send(Netstring(b"A"))
            await stream.send(Netstring(b"D"))

        async def cancellable():
            with cancelled:
                await stream.send(Netstring(b"X"))

        async with anyio.create_task_group() as tg:
            for sending in (
                partial(stream.send, Netstring(filler)),  # more than the kernel takes
                first,
                partial(stream.send, Netstring(b"B")),
                cancellable,
                partial(stream.send, Netstring(b"C")),
            ):
                tg.start_soon(sending)
                await anyio.wait_all_tasks_blocked()  # one at a time, in this order
            cancelled.cancel()
            got = await tools.read_exactly(sock, len(ns(filler)) + 4 * len(ns(b"A")))
        # X was cancelled while waiting and sent nothing; the others keep their order.
        assert got == ns(filler) + ns(b"A") + ns(b"B") + ns(b"C") + ns(b"D")
        assert cancelled.cancelled_caught


# -- the public API the protocol layers build on ---------------------------------


@pytest.mark.reads_ahead
async def test_receive_nowait_never_waits(adapter, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        assert stream.receive_nowait() is NEED_DATA
        await sock.send(b"1:a,1:")
        await tools.eventually(lambda: stream.read_backlog)
        assert stream.receive_nowait() == Netstring(b"a")
        assert stream.receive_nowait() is NEED_DATA  # half a netstring waits in the core
        await sock.send(b"b,")
        assert await stream.receive() == Netstring(b"b")


async def test_send_nowait_writes_in_order_in_one_turn(adapter, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        for payload in (b"a", b"bb", b"ccc"):
            stream.send_nowait(Netstring(payload))
        assert stream.write_backlog == len(b"1:a,2:bb,3:ccc,")  # held for this turn
        await stream.send(Netstring(b"d"))  # after them, never before
        assert await tools.read_exactly(sock, 19) == b"1:a,2:bb,3:ccc,1:d,"
        await tools.eventually(lambda: stream.write_backlog == 0)


async def test_send_nowait_refuses_before_anything_changes(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, _):
        with pytest.raises(LocalProtocolError):
            stream.send_nowait("not a netstring")
        assert stream.write_backlog == 0


async def test_write_pending_and_drain_write_what_the_core_queued(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        stream.connection.send(netstring.Netstring(b"direct"))  # behind the stream's back
        stream.write_pending()
        await stream.drain()
        assert await tools.read_exactly(sock, 9) == b"6:direct,"


async def test_close_nowait_and_closed(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        stream.send_nowait(netstring.Netstring(b"last"))
        assert not stream.closed
        stream.close_nowait()
        assert stream.closed
        await stream.aclose()  # on trio, the queued bytes and the close leave here
        assert await tools.read_until_eof(sock) == b"4:last,"
        with pytest.raises(adapter.StreamClosedError):
            stream.send_nowait(netstring.Netstring(b"more"))
        with pytest.raises(adapter.StreamClosedError):
            await stream.drain()
        stream.write_pending()  # harmless once closed


async def test_connect_as_an_async_context_manager_closes_on_exit(adapter, netstring, tools):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        async with adapter.connect(netstring.NetstringConnection, "127.0.0.1", port) as stream:
            accepted, _ = listener.accept()
            await stream.send(netstring.Netstring(b"hi"))
        assert stream.closed
        with accepted:
            assert accepted.recv(100) == b"2:hi,"
            assert accepted.recv(100) == b""


async def test_connect_is_used_once(adapter, netstring):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        connecting = adapter.connect(
            netstring.NetstringConnection, "127.0.0.1", listener.getsockname()[1]
        )
        stream = await connecting
        async with stream:
            with pytest.raises(RuntimeError, match="already awaited or entered"):
                await connecting
            with pytest.raises(RuntimeError, match="already awaited or entered"):
                async with connecting:
                    pass


def test_a_connect_never_awaited_leaves_no_warning(adapter, netstring):
    # pytest turns warnings into errors; an unawaited coroutine would warn.
    connecting = adapter.connect(netstring.NetstringConnection, "127.0.0.1", 1)
    del connecting
    gc.collect()


# -- time: the stream drives any core's timer ------------------------------------


@pytest.fixture
def alarm(netstring):
    """A netstring core that, an hour after its last event, says so to both sides."""

    class Alarm(netstring.NetstringConnection):
        def __init__(self, *, clock):
            super().__init__()
            self._clock = clock
            self._deadline = clock() + 3600
            self._rang = False

        def _next_event(self):
            if self._rang:
                self._rang = False
                return netstring.Netstring(b"alarm")
            event = super()._next_event()
            if event is not NEED_DATA:
                self._deadline = self._clock() + 3600
            return event

        def get_timer(self):
            return None if self.receive_state.value in ("CLOSED", "ERROR") else self._deadline

        def handle_timer(self, now):
            if now >= self._deadline:
                self._write(ns(b"alarm"))
                self._rang = True
                self._deadline = now + 3600

    return lambda: Alarm(clock=anyio.current_time)


async def test_a_core_timer_fires_on_the_loop_clock(adapter, alarm, tools, virtual_clock):
    async with tools.stream_and_socket(adapter, alarm) as (stream, sock):
        start = virtual_clock()
        with anyio.fail_after(4000):  # virtual seconds: a timer nobody drives fails here
            event = await stream.receive()  # nothing comes from the peer: the timer does
        assert event.payload == b"alarm"
        assert virtual_clock() - start >= 3600
        assert await tools.read_exactly(sock, 8) == b"5:alarm,"


async def test_activity_moves_a_core_timer(adapter, alarm, netstring, tools, virtual_clock):
    async with tools.stream_and_socket(adapter, alarm) as (stream, sock):
        start = virtual_clock()
        await anyio.sleep(3000)
        await sock.send(b"2:hi,")
        assert (await stream.receive()).payload == b"hi"  # the deadline moves an hour on
        with anyio.fail_after(4000):
            assert (await stream.receive()).payload == b"alarm"
        assert virtual_clock() - start >= 6600


async def test_closing_errors_carry_the_peers_closing_event_once_known(adapter, netstring, tools):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock):
        await sock.send_eof()
        closing = await stream.receive()
        assert isinstance(closing, ConnectionClosed)
        await stream.aclose()
        with pytest.raises(adapter.StreamClosedError) as raised:
            await stream.send(netstring.Netstring(b"late"))
        assert raised.value.event is closing


async def test_closing_errors_carry_no_event_while_the_peers_end_is_unknown(
    adapter, netstring, tools
):
    async with tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, _):
        stream.close_nowait()
        with pytest.raises(adapter.StreamClosedError) as raised:
            await stream.receive()
        assert raised.value.event is None


@pytest.mark.reads_ahead
async def test_receive_nowait_waits_for_nothing_and_parses_nothing_past_blocked_replies(
    adapter, replying, tools
):
    requests = 20
    async with tools.stream_and_socket(adapter, replying, write_high_water=1024) as (stream, sock):
        await sock.send(ns(b"PING") * requests)  # each makes the core write 64 KiB
        await tools.eventually(lambda: stream.read_backlog == len(ns(b"PING")) * requests)
        taken = 0
        while stream.receive_nowait() is not NEED_DATA:
            taken += 1
        assert taken < requests  # the replies cannot leave: parsing stopped

        async def the_rest():
            for _ in range(requests - taken):
                assert (await stream.receive()).payload == b"PING"

        async with anyio.create_task_group() as tg:
            tg.start_soon(the_rest)
            replies = await tools.read_exactly(sock, requests * len(ns(b"P" * 65536)))
        assert replies == ns(b"P" * 65536) * requests


async def test_receive_nowait_is_refused_while_a_task_receives(adapter, netstring, tools):
    async with (
        tools.stream_and_socket(adapter, netstring.NetstringConnection) as (stream, sock),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(stream.receive)
        await anyio.sleep(0.01)
        with pytest.raises(RuntimeError, match="already receiving"):
            stream.receive_nowait()
        await sock.send(b"1:a,")
