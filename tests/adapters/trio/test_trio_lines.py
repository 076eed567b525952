"""trio only: lines over a user's trio stream, the partial line at EOF, nursery.start(serve)."""

import functools

import pytest
import trio
import trio.testing

import tidewire_trio
from tidewire_trio import lines

pytestmark = pytest.mark.anyio


async def test_lines_over_a_memory_stream_and_the_partial_line_at_eof():
    ours, peer = trio.testing.memory_stream_pair()
    async with lines.connect(stream=ours) as stream:
        await peer.send_all(b"one\r\ntwo\r\nthree without an end")
        await peer.send_eof()
        assert [await stream.receive_line(), await stream.receive_line()] == [b"one", b"two"]
        with pytest.raises(tidewire_trio.EndOfStream, match="20 bytes left over") as info:
            await stream.receive_line()
        assert info.value.event.leftover == b"three without an end"  # handed over, not dropped
        await stream.send_line(b"bye")
    assert await peer.receive_some() == b"bye\r\n"


async def test_a_large_block_in_chunks_through_a_lockstep_stream():
    """receive_chunks() holds no more than one read of a block larger than any buffer."""
    ours, peer = trio.testing.lockstep_stream_pair()
    block = bytes(range(256)) * 4096  # 1 MiB
    async with lines.connect(stream=ours) as stream, trio.open_nursery() as nursery:
        nursery.start_soon(peer.send_all, b"BLOCK\r\n" + block + b"after\r\n")
        assert await stream.receive_line() == b"BLOCK"
        got = bytearray()
        async for chunk in stream.receive_chunks(len(block)):
            assert stream.events.read_backlog == 0  # the core holds it, no more than one read
            got += chunk
        assert got == block
        assert await stream.receive_line() == b"after"


async def test_lines_serve_with_nursery_start_and_text_mode():
    async def shout(stream):
        async for line in stream:
            await stream.send_line(line.upper())

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(lines.serve, shout, "127.0.0.1", 0, encoding="utf-8")
        )
        async with lines.connect("127.0.0.1", server.port, encoding="utf-8") as client:
            await client.send_line("héllo")
            assert await client.receive_line() == "HÉLLO"
        await server.aclose()


async def test_a_cancelled_receive_line_consumed_nothing():
    ours, peer = trio.testing.memory_stream_pair()
    async with lines.connect(stream=ours) as stream:
        await peer.send_all(b"half a li")
        with trio.move_on_after(0.05) as scope:
            await stream.receive_line()
        assert scope.cancelled_caught
        await peer.send_all(b"ne\r\n")
        assert await stream.receive_line() == b"half a line"


class CountingStream(trio.abc.HalfCloseableStream):
    """A memory stream that records each send_all(): the writes the peer sees."""

    def __init__(self, stream):
        self.stream = stream
        self.writes = []

    async def send_all(self, data):
        self.writes.append(bytes(data))
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self):
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self):
        await self.stream.send_eof()

    async def receive_some(self, max_bytes=None):
        return await self.stream.receive_some(max_bytes)

    async def aclose(self):
        await self.stream.aclose()


async def test_the_answers_to_a_burst_of_lines_leave_in_one_write_before_its_last_line():
    ours, peer = trio.testing.memory_stream_pair()
    counting = CountingStream(ours)
    async with lines.connect(stream=counting, delimiter=b"\n") as stream:
        await peer.send_all(b"a\nb\nc\n")  # one burst
        await stream.send_line(b"A:" + await stream.receive_line())
        await stream.send_line(b"B:" + await stream.receive_line())
        assert counting.writes == []  # held while more lines of the burst are ready
        assert await stream.receive_line() == b"c"  # the last: the answers went first
        assert counting.writes == [b"A:a\nB:b\n"]
        await stream.send_line(b"C:c")  # nothing more is ready: written at once
        assert counting.writes == [b"A:a\nB:b\n", b"C:c\n"]
    assert await peer.receive_some() == b"A:a\nB:b\nC:c\n"


async def test_a_send_line_cancelled_before_it_starts_sends_nothing():
    ours, peer = trio.testing.memory_stream_pair()
    async with lines.connect(stream=ours, delimiter=b"\n") as stream:
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.send_line(b"never")
        assert scope.cancelled_caught
        await stream.send_line(b"sent")
    assert await peer.receive_some() == b"sent\n"
