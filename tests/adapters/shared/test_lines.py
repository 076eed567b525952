"""The adapter's lines module against peers that are not ours.

Our client talks to a Twisted LineReceiver server (a separate process); our
server is driven by plain blocking sockets in a thread; a raw anyio socket
plays the peer where a test needs to choose how the bytes are split.
"""

import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from adapter_under_test import adapter

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire.testing import bytewise, random_splits
from tidewire_lines import LineConnection, Mode

lines = adapter.lines

pytestmark = pytest.mark.anyio

PEER = Path(__file__).parents[1] / "peers" / "twisted_lines.py"


@pytest.fixture(scope="module")
def twisted_port():
    process = subprocess.Popen(
        [sys.executable, str(PEER)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        yield int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def block(n):
    return bytes(i % 256 for i in range(n))


async def test_lines_against_twisted(twisted_port):
    async with lines.connect("127.0.0.1", twisted_port) as stream:
        await stream.send_line(b"hello")
        await stream.send_line(b"")
        assert await stream.receive_line() == b"ECHO hello"
        assert await stream.receive_line() == b"ECHO "
        assert stream.get_extra_info("peername")[1] == twisted_port


async def test_raw_block_between_lines_against_twisted(twisted_port):
    """memcached's shape: a header line, n raw bytes (which contain CRLFs), then lines."""
    async with await lines.connect("127.0.0.1", twisted_port) as stream:
        for n in (0, 1, 13, 100_000):
            await stream.send_line(b"GET %d" % n)
            assert await stream.receive_line() == b"VALUE %d" % n
            assert await stream.receive_exactly(n) == block(n)
            assert await stream.receive_line() == b""
            assert await stream.receive_line() == b"END"


async def test_send_raw_to_twisted_raw_mode(twisted_port):
    async with await lines.connect("127.0.0.1", twisted_port) as stream:
        data = block(50_000)
        await stream.send_line(b"PUT %d" % len(data))
        await stream.send_raw(data)
        await stream.send_line(b"after")
        assert await stream.receive_line() == b"STORED %d %d" % (len(data), sum(data) % 65521)
        assert await stream.receive_line() == b"ECHO after"


async def test_async_for_and_end_of_stream(twisted_port, adapter):
    async with await lines.connect("127.0.0.1", twisted_port) as stream:
        await stream.send_line(b"one")
        await stream.send_line(b"QUIT")
        assert [line async for line in stream] == [b"ECHO one", b"BYE"]
        assert stream.closed_event.clean
        with pytest.raises(adapter.EndOfStream, match="a line"):
            await stream.receive_line()


async def test_line_limit_from_the_core(twisted_port):
    async with await lines.connect("127.0.0.1", twisted_port, max_line_length=1000) as stream:
        await stream.send_line(b"LONG 1000")
        await stream.send_line(b"LONG 1001")
        assert await stream.receive_line() == b"x" * 1000
        with pytest.raises(RemoteProtocolError, match="1000"):
            await stream.receive_line()


async def test_text_mode_against_twisted(twisted_port):
    async with await lines.connect("127.0.0.1", twisted_port, encoding="utf-8") as stream:
        await stream.send_line("héllo ✓")
        assert await stream.receive_line() == "ECHO héllo ✓"
        with pytest.raises(LocalProtocolError):
            await stream.send_line(b"bytes in text mode")


async def test_cancelled_receive_exactly_consumes_nothing(twisted_port):
    async with await lines.connect("127.0.0.1", twisted_port) as stream:
        with anyio.move_on_after(0.05) as scope:
            await stream.receive_exactly(10)  # nothing is coming
        assert scope.cancelled_caught
        await stream.send_line(b"still lines")
        assert await stream.receive_line() == b"ECHO still lines"


async def test_raw_block_limit_and_raw_mode_guard(twisted_port):
    async with lines.connect("127.0.0.1", twisted_port, max_raw_size=10) as stream:
        with pytest.raises(LocalProtocolError, match=r"max_raw_size \(10\).*receive_chunks\(11\)"):
            await stream.receive_exactly(11)
        assert stream.connection.mode is Mode.LINES  # refused before anything changed
        stream.connection.set_raw_mode()
        with pytest.raises(RuntimeError, match="raw mode"):
            await stream.receive_line()
        stream.connection.set_line_mode()
        await stream.send_line(b"ok")
        assert await stream.receive_line() == b"ECHO ok"


def talk(port, chunks, reply_lines):
    """A plain blocking socket client: send chunks, read until ``reply_lines`` CRLFs."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
        data = b""
        while data.count(b"\r\n") < reply_lines:
            more = sock.recv(65536)
            if not more:
                break
            data += more
        sock.shutdown(socket.SHUT_WR)
        while more := sock.recv(65536):
            data += more
        return data


async def upper_server(stream):
    async for line in stream:
        if line.startswith(b"DATA "):
            body = await stream.receive_exactly(int(line[5:]))
            await stream.send_line(b"GOT %d" % len(body))
            await stream.send_raw(body.upper() + b"\r\n")
        else:
            await stream.send_line(line.upper())
    leftover = stream.closed_event.leftover
    if leftover:
        await stream.send_line(b"LEFTOVER " + leftover)


async def test_server_with_plain_socket_client():
    wire = b"abc\r\nDATA 7\r\nx\r\nyz\r\n\r\ndef\r\nunterminated"
    async with lines.serve(upper_server, "127.0.0.1", 0) as server:
        for chunks in ([wire], [wire[i : i + 1] for i in range(len(wire))]):
            reply = await anyio.to_thread.run_sync(talk, server.port, chunks, 5)
            assert reply == (b"ABC\r\nGOT 7\r\nX\r\nYZ\r\n\r\n\r\nDEF\r\nLEFTOVER unterminated\r\n")


async def test_server_line_limit_closes_that_connection():
    async with lines.serve(upper_server, "127.0.0.1", 0, max_line_length=8) as server:
        reply = await anyio.to_thread.run_sync(talk, server.port, [b"short\r\n" + b"z" * 9], 1)
        assert reply == b"SHORT\r\n"
        reply = await anyio.to_thread.run_sync(talk, server.port, [b"again\r\n"], 1)
        assert reply == b"AGAIN\r\n"


async def test_text_server_and_options(tls):
    server_ctx, client_ctx = tls

    async def greet(stream):
        name = await stream.receive_line()
        await stream.send_line(f"hello, {name}")

    async with lines.serve(
        greet, "127.0.0.1", 0, delimiter=(b"\n",), encoding="utf-8", ssl=server_ctx
    ) as server:
        stream = await lines.connect(
            "127.0.0.1",
            server.port,
            delimiter=b"\n",
            encoding="utf-8",
            ssl=client_ctx,
            server_hostname="localhost",
        )
        async with stream:
            await stream.send_line("wörld")
            assert await stream.receive_line() == "hello, wörld"


async def test_end_of_stream_inside_a_raw_block():
    async def short(stream):
        await stream.events.send_eof()

    async with lines.serve(short, "127.0.0.1", 0) as server:
        stream = await lines.connect("127.0.0.1", server.port)
        async with stream:
            with pytest.raises(EOFError, match="a block of 5 bytes") as info:
                await stream.receive_exactly(5)
            assert info.value.event.missing == 5


def test_bad_options_and_wrong_core(netstring, adapter):
    with pytest.raises(ValueError, match="encoding"):
        lines.serve(upper_server, encoding="no-such-codec")
    with pytest.raises(TypeError, match="line connection"):
        lines.LineStream(adapter.EventStream(netstring.NetstringConnection()))


async def test_lines_over_a_unix_socket(tmp_path):
    path = tmp_path / "lines.sock"

    async def shout(stream):
        async for line in stream:
            await stream.send_line(line.upper())

    async with (
        lines.serve(shout, path=path, delimiter=b"\n"),
        await lines.connect(path=path, delimiter=b"\n") as stream,
    ):
        await stream.send_line(b"quiet")
        assert await stream.receive_line() == b"QUIET"


# -- large raw blocks in chunks, the bulk path, sending ---------------------------------


async def test_a_block_above_max_raw_size_comes_in_chunks_from_twisted(twisted_port):
    n = 600_000  # more than one read of the transport
    async with lines.connect("127.0.0.1", twisted_port, max_raw_size=1000) as stream:
        await stream.send_line(b"GET %d" % n)
        assert await stream.receive_line() == b"VALUE %d" % n
        chunks = [chunk async for chunk in stream.receive_chunks(n)]
        assert b"".join(chunks) == block(n)
        assert all(chunks) and max(map(len, chunks)) < n  # never the whole block at once
        assert await stream.receive_line() == b""
        assert await stream.receive_line() == b"END"


async def read_everything(stream):
    """Lines, and the blocks that ``DATA n`` (whole) and ``BLOB n`` (chunked) announce."""
    got = []
    async for line in stream:
        got.append(line)
        if line.startswith(b"DATA "):
            got.append(await stream.receive_exactly(int(line[5:])))
        elif line.startswith(b"BLOB "):
            got.append(b"".join([chunk async for chunk in stream.receive_chunks(int(line[5:]))]))
    got.append(stream.closed_event.leftover)
    return got


WIRE = b"a\r\nDATA 5\r\nhel\nlob\r\nBLOB 9\r\n\r\nz\r\ny\r\nxc\r\nBLOB 0\r\nd\r\ntail"
EXPECTED = [b"a", b"DATA 5", b"hel\nl", b"ob", b"BLOB 9", b"\r\nz\r\ny\r\nx", b"c",
            b"BLOB 0", b"", b"d", b"tail"]  # fmt: skip


@pytest.mark.parametrize("splits", ["whole", "bytewise", *range(5)])
async def test_lines_parsed_in_bulk_hand_over_to_raw_blocks_however_split(tools, adapter, splits):
    chunks = {"whole": [WIRE], "bytewise": bytewise(WIRE)}.get(splits)
    chunks = chunks or random_splits(WIRE, splits)
    async with tools.stream_and_socket(adapter, LineConnection) as (events, peer):
        for chunk in chunks:
            await peer.send(chunk)
        await peer.send_eof()
        assert await read_everything(lines.LineStream(events)) == EXPECTED


async def test_a_cancelled_chunk_step_consumed_nothing_and_a_break_leaves_the_rest(tools, adapter):
    async with tools.stream_and_socket(adapter, LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        with pytest.raises(LocalProtocolError, match="raw block size"):
            stream.receive_chunks(-1)
        chunks = stream.receive_chunks(10)
        await peer.send(b"abc")
        assert await anext(chunks) == b"abc"
        with anyio.move_on_after(0.05) as scope:
            await anext(chunks)  # nothing is coming
        assert scope.cancelled_caught
        await peer.send(b"de")
        assert await anext(chunks) == b"de"
        # Leave the loop with 5 bytes of the block unread: lines wait for them.
        with pytest.raises(RuntimeError, match="raw_remaining=5"):
            await stream.receive_line()
        await peer.send(b"fghij" + b"after\r\n")
        rest = [chunk async for chunk in stream.receive_chunks(stream.connection.raw_remaining)]
        assert b"".join(rest) == b"fghij"
        assert await stream.receive_line() == b"after"


async def test_end_of_stream_inside_a_chunked_block(tools, adapter):
    async with tools.stream_and_socket(adapter, LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        await peer.send(b"abc")
        await peer.send_eof()
        chunks = stream.receive_chunks(10)
        assert await anext(chunks) == b"abc"
        with pytest.raises(adapter.EndOfStream, match="0 bytes left over, 7 missing") as info:
            await anext(chunks)
        assert info.value.event.missing == 7
        assert stream.closed_event is info.value.event


async def test_lines_before_a_line_too_long_are_returned_first(tools, adapter):
    wire = b"one\r\ntwo\r\n" + b"x" * 50 + b"\r\nthree\r\n"
    async with tools.stream_and_socket(adapter, lambda: LineConnection(max_line_length=10)) as (
        events,
        peer,
    ):
        stream = lines.LineStream(events)
        await peer.send(wire)
        assert [await anext(stream), await stream.receive_line()] == [b"one", b"two"]
        with pytest.raises(RemoteProtocolError, match="max_line_length is 10"):
            await anext(stream)
        with pytest.raises(RemoteProtocolError):
            await stream.receive_line()  # the stream stays failed


async def test_send_line_waits_for_a_peer_that_does_not_read(tools, adapter):
    line, count = b"x" * 999, 20_000  # 20 MB: far more than any buffer on the way
    sent = 0

    async def flood(stream):
        nonlocal sent
        for _ in range(count):
            await stream.send_line(line)
            sent += 1

    async with tools.stream_and_socket(adapter, LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(flood, stream)
            # send_line() only suspends to wait for the transport: once the
            # flood lets this task run, it is either waiting or done.
            await tools.eventually(lambda: sent > 0)
            assert sent < count
            assert events.write_backlog < 1024 * 1024
            received = await tools.read_exactly(peer, 200 * (len(line) + 2))
            assert received == (line + b"\r\n") * 200
            await tools.eventually(lambda: sent > 300)  # it went on once the peer read
            tasks.cancel_scope.cancel()


async def test_connect_is_awaitable_and_an_async_context_manager(twisted_port, adapter):
    stream = await lines.connect("127.0.0.1", twisted_port)
    async with stream:
        await stream.send_line(b"awaited")
        assert await stream.receive_line() == b"ECHO awaited"
    async with lines.connect("127.0.0.1", twisted_port, encoding="utf-8") as text:
        await text.send_line("entered")
        assert await text.receive_line() == "ECHO entered"
    assert text.events.closed
    with pytest.raises(adapter.StreamClosedError):
        await text.send_line("after")


@pytest.mark.parametrize("close", ["aclose", "abort"])
async def test_no_line_after_closing_on_this_side(tools, adapter, close):
    async with tools.stream_and_socket(adapter, LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        await peer.send(b"one\r\ntwo\r\nthree\r\n")  # split together, in one batch
        assert await stream.receive_line() == b"one"
        if close == "aclose":
            await stream.aclose()
        else:
            stream.abort()
        with pytest.raises(adapter.StreamClosedError):
            await stream.receive_line()
