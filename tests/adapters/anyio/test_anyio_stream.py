"""tidewire-anyio's own generic binding: what only anyio has, on both of its backends.

Any anyio ByteStream (a pair of memory object streams, a user's TLS stream),
anyio's exception classes, the entered and unentered forms, TaskGroup.start
with task_status, and cancellation at every await keeping the core in step.
"""

import contextlib
import socket

import anyio
import anyio.abc
import pytest
from anyio.streams.stapled import StapledObjectStream
from anyio.streams.tls import TLSStream

import tidewire_anyio
from tidewire import NEED_DATA, ConnectionClosed

pytestmark = pytest.mark.anyio


def ns(payload):
    return b"%d:%b," % (len(payload), payload)


class MemoryByteStream(anyio.abc.ByteStream):
    """A ByteStream over a pair of anyio memory object streams (one end of a pipe)."""

    def __init__(self, objects):
        self._objects = objects

    async def receive(self, max_bytes=65536):
        return await self._objects.receive()

    async def send(self, item):
        await self._objects.send(bytes(item))

    async def send_eof(self):
        await self._objects.send_eof()

    async def aclose(self):
        await self._objects.aclose()


@pytest.fixture
async def pipe():
    """Two connected in-memory ByteStreams: anyio's memory object streams, stapled."""
    a_send, b_receive = anyio.create_memory_object_stream(100)
    b_send, a_receive = anyio.create_memory_object_stream(100)
    ours = MemoryByteStream(StapledObjectStream(a_send, a_receive))
    peer = MemoryByteStream(StapledObjectStream(b_send, b_receive))
    async with ours, peer:
        yield ours, peer


@pytest.fixture
def replying(netstring):
    """A netstring core that answers b"ping" with b"pong" by itself."""

    class Replying(netstring.NetstringConnection):
        def _next_event(self):
            event = super()._next_event()
            if event is not NEED_DATA and event.payload == b"ping":
                self._write(ns(b"pong"))
            return event

    return Replying


async def test_any_byte_stream_memory_object_streams(netstring, pipe):
    ours, peer = pipe
    stream = tidewire_anyio.EventStream(netstring.NetstringConnection(), ours)
    async with stream:
        await stream.send(netstring.Netstring(b"hello"))
        assert await peer.receive() == ns(b"hello")
        await peer.send(b"3:abc,")
        await peer.send_eof()
        assert await stream.receive() == netstring.Netstring(b"abc")
        assert isinstance(await stream.receive(), ConnectionClosed)
    assert stream.closed
    assert stream.get_extra_info("peername", "no address") == "no address"


async def test_connect_runs_a_core_over_a_byte_stream_of_ours(netstring, pipe):
    ours, peer = pipe
    factory = netstring.NetstringConnection
    async with tidewire_anyio.connect(factory, stream=ours) as stream:
        assert stream.owns_tasks
        await peer.send(ns(b"over memory"))
        assert (await stream.receive()).payload == b"over memory"


async def test_an_entered_stream_answers_while_the_application_is_busy(replying, pipe):
    ours, peer = pipe
    async with tidewire_anyio.EventStream(replying(), ours) as stream:
        await peer.send(ns(b"ping"))
        # Nobody receives: the stream's own reader parsed nothing yet, but
        # reading ahead brought the bytes in; the reply waits for the parse.
        await anyio.wait_all_tasks_blocked()
        assert stream.read_backlog == len(ns(b"ping"))
        assert (await stream.receive()).payload == b"ping"
        assert await peer.receive() == ns(b"pong")  # the writer task sent it


async def test_an_unentered_stream_reads_only_while_awaited(replying, pipe):
    ours, peer = pipe
    stream = tidewire_anyio.EventStream(replying(), ours)
    await peer.send(ns(b"ping"))
    await anyio.wait_all_tasks_blocked()
    assert stream.read_backlog == 0  # nobody asked: nothing was read
    assert not stream.owns_tasks
    assert (await stream.receive()).payload == b"ping"
    with anyio.move_on_after(0.05):
        await stream.receive()  # the reply leaves before the stream waits for more
    assert await peer.receive() == ns(b"pong")
    await stream.aclose()


async def test_closing_errors_are_anyios_too(netstring, tools):
    async with tools.stream_and_socket(tidewire_anyio, netstring.NetstringConnection) as (
        stream,
        sock,
    ):
        await tools.reset(sock)
        with pytest.raises(anyio.BrokenResourceError) as lost:
            await stream.receive()
        assert isinstance(lost.value, tidewire_anyio.ConnectionLostError)
        stream.close_nowait()
        with pytest.raises(anyio.ClosedResourceError) as closed:
            await stream.receive()
        assert isinstance(closed.value, tidewire_anyio.StreamClosedError)
        assert not isinstance(closed.value, anyio.BrokenResourceError)


