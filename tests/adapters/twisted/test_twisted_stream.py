"""EventStream on Twisted: receiving, sending, backpressure, cancellation, loss, closing, timers.

tests/adapters/shared runs its bodies on an anyio loop and awaits the
adapter directly, which Twisted's Deferred API does not allow; these are the
same behaviours on a real reactor (see conftest.py), with ``Deferred.cancel()``
where the shared bodies cancel a scope. Shared test (test_stream.py) -> here:

- send_and_receive_events -> same name
- async_for_stops_at_clean_close_and_close_event_repeats -> same name
- events_split_byte_by_byte -> same name
- half_close_peer_can_still_be_answered, send_eof_then_peer_keeps_sending -> same names
- bad_bytes_raise_and_owed_bytes_are_written, eof_inside_an_event_is_a_protocol_error,
  core_replies_are_flushed, local_protocol_error_leaves_stream_usable -> same names
- reset_after_complete_events_delivers_them_then_raises,
  receive_raises_when_peer_resets_while_waiting -> same names
- cancelled_receive_loses_nothing -> same name (Deferred.cancel())
- concurrent_receive_is_refused -> same name
- slow_consumer_pauses_reading_with_bounded_memory -> same name (the transport's pauseProducing)
- send_waits_for_drain_and_cancel_sends_nothing_partial -> same name
- concurrent_senders_never_interleave, waiting_senders_are_served_in_arrival_order,
  a_cancelled_waiting_sender_keeps_the_others_in_order -> same names
- replies_to_a_peer_that_never_reads_are_bounded, replies_resume_once_the_peer_reads -> same
- aclose_wakes_a_waiting_receiver_and_blocks_further_use, aclose_wakes_a_blocked_sender,
  aclose_cancelled_aborts -> same names
- bytes_owed_on_error_are_written_once, properties_and_extra_info -> same names
- unattached_stream, unattached_stream_cannot_send, bad_water_marks -> same names
- sender_waits_for_a_slow_reader_then_goes_on -> same name
- core_output_at_creation_is_written_on_attach -> same name
- coalesced_writes_keep_their_order_with_core_replies,
  a_send_after_a_batch_leaves_without_another_receive -> same names
- receive_nowait_never_waits, send_nowait_writes_in_order_in_one_turn,
  send_nowait_refuses_before_anything_changes,
  write_pending_and_drain_write_what_the_core_queued, close_nowait_and_closed -> same names
- connect_as_an_async_context_manager_closes_on_exit, connect_is_used_once,
  a_connect_never_awaited_leaves_no_warning -> not applicable: connect() returns a
  Deferred (test_twisted_network.py cancels one instead)
- a_core_timer_fires_on_the_loop_clock, activity_moves_a_core_timer -> same names, on
  ``task.Clock`` (the ``reactor=`` argument)
- closing_errors_carry_the_peers_closing_event_once_known,
  closing_errors_carry_no_event_while_the_peers_end_is_unknown -> same names
- receive_nowait_waits_for_nothing_and_parses_nothing_past_blocked_replies,
  receive_nowait_is_refused_while_a_task_receives -> same names
"""

import pytest
from twisted.internet.defer import CancelledError, Deferred, DeferredList, gatherResults
from twisted.internet.error import ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

import tidewire_twisted
from tidewire import NEED_DATA, ConnectionClosed, LocalProtocolError, RemoteProtocolError


def ns(payload):
    return b"%d:%b," % (len(payload), payload)


