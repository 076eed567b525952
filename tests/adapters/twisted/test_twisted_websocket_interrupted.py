"""The WebSocket layer when a Deferred is cancelled mid-message, and what send() accepts.

The shared suite's bodies cannot run on Twisted (they await the adapter on an
anyio loop), so these are its behaviours one for one, on the real reactor of
conftest.py, with ``Deferred.cancel()`` where the shared bodies cancel a scope.
Our client against our server on loopback, real sockets.

tests/adapters/shared/test_websocket_interrupted.py -> here:
  test_a_cancelled_receive_between_fragments_loses_nothing -> same name
  test_a_cancelled_async_for_between_fragments_loses_nothing -> same name
  test_a_cancelled_receive_hands_its_pieces_to_receive_stream -> same name
  test_an_interrupted_receive_stream_is_continued_by_the_next_one -> same name
  test_a_cancelled_receive_of_whole_messages_loses_nothing -> same name
  test_receives_cancelled_before_the_first_fragment_take_nothing -> same name
  test_a_raising_iterator_fails_the_connection_with_1011 -> same name
  test_a_piece_of_the_wrong_kind_fails_the_connection_with_1011 -> same name
  test_a_cancelled_fragmented_send_fails_the_connection_with_1011 -> same name
  test_a_fragmented_send_cancelled_on_a_full_buffer_fails_the_connection -> same name
  test_an_empty_or_refused_first_piece_sends_nothing_and_keeps_the_connection -> same name
  test_a_blocked_sender_gets_the_closed_error_when_another_task_closes
    -> test_a_blocked_sender_gets_the_closed_error_when_another_call_closes
  test_send_refuses_what_is_not_a_message_before_sending_anything -> same name
  test_send_accepts_bytes_like_pieces -> same name
Besides: test_cancelled_ping_close_and_wait_closed_keep_the_connection_in_step
(Deferred.cancel() at the remaining waiting calls).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import deferLater

from tidewire_twisted import websocket as ws

Closed = ws.WebSocketClosedError


class Event:
    """Set once; ``wait()`` gives each waiter its own Deferred."""

    def __init__(self):
        self.is_set = False
        self._waiters = []

    def set(self):
        self.is_set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def wait(self):
        waiter = Deferred()
        if self.is_set:
            waiter.callback(None)
        else:
            self._waiters.append(waiter)
        return waiter


async def sleep(reactor, seconds):
    await deferLater(reactor, seconds, lambda: None)


@asynccontextmanager
async def pair(handler, server_options=None, **client_options):
    """Our server running ``handler`` and our client connected to it; both closed on exit."""
    server_options = {"ping_interval": None, **(server_options or {})}
    client_options.setdefault("ping_interval", None)
    server = await ws.serve(handler, "tcp:0:interface=127.0.0.1", **server_options)
    try:
        client = await ws.connect(f"ws://127.0.0.1:{server.port}/", **client_options)
        try:
            yield server, client
        finally:
            await client.close()
    finally:
        await server.aclose()
        await sleep(server_reactor(), 0.01)  # an aborted transport closes on the next turn


def server_reactor():
    from twisted.internet import reactor

    return reactor


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


# -- a cancelled receive loses nothing ----------------------------------------------------


class Fragmenter:
    """Sends "Hello, " and "world!" as one message of two fragments, pausing in between."""

    def __init__(self):
        self.first_arrived = Event()
        self.resume = Event()

    async def pieces(self, client):
        yield "Hello, "
        await client.ping()  # the pong comes after the server parsed the fragment
        self.first_arrived.set()
        await self.resume.wait()
        yield "world!"


async def run_interrupted_receive(interrupted, then, *, streaming=True):
    """The handler starts ``interrupted(ws)`` and cancels its Deferred between the fragments."""
    fragmenter = Fragmenter()
    outcome = {}
    done = Event()

    async def handler(websocket):
        first = Deferred.fromCoroutine(interrupted(websocket))
        await fragmenter.first_arrived.wait()
        first.cancel()
        with pytest.raises(CancelledError):
            await first
        fragmenter.resume.set()
        outcome["then"] = await then(websocket)
        outcome["next"] = await websocket.receive()
        done.set()

    async with pair(handler, {"streaming": streaming}, compression=None) as (_, client):
        await client.send(fragmenter.pieces(client))
        await client.send("next")
        await done.wait()
    return outcome


async def receive(websocket):
    return await websocket.receive()


async def test_a_cancelled_receive_between_fragments_loses_nothing(reactor):
    outcome = await run_interrupted_receive(receive, receive)
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_a_cancelled_async_for_between_fragments_loses_nothing(reactor):
    async def first_message(websocket):
        async for message in websocket:
            return message
        raise AssertionError("no message")

    outcome = await run_interrupted_receive(first_message, first_message)
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_a_cancelled_receive_hands_its_pieces_to_receive_stream(reactor):
    async def stream(websocket):
        return [piece async for piece in websocket.receive_stream()]

    outcome = await run_interrupted_receive(receive, stream)
    assert outcome == {"then": ["Hello, ", "world!", ""], "next": "next"}  # "": our last frame


async def test_an_interrupted_receive_stream_is_continued_by_the_next_one(reactor):
    taken = []

    async def interrupted(websocket):
        async for piece in websocket.receive_stream():
            taken.append(piece)

    async def rest(websocket):
        with pytest.raises(RuntimeError, match="receive_stream"):
            await websocket.receive()  # would return the tail as if it were a message
        return [piece async for piece in websocket.receive_stream()]

    outcome = await run_interrupted_receive(interrupted, rest)
    assert taken == ["Hello, "]
    assert outcome == {"then": ["world!", ""], "next": "next"}


async def test_a_cancelled_receive_of_whole_messages_loses_nothing(reactor):
    outcome = await run_interrupted_receive(receive, receive, streaming=False)
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_receives_cancelled_before_the_first_fragment_take_nothing(reactor):
    """Cancelled while waiting, receive(), async for and receive_stream() take nothing."""
    outcome = []
    done = Event()

    async def drain_all(websocket):
        async for _ in websocket:
            pass

    async def drain_stream(websocket):
        async for _ in websocket.receive_stream():
            pass

    async def handler(websocket):
        for waiting in (receive, drain_all, drain_stream):
            call = Deferred.fromCoroutine(waiting(websocket))
            assert not call.called  # it waits: nothing arrived yet
            call.cancel()
            with pytest.raises(CancelledError):
                await call
        outcome.append(await websocket.receive())
        done.set()

    async with pair(handler, {"streaming": True}, compression=None) as (_, client):
        await sleep(reactor, 0.05)  # the three receives wait, and are cancelled
        await client.send(["Hello, ", "world!"])
        await done.wait()
    assert outcome == ["Hello, world!"]


# -- an interrupted fragmented send fails the connection with 1011 ---------------------


def raising_pieces():
    yield "one"
    yield "two"
    raise ValueError("the source broke")


async def raising_async_pieces():
    yield b"one"
    raise ValueError("the source broke")


async def never_ending_pieces():
    yield "one"
    await Deferred()  # never fires


async def expect_failed_fragmented_send(send, error):
    codes = []
    done = Event()

    async def handler(websocket):
        try:
            received = await websocket.receive()
            codes.append(("message", received))
        except Closed as exc:
            codes.append(exc.code)
        done.set()

    async with pair(handler) as (_, client):
        with pytest.raises(error):
            await send(client)
        # Never wedged: the connection was failed, and says so.
        assert client.closed and client.close_code == 1006
        with pytest.raises(Closed):
            await client.send("after")
        with pytest.raises(Closed):
            await client.send(["after"])
        with pytest.raises(Closed):
            await client.ping()
        await client.close()
        await done.wait()
    assert codes == [1011]  # the peer never sees the truncated message as whole


@pytest.mark.parametrize("pieces", [raising_pieces, raising_async_pieces])
async def test_a_raising_iterator_fails_the_connection_with_1011(reactor, pieces):
    await expect_failed_fragmented_send(lambda client: client.send(pieces()), ValueError)


async def test_a_piece_of_the_wrong_kind_fails_the_connection_with_1011(reactor):
    await expect_failed_fragmented_send(lambda client: client.send(["text", b"bytes"]), TypeError)


async def test_a_cancelled_fragmented_send_fails_the_connection_with_1011(reactor):
    async def cancelled_send(client):
        sending = client.send(never_ending_pieces())
        assert not sending.called
        sending.cancel()
        await sending

    await expect_failed_fragmented_send(cancelled_send, CancelledError)


async def test_a_fragmented_send_cancelled_on_a_full_buffer_fails_the_connection(reactor):
    release = Event()

    async def slow_reader(websocket):
        await release.wait()

    # Streaming, so that the server holds one chunk and then stops reading.
    options = {"streaming": True, "max_message_size": None, "max_queue": 1}
    async with pair(
        slow_reader, {**options, "read_high_water": 1024}, compression=None, write_high_water=1024
    ) as (_, client):
        big = [b"q" * 100_000] * 1000  # far more than the buffers hold
        sending = client.send(big)
        await sleep(reactor, 0.3)
        assert not sending.called  # it waits for room
        sending.cancel()
        with pytest.raises(CancelledError):
            await sending
        assert client.closed
        with pytest.raises(Closed):
            await client.send("after")
        release.set()


async def test_an_empty_or_refused_first_piece_sends_nothing_and_keeps_the_connection(reactor):
    async with pair(echo) as (_, client):
        with pytest.raises(TypeError, match="at least one piece"):
            await client.send([])
        with pytest.raises(TypeError, match="str or bytes-like"):
            await client.send([1, 2])
        await client.send("still fine")
        assert await client.receive() == "still fine"


# -- a sender woken after another call closed gets WebSocketClosedError -----------------


@pytest.mark.parametrize("kind", ["send", "fragments", "ping"])
async def test_a_blocked_sender_gets_the_closed_error_when_another_call_closes(reactor, kind):
    release = Event()

    async def slow_reader(websocket):
        await release.wait()
        async for _ in websocket:
            pass

    async with pair(
        slow_reader,
        {"max_queue": 1, "read_high_water": 1024},
        compression=None,
        write_high_water=1024,
    ) as (_, client):
        big = b"q" * 100_000
        while True:  # the server does not read: our buffer fills until a send stays waiting
            sending = client.send(big)
            if not sending.called:
                await sleep(reactor, 0.3)
                if not sending.called:
                    break
            await sending
        sending.cancel()  # it sent nothing: not part of this test
        with pytest.raises(CancelledError):
            await sending
        blocked = {
            "send": lambda: client.send(big),
            "fragments": lambda: client.send([big, big]),
            "ping": lambda: client.ping(),
        }[kind]()
        assert not blocked.called
        closing = client.close()
        release.set()  # the buffer drains: the sender wakes after the close began
        with pytest.raises(Closed):
            await blocked
        await closing


# -- what send() accepts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"a": 1, "bb": 2}, "mapping"),
        (123, r"str, bytes-like, or an iterable or async iterable of them, not int"),
        (None, "not NoneType"),
        ([1, 2], r"str or bytes-like, not int"),
        ((piece for piece in [None]), "not NoneType"),
    ],
)
async def test_send_refuses_what_is_not_a_message_before_sending_anything(reactor, message, match):
    async with pair(echo) as (_, client):
        with pytest.raises(TypeError, match=match):
            await client.send(message)
        await client.send("ok")
        assert await client.receive() == "ok"  # nothing was sent before it


async def test_send_accepts_bytes_like_pieces(reactor):
    async with pair(echo) as (_, client):
        await client.send(iter([bytearray(b"ab"), memoryview(b"cd"), b"ef"]))
        assert await client.receive() == b"abcdef"
        await client.send(memoryview(b"whole"))
        assert await client.receive() == b"whole"


# -- Deferred.cancel() at the other waiting calls ----------------------------------------


async def test_cancelled_ping_close_and_wait_closed_keep_the_connection_in_step(reactor):
    async with pair(echo) as (_, client):
        pinging = client.ping(b"first")
        pinging.cancel()  # its pong still comes, and is dropped
        with pytest.raises(CancelledError):
            await pinging
        await client.send("after the ping")
        assert await client.receive() == "after the ping"
        assert await client.ping(b"second") >= 0  # the next ping is matched to its own pong
        waiting = client.wait_closed()
        waiting.cancel()  # only this waiter goes: the connection is untouched
        with pytest.raises(CancelledError):
            await waiting
        closing = client.close()
        closing.cancel()  # stops waiting for the end, not the closing handshake
        with pytest.raises(CancelledError):
            await closing
        await client.wait_closed()
        assert client.close_code == 1000
