"""tidewire_twisted.lines' LineStream, connect() and serve() on a real reactor.

tests/adapters/shared runs its bodies on an anyio loop and awaits the
adapter directly, which Twisted's Deferred API does not allow; these are the
same behaviours on the reactor of conftest.py, with ``Deferred.cancel()``
where the shared bodies cancel a scope. Shared test (test_lines.py) -> here:

- lines_against_twisted, raw_block_between_lines_against_twisted,
  send_raw_to_twisted_raw_mode, async_for_and_end_of_stream,
  line_limit_from_the_core, text_mode_against_twisted,
  raw_block_limit_and_raw_mode_guard,
  a_block_above_max_raw_size_comes_in_chunks_from_twisted -> same names (the
  same LineReceiver peer, in a process of its own)
- cancelled_receive_exactly_consumes_nothing -> same name (Deferred.cancel())
- server_with_plain_socket_client, server_line_limit_closes_that_connection ->
  same names (a raw Twisted peer over TCP, bytes split whole and one by one)
- text_server_and_options -> same name (``ssl=`` options)
- end_of_stream_inside_a_raw_block, end_of_stream_inside_a_chunked_block,
  bad_options_and_wrong_core, lines_over_a_unix_socket ("unix:" descriptions),
  a_cancelled_chunk_step_consumed_nothing_and_a_break_leaves_the_rest,
  lines_before_a_line_too_long_are_returned_first,
  send_line_waits_for_a_peer_that_does_not_read,
  no_line_after_closing_on_this_side -> same names
- lines_parsed_in_bulk_hand_over_to_raw_blocks_however_split -> same name, over a
  ``StringTransport`` so the splits are exact, and every split in two
- connect_is_awaitable_and_an_async_context_manager -> connect_fires_and_async_with_closes
  (connect() returns a Deferred)
Twisted-only: a cancelled receive_line() loses nothing, a slow reader pauses the
transport, handlers returning a Deferred, a refused connection.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport

import tidewire_twisted
from tidewire import EndOfStream, LocalProtocolError, RemoteProtocolError, StreamClosedError
from tidewire.testing import bytewise, random_splits
from tidewire_lines import LineConnection, Mode
from tidewire_twisted import lines

LOCAL = "tcp:0:interface=127.0.0.1"
PEER = Path(__file__).parents[1] / "peers" / "twisted_lines.py"

# Twisted's certificate options hand pyOpenSSL its own X509 objects, which
# pyOpenSSL 24.3+ deprecates: Twisted's warning, not ours.
twisted_tls_warning = pytest.mark.filterwarnings(
    "ignore:Passing pyOpenSSL (X509|PKey) objects is deprecated:DeprecationWarning"
)


@pytest.fixture(scope="module")
def twisted_peer():
    """The LineReceiver server of tests/adapters/peers, as a client endpoint description."""
    process = subprocess.Popen(
        [sys.executable, str(PEER)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        yield f"tcp:127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def block(n):
    return bytes(i % 256 for i in range(n))


def address(server):
    return f"tcp:127.0.0.1:{server.port}"


async def outcome(deferred):
    """What ``deferred`` fires with, or the exception it fails with."""
    try:
        return await deferred
    except Exception as exc:
        return exc


# -- our client against Twisted's LineReceiver ---------------------------------------------


async def test_lines_against_twisted(reactor, twisted_peer):
    async with await lines.connect(twisted_peer) as stream:
        await stream.send_line(b"hello")
        await stream.send_line(b"")
        assert await stream.receive_line() == b"ECHO hello"
        assert await stream.receive_line() == b"ECHO "
        assert stream.get_extra_info("peername")[1] == int(twisted_peer.rsplit(":", 1)[1])


async def test_raw_block_between_lines_against_twisted(reactor, twisted_peer):
    """memcached's shape: a header line, n raw bytes (which contain CRLFs), then lines."""
    async with await lines.connect(twisted_peer) as stream:
        for n in (0, 1, 13, 100_000):
            await stream.send_line(b"GET %d" % n)
            assert await stream.receive_line() == b"VALUE %d" % n
            assert await stream.receive_exactly(n) == block(n)
            assert await stream.receive_line() == b""
            assert await stream.receive_line() == b"END"


