"""What the lines guide says of other line readers, checked against them.

docs/packages/lines/index.rst compares tidewire_lines with asyncio's and
anyio's readers; these tests run those readers, so a claim that stops being
true fails here instead of misleading a reader of the guide.
"""

import asyncio
import contextlib

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream


class _Chunks(anyio.abc.ByteReceiveStream):
    """A byte stream that delivers the given chunks, then end of stream."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.chunks:
            raise anyio.EndOfStream
        return self.chunks.pop(0)

    async def aclose(self) -> None:
        self.chunks.clear()


def test_anyio_lets_an_over_long_line_through_in_one_chunk():
    async def main():
        limit = 10
        stream = BufferedByteReceiveStream(_Chunks(b"x" * (limit + 5) + b"\n"))
        return await stream.receive_until(b"\n", limit)

    assert anyio.run(main) == b"x" * 15  # 15 bytes past a limit of 10


def test_asyncio_refuses_an_over_long_line_then_reads_its_tail_as_a_line():
    async def main():
        reader = asyncio.StreamReader(limit=10)
        reader.feed_data(b"x" * 11 + b"\n")  # one chunk: refused
        try:
            await reader.readline()
        except ValueError:
            refused_whole = True
        else:
            refused_whole = False
        reader = asyncio.StreamReader(limit=10)
        reader.feed_data(b"x" * 15)  # no delimiter yet, over the limit
        with contextlib.suppress(ValueError):
            await reader.readline()
        reader.feed_data(b"yyy\nnext\n")
        return refused_whole, await reader.readline()

    refused_whole, after = asyncio.run(main())
    assert refused_whole
    assert after == b"yyy\n"  # the tail of the over-long line, taken for a line