@pytest.fixture
def replying(netstring):
    """A netstring core that answers pings by itself and owes b"bye" on error.

    b"ping" is answered with b"pong", b"PING" with 64 KiB.
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


async def test_async_for_stops_at_clean_close_and_close_event_repeats(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send(b"1:a,1:b,1:c,")
        peer.send_eof()
        got = [event.payload async for event in stream]
        assert got == [b"a", b"b", b"c"]
        assert isinstance(await stream.receive(), ConnectionClosed)
        assert isinstance(await stream.receive(), ConnectionClosed)


async def test_events_split_byte_by_byte(reactor, netstring, tools):
    payloads = [b"x" * n for n in (0, 1, 9, 10, 100)]
    wire = b"".join(ns(p) for p in payloads)
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):

        async def trickle():
            for i in range(len(wire)):
                peer.send(wire[i : i + 1])
                await tools.sleep(0)
            peer.send_eof()

        trickling = Deferred.fromCoroutine(trickle())
        assert [e.payload async for e in stream] == payloads
        await trickling


async def test_half_close_peer_can_still_be_answered(reactor, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send(ns(b"question"))
        peer.send_eof()
        assert await stream.receive() == Netstring(b"question")
        assert isinstance(await stream.receive(), ConnectionClosed)
        await stream.send(Netstring(b"answer"))
        await stream.send_eof()
        assert await peer.read_until_eof() == ns(b"answer")


async def test_send_eof_then_peer_keeps_sending(reactor, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        await stream.send(Netstring(b"done"))
        await stream.send_eof()
        assert await peer.read_until_eof() == ns(b"done")
        peer.send(ns(b"late"))
        assert await stream.receive() == Netstring(b"late")


async def test_bad_bytes_raise_and_owed_bytes_are_written(reactor, replying, tools):
    async with tools.stream_and_peer(replying) as (stream, peer):
        peer.send(b"3:abc;")
        with pytest.raises(RemoteProtocolError, match="ends with"):
            await stream.receive()
        assert await peer.read_exactly(len(ns(b"bye"))) == ns(b"bye")
        with pytest.raises(RemoteProtocolError, match="already failed"):
            await stream.receive()


async def test_eof_inside_an_event_is_a_protocol_error(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send(b"10:abc")
        peer.send_eof()
        with pytest.raises(RemoteProtocolError, match="incomplete event"):
            await stream.receive()


async def test_core_replies_are_flushed(reactor, replying, tools):
    async with tools.stream_and_peer(replying) as (stream, peer):
        peer.send(ns(b"ping") + ns(b"other"))
        assert (await stream.receive()).payload == b"ping"
        assert await peer.read_exactly(len(ns(b"pong"))) == ns(b"pong")
        assert (await stream.receive()).payload == b"other"


async def test_local_protocol_error_leaves_stream_usable(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        with pytest.raises(LocalProtocolError):
            await stream.send(b"not an event")
        await stream.send(netstring.Netstring(b"ok"))
        assert await peer.read_exactly(5) == b"2:ok,"


async def test_reset_after_complete_events_delivers_them_then_raises(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send(ns(b"first") + ns(b"second") + b"100:half a mess")
        await tools.eventually(lambda: stream.read_backlog)  # arrived before the reset
        await peer.reset()
        await tools.eventually(lambda: stream.closed)
        assert (await stream.receive()).payload == b"first"
        assert (await stream.receive()).payload == b"second"
        with pytest.raises(tidewire_twisted.ConnectionLostError, match="lost") as info:
            await stream.receive()
        assert isinstance(info.value.__cause__, ConnectionLost | ConnectionResetError)
        with pytest.raises(tidewire_twisted.ConnectionLostError):
            await stream.send(netstring.Netstring(b"too late"))


async def test_receive_raises_when_peer_resets_while_waiting(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        waiting = stream.receive()
        await tools.sleep(0.01)
        await peer.reset()
        with pytest.raises(tidewire_twisted.ConnectionLostError):
            await waiting


async def test_cancelled_receive_loses_nothing(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        assert await tools.cancelled_after(stream.receive(), 0.02)
        peer.send(b"11:hello")
        assert await tools.cancelled_after(stream.receive(), 0.02)  # half an event: waits
        peer.send(b" world,")
        assert (await stream.receive()).payload == b"hello world"


async def test_concurrent_receive_is_refused(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        first = stream.receive()
        with pytest.raises(RuntimeError, match="already waiting"):
            await stream.receive()
        peer.send(ns(b"x"))
        assert (await first).payload == b"x"


async def test_slow_consumer_pauses_reading_with_bounded_memory(reactor, netstring, tools):
    """A peer floods us while we do not receive: the transport is paused, nothing is lost."""
    payload = b"z" * 1000
    count = 4000  # about 4 MB, far beyond the marks and the socket buffers
    marks = {"read_high_water": 32 * 1024, "read_low_water": 8 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **marks) as (stream, peer):
        peer.send(ns(payload) * count)  # Twisted buffers it in the peer's transport
        await tools.eventually(lambda: stream.reading_paused)
        await tools.sleep(0.05)
        assert stream.reading_paused
        assert stream.read_backlog <= 32 * 1024 + 256 * 1024  # the mark plus one read
        assert peer.transport.dataBuffer  # the rest is held back by TCP flow control
        for _ in range(count):
            assert (await stream.receive()).payload == payload
        assert not stream.reading_paused
        assert stream.read_backlog == 0


async def test_send_waits_for_drain_and_cancel_sends_nothing_partial(reactor, netstring, tools):
    """The peer does not read: sends wait with a bounded buffer; a cancelled send sent nothing."""
    payload = b"p" * 50_000
    options = {"write_high_water": 64 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        peer.stop_reading()
        sent = await tools.fill(stream, netstring.Netstring(payload))
        assert sent > 0
        assert stream.write_backlog <= 64 * 1024 + len(ns(payload))
        assert await tools.cancelled_after(stream.send(netstring.Netstring(b"cancelled")), 0.02)
        closing = stream.aclose()
        assert await peer.read_until_eof() == ns(payload) * sent  # whole events only
        await closing


async def test_concurrent_senders_never_interleave(reactor, netstring, tools):
    Netstring = netstring.Netstring
    payloads = [bytes([65 + i]) * 30_000 for i in range(20)]
    options = {"write_high_water": 16 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        sending = gatherResults([stream.send(Netstring(p)) for p in payloads])
        got = await peer.read_exactly(sum(len(ns(p)) for p in payloads))
        await sending
        check = netstring.NetstringConnection()
        check.receive_data(got)
        assert [e.payload for e in check.events()] == payloads


async def test_waiting_senders_are_served_in_arrival_order(reactor, netstring, tools):
    """A waits on a full buffer, B behind it; A's next send (C) goes after B, not before."""
    Netstring = netstring.Netstring
    options = {"write_high_water": 16 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        filler = b"F" * 1_000_000
        await stream.send(Netstring(filler))  # more than the transport takes: senders wait

        async def first():
            await stream.send(Netstring(b"A"))
            await stream.send(Netstring(b"C"))

        a_then_c = Deferred.fromCoroutine(first())
        b = stream.send(Netstring(b"B"))
        assert not b.called
        got = await peer.read_exactly(len(ns(filler)) + 3 * len(ns(b"A")))
        await gatherResults([a_then_c, b])
        assert got == ns(filler) + ns(b"A") + ns(b"B") + ns(b"C")


async def test_a_cancelled_waiting_sender_keeps_the_others_in_order(reactor, netstring, tools):
    Netstring = netstring.Netstring
    options = {"write_high_water": 16 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        filler = b"F" * 1_000_000
        await stream.send(Netstring(filler))

        async def first():
            await stream.send(Netstring(b"A"))
            await stream.send(Netstring(b"D"))

        a_then_d = Deferred.fromCoroutine(first())
        b = stream.send(Netstring(b"B"))
        x = stream.send(Netstring(b"X"))
        c = stream.send(Netstring(b"C"))
        x.cancel()
        with pytest.raises(CancelledError):
            await x
        got = await peer.read_exactly(len(ns(filler)) + 4 * len(ns(b"A")))
        await gatherResults([a_then_d, b, c])
        assert got == ns(filler) + ns(b"A") + ns(b"B") + ns(b"C") + ns(b"D")


async def test_replies_to_a_peer_that_never_reads_are_bounded(reactor, replying, tools):
    """A peer sends pings and never reads the pongs: we stop parsing, memory stays bounded."""
    options = {"write_high_water": 4096, "read_high_water": 4096}
    async with tools.stream_and_peer(replying, **options) as (stream, peer):
        peer.stop_reading()
        peer.send(ns(b"PING") * 2000)
        received = []

        async def consume():
            while True:
                received.append(await stream.receive())

        consuming = Deferred.fromCoroutine(consume())
        await tools.eventually(lambda: stream.reading_paused)
        await tools.sleep(0.1)
        assert stream.write_backlog <= 4096 + 65536 + 16  # the mark plus one parse's replies
        assert stream.read_backlog <= 4096 + 256 * 1024
        assert len(received) < 2000
        consuming.cancel()
        with pytest.raises(CancelledError):
            await consuming


async def test_replies_resume_once_the_peer_reads(reactor, replying, tools):
    options = {"write_high_water": 4096, "read_high_water": 4096}
    async with tools.stream_and_peer(replying, **options) as (stream, peer):
        requests = 400  # about 26 MB of replies, far beyond the kernel's buffers
        peer.stop_reading()
        peer.send(ns(b"PING") * requests + ns(b"end"))
        count = 0

        async def consume():
            nonlocal count
            while (await stream.receive()).payload != b"end":
                count += 1

        consuming = Deferred.fromCoroutine(consume())
        await tools.sleep(0.1)
        assert count < requests  # parsing stopped while the replies could not leave
        replies = await peer.read_exactly(requests * len(ns(b"P" * 65536)))
        await consuming
        assert count == requests
        assert replies == ns(b"P" * 65536) * requests


async def test_aclose_wakes_a_waiting_receiver_and_blocks_further_use(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        waiting = stream.receive()
        await stream.aclose()
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await waiting
        await stream.aclose()  # twice is harmless
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await stream.send(netstring.Netstring(b"x"))
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await stream.receive()
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await stream.drain()
        assert await peer.read_until_eof() == b""


async def test_aclose_wakes_a_blocked_sender(reactor, netstring, tools):
    options = {"write_high_water": 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        peer.stop_reading()
        big = netstring.Netstring(b"b" * 100_000)
        await tools.fill(stream, big)
        sending = stream.send(big)
        assert not sending.called
        stream.abort()
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await sending
        assert "closed" in repr(stream)


async def test_aclose_cancelled_aborts(reactor, netstring, tools):
    """A peer that never reads cannot make aclose() hang past its caller's timeout."""
    options = {"write_high_water": 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        peer.stop_reading()
        await tools.fill(stream, netstring.Netstring(b"c" * 100_000))
        assert await tools.cancelled_after(stream.aclose(), 0.05)
        await tools.eventually(lambda: stream.write_backlog == 0)  # aborted: bytes dropped
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await stream.receive()


async def test_bytes_owed_on_error_are_written_once(reactor, replying, tools):
    async with tools.stream_and_peer(replying) as (stream, peer):
        peer.send(b"xx")
        with pytest.raises(RemoteProtocolError):
            await stream.receive()
        stream.write_pending()  # the owed bytes were written already: nothing more
        await stream.drain()
        await stream.aclose()
        assert await peer.read_until_eof() == ns(b"bye")


async def test_properties_and_extra_info(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, _):
        assert isinstance(stream.connection, netstring.NetstringConnection)
        assert stream.get_extra_info("peername")[0] == "127.0.0.1"
        assert stream.get_extra_info("sockname")[0] == "127.0.0.1"
        assert stream.get_extra_info("peer").host == "127.0.0.1"
        assert stream.get_extra_info("no such thing", 42) == 42
        assert stream.get_extra_info("ssl_object", "plain") == "plain"
        assert "NetstringConnection" in repr(stream) and "peer=" in repr(stream)
        assert stream.transport is not None
        assert not stream.closed
        assert not stream.reading_paused
        assert stream.read_backlog == 0


def test_unattached_stream(netstring):
    stream = tidewire_twisted.EventStream(netstring.NetstringConnection())
    assert stream.get_extra_info("peername", "none") == "none"
    assert stream.write_backlog == 0
    assert stream.transport is None
    assert "unattached" in repr(stream)


def test_unattached_stream_cannot_send(netstring):
    stream = tidewire_twisted.EventStream(netstring.NetstringConnection())
    failure = []
    stream.send(netstring.Netstring(b"x")).addErrback(failure.append)
    assert failure[0].check(RuntimeError) and "no transport" in str(failure[0].value)
    closing = stream.aclose()
    assert closing.called


@pytest.mark.parametrize(
    "marks",
    [
        {"read_high_water": 10, "read_low_water": 11},
        {"read_high_water": 10, "read_low_water": -1},
        {"write_high_water": -1},
        {"write_low_water": -1},
    ],
)
def test_bad_water_marks(netstring, marks):
    with pytest.raises(ValueError, match=r"must not be negative|read_low_water"):
        tidewire_twisted.EventStream(netstring.NetstringConnection(), **marks)


async def test_sender_waits_for_a_slow_reader_then_goes_on(reactor, netstring, tools):
    """20 MB through a peer that starts reading late: every byte arrives, in order."""
    payloads = [bytes([i % 251]) * 100_000 for i in range(200)]
    options = {"write_high_water": 64 * 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        peer.stop_reading()

        async def read_late():
            await tools.sleep(0.1)
            return await peer.read_exactly(sum(len(ns(p)) for p in payloads))

        reading = Deferred.fromCoroutine(read_late())
        waited = 0
        for p in payloads:
            sending = stream.send(netstring.Netstring(p))
            waited += not sending.called
            await sending
            assert stream.write_backlog <= 64 * 1024 + len(ns(p))
        assert waited  # the sender was held back while the peer did not read
        assert await reading == b"".join(ns(p) for p in payloads)


async def test_core_output_at_creation_is_written_on_attach(reactor, netstring, tools):
    class Greeting(netstring.NetstringConnection):
        def __init__(self):
            super().__init__()
            self.send(netstring.Netstring(b"hello"))

    async with tools.stream_and_peer(Greeting) as (_, peer):
        assert await peer.read_exactly(8) == b"5:hello,"


async def test_coalesced_writes_keep_their_order_with_core_replies(reactor, replying, tools):
    async with tools.stream_and_peer(replying) as (stream, peer):
        peer.send(ns(b"ping") + ns(b"a") + ns(b"ping") + ns(b"b"))
        for _ in range(4):
            event = await stream.receive()
            await stream.send(type(event)(b"echo " + event.payload))
        expected = (
            ns(b"pong") + ns(b"echo ping") + ns(b"echo a")
            + ns(b"pong") + ns(b"echo ping") + ns(b"echo b")
        )  # fmt: skip
        assert await peer.read_exactly(len(expected)) == expected


async def test_a_send_after_a_batch_leaves_without_another_receive(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send(ns(b"one") + ns(b"two"))
        assert (await stream.receive()).payload == b"one"
        await stream.send(netstring.Netstring(b"reply"))
        assert await peer.read_exactly(len(ns(b"reply"))) == ns(b"reply")


async def test_receive_nowait_never_waits(reactor, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        assert stream.receive_nowait() is NEED_DATA
        peer.send(b"1:a,1:")
        await tools.eventually(lambda: stream.read_backlog)
        assert stream.receive_nowait() == Netstring(b"a")
        assert stream.receive_nowait() is NEED_DATA  # half a netstring waits in the core
        peer.send(b"b,")
        assert await stream.receive() == Netstring(b"b")


async def test_send_nowait_writes_in_order_in_one_turn(reactor, netstring, tools):
    Netstring = netstring.Netstring
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        for payload in (b"a", b"bb", b"ccc"):
            stream.send_nowait(Netstring(payload))
        assert stream.write_backlog == len(b"1:a,2:bb,3:ccc,")  # Twisted writes at turn's end
        await stream.send(Netstring(b"d"))  # after them, never before
        assert await peer.read_exactly(19) == b"1:a,2:bb,3:ccc,1:d,"
        await tools.eventually(lambda: stream.write_backlog == 0)


async def test_send_nowait_refuses_before_anything_changes(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, _):
        with pytest.raises(LocalProtocolError):
            stream.send_nowait("not a netstring")
        assert stream.write_backlog == 0


async def test_write_pending_and_drain_write_what_the_core_queued(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        stream.connection.send(netstring.Netstring(b"direct"))  # behind the stream's back
        stream.write_pending()
        await stream.drain()
        assert await peer.read_exactly(9) == b"6:direct,"


async def test_close_nowait_and_closed(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        stream.send_nowait(netstring.Netstring(b"last"))
        assert not stream.closed
        stream.close_nowait()
        assert stream.closed
        assert await peer.read_until_eof() == b"4:last,"
        with pytest.raises(tidewire_twisted.StreamClosedError):
            stream.send_nowait(netstring.Netstring(b"more"))
        with pytest.raises(tidewire_twisted.StreamClosedError):
            await stream.drain()
        stream.write_pending()  # harmless once closed


async def test_closing_errors_carry_the_peers_closing_event_once_known(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        peer.send_eof()
        closing = await stream.receive()
        assert isinstance(closing, ConnectionClosed)
        await stream.aclose()
        with pytest.raises(tidewire_twisted.StreamClosedError) as raised:
            await stream.send(netstring.Netstring(b"late"))
        assert raised.value.event is closing


async def test_closing_errors_carry_no_event_while_the_peers_end_is_unknown(
    reactor, netstring, tools
):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, _):
        stream.close_nowait()
        with pytest.raises(tidewire_twisted.StreamClosedError) as raised:
            await stream.receive()
        assert raised.value.event is None


async def test_receive_nowait_waits_for_nothing_and_parses_nothing_past_blocked_replies(
    reactor, replying, tools
):
    requests = 20
    async with tools.stream_and_peer(replying, write_high_water=1024) as (stream, peer):
        peer.stop_reading()
        peer.send(ns(b"PING") * requests)  # each makes the core write 64 KiB
        await tools.eventually(lambda: stream.read_backlog == len(ns(b"PING")) * requests)
        taken = 0
        while stream.receive_nowait() is not NEED_DATA:
            taken += 1
        assert taken < requests  # the replies cannot leave: parsing stopped

        async def the_rest():
            for _ in range(requests - taken):
                assert (await stream.receive()).payload == b"PING"

        rest = Deferred.fromCoroutine(the_rest())
        replies = await peer.read_exactly(requests * len(ns(b"P" * 65536)))
        await rest
        assert replies == ns(b"P" * 65536) * requests


async def test_receive_nowait_is_refused_while_a_task_receives(reactor, netstring, tools):
    async with tools.stream_and_peer(netstring.NetstringConnection) as (stream, peer):
        waiting = stream.receive()
        with pytest.raises(RuntimeError, match="already waiting"):
            stream.receive_nowait()
        peer.send(b"1:a,")
        assert (await waiting).payload == b"a"


async def test_a_cancelled_drain_and_send_eof_change_nothing(reactor, netstring, tools):
    options = {"write_high_water": 1024}
    async with tools.stream_and_peer(netstring.NetstringConnection, **options) as (stream, peer):
        peer.stop_reading()
        sent = await tools.fill(stream, netstring.Netstring(b"d" * 100_000))
        assert await tools.cancelled_after(stream.drain(), 0.02)
        assert await tools.cancelled_after(stream.send_eof(), 0.02)
        last = stream.send(netstring.Netstring(b"last"))
        got = await peer.read_exactly(sent * len(ns(b"d" * 100_000)) + len(ns(b"last")))
        await last
        assert got.endswith(ns(b"last"))  # no end of file went out before it
        await stream.send_eof()
        assert await peer.read_until_eof() == b""


# -- time: the stream drives any core's timer on the reactor's clock -------------


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

    return Alarm


def clocked(core):
    """An EventStream on a task.Clock over a StringTransport: time moves only by hand."""
    clock = Clock()
    stream = tidewire_twisted.EventStream(core(clock=clock.seconds), reactor=clock)
    transport = StringTransport()
    stream.protocol.makeConnection(transport)
    return stream, transport, clock


def test_a_core_timer_fires_on_the_loop_clock(alarm):
    stream, transport, clock = clocked(alarm)
    receiving = stream.receive()  # nothing comes from the peer: the timer does
    clock.advance(3599)
    assert not receiving.called
    clock.advance(1)
    assert receiving.result.payload == b"alarm"
    assert transport.value() == b"5:alarm,"


def test_activity_moves_a_core_timer(alarm):
    stream, _transport, clock = clocked(alarm)
    clock.advance(3000)
    stream.protocol.dataReceived(b"2:hi,")
    assert stream.receive().result.payload == b"hi"  # the deadline moves an hour on
    receiving = stream.receive()
    clock.advance(3599)
    assert not receiving.called
    clock.advance(1)
    assert receiving.result.payload == b"alarm"
    assert clock.seconds() >= 6600


def test_no_timer_is_left_once_the_stream_is_closed(alarm):
    stream, transport, clock = clocked(alarm)
    assert clock.getDelayedCalls()
    stream.close_nowait()
    assert not [call for call in clock.getDelayedCalls() if call.active()]
    assert transport.disconnecting


def test_the_transport_is_paused_past_the_high_water_mark_and_resumed(netstring):
    stream = tidewire_twisted.EventStream(
        netstring.NetstringConnection(), read_high_water=10, read_low_water=0
    )
    transport = StringTransport()
    stream.protocol.makeConnection(transport)
    stream.protocol.dataReceived(b"5:hello,")
    assert transport.producerState == "producing"
    stream.protocol.dataReceived(b"5:world,")
    assert transport.producerState == "paused" and stream.reading_paused
    assert stream.receive().result.payload == b"hello"
    assert transport.producerState == "paused"  # the second chunk still waits unparsed
    assert stream.receive().result.payload == b"world"
    assert transport.producerState == "producing" and not stream.reading_paused


def test_writers_wait_while_the_transport_asks_its_producer_to_pause(netstring):
    stream = tidewire_twisted.EventStream(netstring.NetstringConnection())
    transport = StringTransport()
    stream.protocol.makeConnection(transport)
    assert transport.producer is stream.protocol and transport.streaming
    transport.producer.pauseProducing()  # what a full write buffer does
    sending = stream.send(netstring.Netstring(b"later"))
    draining = stream.drain()
    assert not sending.called and not draining.called and transport.value() == b""
    transport.producer.resumeProducing()
    assert sending.called and draining.called and transport.value() == b"5:later,"
    closed = []
    DeferredList([stream.aclose()]).addCallback(closed.append)
    assert transport.producer is None and transport.disconnecting