async def test_send_raw_to_twisted_raw_mode(reactor, twisted_peer):
    async with await lines.connect(twisted_peer) as stream:
        data = block(50_000)
        await stream.send_line(b"PUT %d" % len(data))
        await stream.send_raw(data)
        await stream.send_line(b"after")
        assert await stream.receive_line() == b"STORED %d %d" % (len(data), sum(data) % 65521)
        assert await stream.receive_line() == b"ECHO after"


async def test_async_for_and_end_of_stream(reactor, twisted_peer):
    async with await lines.connect(twisted_peer) as stream:
        await stream.send_line(b"one")
        await stream.send_line(b"QUIT")
        assert [line async for line in stream] == [b"ECHO one", b"BYE"]
        assert stream.closed_event.clean
        with pytest.raises(EndOfStream, match="a line"):
            await stream.receive_line()


async def test_line_limit_from_the_core(reactor, twisted_peer):
    async with await lines.connect(twisted_peer, max_line_length=1000) as stream:
        await stream.send_line(b"LONG 1000")
        await stream.send_line(b"LONG 1001")
        assert await stream.receive_line() == b"x" * 1000
        with pytest.raises(RemoteProtocolError, match="1000"):
            await stream.receive_line()


async def test_text_mode_against_twisted(reactor, twisted_peer):
    async with await lines.connect(twisted_peer, encoding="utf-8") as stream:
        await stream.send_line("héllo ✓")
        assert await stream.receive_line() == "ECHO héllo ✓"
        with pytest.raises(LocalProtocolError):
            await stream.send_line(b"bytes in text mode")


async def test_cancelled_receive_exactly_consumes_nothing(reactor, twisted_peer, tools):
    async with await lines.connect(twisted_peer) as stream:
        assert await tools.cancelled_after(stream.receive_exactly(10), 0.05)  # nothing is coming
        assert stream.connection.mode is Mode.LINES
        await stream.send_line(b"still lines")
        assert await stream.receive_line() == b"ECHO still lines"


async def test_raw_block_limit_and_raw_mode_guard(reactor, twisted_peer):
    async with await lines.connect(twisted_peer, max_raw_size=10) as stream:
        with pytest.raises(LocalProtocolError, match=r"max_raw_size \(10\).*receive_chunks\(11\)"):
            await stream.receive_exactly(11)
        assert stream.connection.mode is Mode.LINES  # refused before anything changed
        stream.connection.set_raw_mode()
        with pytest.raises(RuntimeError, match="raw mode"):
            await stream.receive_line()
        stream.connection.set_line_mode()
        await stream.send_line(b"ok")
        assert await stream.receive_line() == b"ECHO ok"


async def test_a_block_above_max_raw_size_comes_in_chunks_from_twisted(reactor, twisted_peer):
    n = 600_000  # more than one read of the transport
    async with await lines.connect(twisted_peer, max_raw_size=1000) as stream:
        await stream.send_line(b"GET %d" % n)
        assert await stream.receive_line() == b"VALUE %d" % n
        chunks = [chunk async for chunk in stream.receive_chunks(n)]
        assert b"".join(chunks) == block(n)
        assert all(chunks) and max(map(len, chunks)) < n  # never the whole block at once
        assert await stream.receive_line() == b""
        assert await stream.receive_line() == b"END"


# -- our server against a raw peer ------------------------------------------------------


async def raw_client(tools, server):
    """A :class:`RawPeer` connected to ``server`` over TCP: bytes in, bytes out, nothing more."""
    from twisted.internet import reactor

    peer = tools.RawPeer()
    await clientFromString(reactor, address(server)).connect(Factory.forProtocol(lambda: peer))
    await peer.made
    return peer


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