async def test_serve_with_task_group_start(netstring):
    async def echo(stream):
        async for event in stream:
            await stream.send(event)

    async with anyio.create_task_group() as tg:
        server = await tg.start(
            tidewire_anyio.serve, netstring.NetstringConnection, echo, "127.0.0.1", 0
        )
        assert isinstance(server, tidewire_anyio.Server)
        async with tidewire_anyio.connect(
            netstring.NetstringConnection, "127.0.0.1", server.port
        ) as stream:
            await stream.send(netstring.Netstring(b"started"))
            assert (await stream.receive()).payload == b"started"
        tg.cancel_scope.cancel()
    assert server.sockets == ()
    assert server.streams == frozenset()


async def test_a_users_tls_stream(netstring, tls):
    server_ctx, client_ctx = tls

    async def echo(stream):
        async for event in stream:
            await stream.send(event)

    factory = netstring.NetstringConnection
    async with tidewire_anyio.serve(factory, echo, "127.0.0.1", 0, ssl=server_ctx) as server:
        tcp = await anyio.connect_tcp("127.0.0.1", server.port)
        wrapped = await TLSStream.wrap(tcp, hostname="localhost", ssl_context=client_ctx)
        async with tidewire_anyio.connect(factory, stream=wrapped) as stream:
            assert stream.get_extra_info("ssl_object") is not None
            await stream.send(netstring.Netstring(b"over the user's TLS"))
            assert (await stream.receive()).payload == b"over the user's TLS"


async def test_a_write_cancelled_midway_on_an_unentered_stream_breaks_it(netstring):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        port = listener.getsockname()[1]
        stream = await tidewire_anyio.connect(netstring.NetstringConnection, "127.0.0.1", port)
        accepted, _ = listener.accept()
        with accepted:
            with anyio.move_on_after(0.2) as scope:
                await stream.send(netstring.Netstring(b"x" * 10_000_000))  # nobody reads
            assert scope.cancelled_caught
            with pytest.raises(tidewire_anyio.ConnectionLostError, match="cancelled midway"):
                await stream.send(netstring.Netstring(b"more"))
            await stream.aclose()


async def test_cancelled_receive_on_an_unentered_stream_loses_nothing(netstring, pipe):
    ours, peer = pipe
    stream = tidewire_anyio.EventStream(netstring.NetstringConnection(), ours)
    await peer.send(b"5:hel")
    with anyio.move_on_after(0.05) as scope:
        await stream.receive()
    assert scope.cancelled_caught
    await peer.send(b"lo,")
    assert (await stream.receive()).payload == b"hello"
    await stream.aclose()


async def test_a_stream_is_entered_once(netstring, pipe):
    ours, _ = pipe
    async with tidewire_anyio.EventStream(netstring.NetstringConnection(), ours) as stream:
        with pytest.raises(RuntimeError, match="already entered"):
            await stream.__aenter__()


@pytest.fixture
def heartbeat(netstring):
    """A netstring core that says b"beat" to both sides every hour of silence."""

    class Heartbeat(netstring.NetstringConnection):
        def __init__(self):
            super().__init__()
            self._deadline = anyio.current_time() + 3600
            self._beats = 0

        def _next_event(self):
            if self._beats:
                self._beats -= 1
                return netstring.Netstring(b"beat")
            return super()._next_event()

        def get_timer(self):
            return self._deadline

        def handle_timer(self, now):
            if now >= self._deadline:
                self._write(ns(b"beat"))
                self._beats += 1
                self._deadline = now + 3600

    return Heartbeat


@pytest.mark.parametrize("entered", [True, False])
async def test_the_core_timer_runs_on_anyios_clock_entered_or_not(
    heartbeat, pipe, virtual_clock, entered
):
    ours, peer = pipe
    stream = tidewire_anyio.EventStream(heartbeat(), ours)
    async with contextlib.AsyncExitStack() as stack:
        if entered:
            await stack.enter_async_context(stream)
        start = virtual_clock()
        with anyio.fail_after(4000):  # virtual seconds: a timer nobody keeps fails here
            assert (await stream.receive()).payload == b"beat"
        assert virtual_clock() - start >= 3600
        if not entered:
            await stream.drain()  # unentered, what the core wrote leaves with the next await
        assert await peer.receive() == ns(b"beat")
        await stream.aclose()