async def test_server_with_plain_socket_client(reactor, tools):
    wire = b"abc\r\nDATA 7\r\nx\r\nyz\r\n\r\ndef\r\nunterminated"
    async with await lines.serve(upper_server, LOCAL) as server:
        for chunks in ([wire], bytewise(wire)):
            peer = await raw_client(tools, server)
            for chunk in chunks:
                peer.send(chunk)
                await tools.sleep(0)
            peer.send_eof()
            reply = await peer.read_until_eof()
            assert reply == b"ABC\r\nGOT 7\r\nX\r\nYZ\r\n\r\n\r\nDEF\r\nLEFTOVER unterminated\r\n"
            await peer.close()


async def test_server_line_limit_closes_that_connection(reactor, tools):
    async with await lines.serve(upper_server, LOCAL, max_line_length=8) as server:
        peer = await raw_client(tools, server)
        peer.send(b"short\r\n" + b"z" * 9)  # no delimiter yet: too long all the same
        assert await peer.read_until_eof() == b"SHORT\r\n"
        await peer.close()
        other = await raw_client(tools, server)  # the server goes on
        other.send(b"again\r\n")
        assert await other.read_exactly(7) == b"AGAIN\r\n"
        await other.close()


@twisted_tls_warning
async def test_text_server_and_options(reactor, twisted_tls):
    server_tls, client_tls = twisted_tls

    async def greet(stream):
        name = await stream.receive_line()
        await stream.send_line(f"hello, {name}")

    async with await lines.serve(
        greet, LOCAL, delimiter=(b"\n",), encoding="utf-8", ssl=server_tls
    ) as server:
        stream = await lines.connect(
            address(server), delimiter=b"\n", encoding="utf-8", ssl=client_tls
        )
        async with stream:
            await stream.send_line("wörld")
            assert await stream.receive_line() == "hello, wörld"
            assert stream.get_extra_info("ssl_object") is not None


async def test_end_of_stream_inside_a_raw_block(reactor):
    async def short(stream):
        await stream.events.send_eof()

    async with await lines.serve(short, LOCAL) as server:
        stream = await lines.connect(address(server))
        async with stream:
            with pytest.raises(EOFError, match="a block of 5 bytes") as info:
                await stream.receive_exactly(5)
            assert info.value.event.missing == 5
            assert stream.closed_event is info.value.event


def test_bad_options_and_wrong_core(netstring):
    with pytest.raises(ValueError, match="encoding"):
        lines.serve(upper_server, LOCAL, encoding="no-such-codec")
    with pytest.raises(ValueError, match="delimiters must be non-empty"):
        lines.connect("tcp:127.0.0.1:1", delimiter=b"")
    with pytest.raises(TypeError, match="unexpected options: colour"):
        lines.serve(upper_server, LOCAL, colour="blue")
    with pytest.raises(TypeError, match="line connection"):
        lines.LineStream(tidewire_twisted.EventStream(netstring.NetstringConnection()))


async def test_lines_over_a_unix_socket(reactor, tmp_path):
    path = tmp_path / "lines.sock"

    async def shout(stream):
        async for line in stream:
            await stream.send_line(line.upper())

    async with await lines.serve(shout, f"unix:{path}", delimiter=b"\n") as server:
        async with await lines.connect(f"unix:path={path}", delimiter=b"\n") as stream:
            await stream.send_line(b"quiet")
            assert await stream.receive_line() == b"QUIET"
            assert stream.get_extra_info("peername") == str(path)
        with pytest.raises(RuntimeError, match="no port"):
            server.port  # noqa: B018 - the property raises


async def test_a_handler_may_return_a_deferred(reactor):
    def hello(stream):
        return stream.send_line(b"hello")  # a Deferred: the connection closes after it

    async with await lines.serve(hello, LOCAL) as server:
        stream = await lines.connect(address(server))
        async with stream:
            assert [line async for line in stream] == [b"hello"]


async def test_a_refused_connection_fails_the_deferred(reactor):
    async with await lines.serve(upper_server, LOCAL) as server:
        endpoint = address(server)
    with pytest.raises(ConnectionRefusedError):
        await lines.connect(endpoint)


async def test_connect_fires_and_async_with_closes(reactor, twisted_peer):
    async with await lines.connect(twisted_peer, encoding="utf-8") as text:
        await text.send_line("entered")
        assert await text.receive_line() == "ECHO entered"
    assert text.events.closed
    with pytest.raises(StreamClosedError):
        await text.send_line("after")


# -- splits, cancellation, backpressure -----------------------------------------------


def attached(factory=LineConnection, **options):
    """A LineStream over a StringTransport: the test feeds the protocol exactly the chunks."""
    events = tidewire_twisted.EventStream(factory(), **options)
    transport = StringTransport()
    events.protocol.makeConnection(transport)
    return lines.LineStream(events), events.protocol, transport


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
SPLITS = [[WIRE], bytewise(WIRE), *(random_splits(WIRE, n) for n in range(5))]
SPLITS += [[WIRE[:i], WIRE[i:]] for i in range(1, len(WIRE))]


@pytest.mark.parametrize("chunks", SPLITS)
def test_lines_parsed_in_bulk_hand_over_to_raw_blocks_however_split(chunks):
    stream, protocol, _ = attached()
    reading = Deferred.fromCoroutine(read_everything(stream))
    for chunk in chunks:  # the reader takes each as it comes
        protocol.dataReceived(chunk)
    protocol.readConnectionLost()
    assert reading.result == EXPECTED


async def test_a_cancelled_receive_line_loses_nothing(reactor, tools):
    stream, protocol, _ = attached()
    waiting = stream.receive_line()
    waiting.cancel()
    assert isinstance(await outcome(waiting), CancelledError)
    protocol.dataReceived(b"first\r\nsecond\r\n")
    assert await stream.receive_line() == b"first"
    stream.receive_line().cancel()  # fired already: the line is its result, not lost
    protocol.dataReceived(b"third\r\n")
    assert await stream.receive_line() == b"third"
    stream.abort()


async def test_a_cancelled_chunk_step_consumed_nothing_and_a_break_leaves_the_rest(tools):
    stream, protocol, _ = attached()
    with pytest.raises(LocalProtocolError, match="raw block size"):
        stream.receive_chunks(-1)
    chunks = stream.receive_chunks(10)
    protocol.dataReceived(b"abc")
    assert await anext(chunks) == b"abc"
    step = Deferred.fromCoroutine(anext(chunks))  # nothing is coming
    step.cancel()
    assert isinstance(await outcome(step), CancelledError)
    protocol.dataReceived(b"de")
    assert await anext(chunks) == b"de"
    # Leave the loop with 5 bytes of the block unread: lines wait for them.
    with pytest.raises(RuntimeError, match="raw_remaining=5"):
        await stream.receive_line()
    protocol.dataReceived(b"fghij" + b"after\r\n")
    rest = [chunk async for chunk in stream.receive_chunks(stream.connection.raw_remaining)]
    assert b"".join(rest) == b"fghij"
    assert await stream.receive_line() == b"after"
    stream.abort()


async def test_end_of_stream_inside_a_chunked_block():
    stream, protocol, _ = attached()
    protocol.dataReceived(b"abc")
    protocol.readConnectionLost()
    chunks = stream.receive_chunks(10)
    assert await anext(chunks) == b"abc"
    with pytest.raises(EndOfStream, match="0 bytes left over, 7 missing") as info:
        await anext(chunks)
    assert info.value.event.missing == 7
    assert stream.closed_event is info.value.event
    stream.abort()


async def test_lines_before_a_line_too_long_are_returned_first():
    stream, protocol, _ = attached(lambda: LineConnection(max_line_length=10))
    protocol.dataReceived(b"one\r\ntwo\r\n" + b"x" * 50 + b"\r\nthree\r\n")
    assert [await anext(stream), await stream.receive_line()] == [b"one", b"two"]
    with pytest.raises(RemoteProtocolError, match="max_line_length is 10"):
        await anext(stream)
    with pytest.raises(RemoteProtocolError):
        await stream.receive_line()  # the stream stays failed
    stream.abort()


async def test_send_line_waits_for_a_peer_that_does_not_read(reactor, tools):
    line, count = b"x" * 999, 20_000  # 20 MB: far more than any buffer on the way
    sent = 0

    async def flood(stream):
        nonlocal sent
        for _ in range(count):
            await stream.send_line(line)
            sent += 1

    async with tools.stream_and_peer(LineConnection) as (events, peer):
        peer.stop_reading()
        stream = lines.LineStream(events)
        flooding = Deferred.fromCoroutine(flood(stream))
        await tools.eventually(lambda: events.write_backlog > 0)
        await tools.sleep(0.2)
        assert not flooding.called and sent < count  # it waits: the peer does not read
        assert events.write_backlog < 1024 * 1024
        received = await peer.read_exactly(200 * (len(line) + 2))
        assert received == (line + b"\r\n") * 200
        before = sent
        await tools.eventually(lambda: sent > before)  # it went on once the peer read
        flooding.cancel()
        assert isinstance(await outcome(flooding), CancelledError)


async def test_a_slow_reader_pauses_the_transport_with_bounded_memory(reactor, tools):
    """The peer floods lines while nobody receives: reading pauses; every line arrives."""
    line, count = b"y" * 99, 40_000  # 4 MB
    marks = {"read_high_water": 32 * 1024, "read_low_water": 8 * 1024}
    async with tools.stream_and_peer(LineConnection, **marks) as (events, peer):
        stream = lines.LineStream(events)
        peer.send((line + b"\r\n") * count)
        await tools.eventually(lambda: events.reading_paused)
        await tools.sleep(0.05)
        assert events.reading_paused
        assert events.read_backlog <= 32 * 1024 + 256 * 1024  # the mark plus one read
        for _ in range(count):
            assert await stream.receive_line() == line
        assert not events.reading_paused


@pytest.mark.parametrize("close", ["aclose", "abort"])
async def test_no_line_after_closing_on_this_side(reactor, tools, close):
    async with tools.stream_and_peer(LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        peer.send(b"one\r\ntwo\r\nthree\r\n")  # split together, in one batch
        assert await stream.receive_line() == b"one"
        if close == "aclose":
            await stream.aclose()
        else:
            stream.abort()
        with pytest.raises(StreamClosedError):
            await stream.receive_line()
        with pytest.raises(StreamClosedError):
            await stream.send_line(b"late")


async def test_properties_and_send_eof(reactor, tools):
    async with tools.stream_and_peer(LineConnection) as (events, peer):
        stream = lines.LineStream(events)
        assert stream.events is events and stream.connection is events.connection
        assert stream.closed_event is None
        assert stream.get_extra_info("no such thing", 7) == 7
        with pytest.raises(LocalProtocolError, match="more than one line"):
            await stream.send_line(b"a\r\nb")
        await stream.send_line(b"last")
        await stream.send_eof()
        assert await peer.read_until_eof() == b"last\r\n"


async def test_an_answer_within_a_burst_leaves_though_nobody_reads_on(reactor, tools):
    stream, protocol, transport = attached()
    protocol.dataReceived(b"one\r\ntwo\r\n")  # a burst: "two" waits while "one" is answered
    assert await stream.receive_line() == b"one"
    await stream.send_line(b"ack one")
    # The handler does something else now; the answer still leaves, by the turn's end.
    await tools.eventually(lambda: transport.value() == b"ack one\r\n")
    assert await stream.receive_line() == b"two"
    await stream.send_line(b"ack two")  # the burst's last line: written at once
    assert transport.value() == b"ack one\r\nack two\r\n"
    stream.abort()
