"""tidewire_lines.adapting: the decisions every adapter's line stream shares."""

import pytest

from tidewire import EndOfStream, LocalProtocolError, RemoteProtocolError
from tidewire_lines import LineConnection, LinesClosed, Mode, TextLineConnection
from tidewire_lines.adapting import (
    Chunks,
    LineStreamBase,
    check_block,
    check_line_mode,
    connection_factory,
    end_of_stream,
    receive_block,
)


def test_the_factory_builds_bytes_or_text_cores_with_the_limits():
    core = connection_factory(b"\n", None, 10, 20)()
    assert type(core) is LineConnection and core.max_raw_size == 20
    text = connection_factory((b"\r\n", b"\n"), "latin-1", 10, 20)()
    assert type(text) is TextLineConnection
    text.receive_data(b"caf\xe9\n")
    assert text.next_event().text == "café"
    core.receive_data(b"x" * 11)
    with pytest.raises(Exception, match="max_line_length"):
        core.next_event()


@pytest.mark.parametrize(
    ("delimiter", "encoding", "limit"),
    [(b"", None, 1), (b"\n", "no-such-codec", 1), (b"\n", None, -1)],
)
def test_the_factory_refuses_bad_options_at_once(delimiter, encoding, limit):
    with pytest.raises(ValueError, match=r"delimiter|encoding|negative"):
        connection_factory(delimiter, encoding, limit, 1)


def test_a_block_above_max_raw_size_is_refused_before_anything_changes():
    core = LineConnection(max_raw_size=100)
    check_block(core, 100)
    check_block(core, "not checked here")  # the core's set_raw_mode() words that
    with pytest.raises(LocalProtocolError, match=r"receive_chunks\(101\)"):
        check_block(core, 101)
    assert core.mode is Mode.LINES


def test_a_line_is_refused_in_raw_mode():
    core = LineConnection()
    check_line_mode(core)
    core.set_raw_mode(5)
    with pytest.raises(RuntimeError, match="raw_remaining=5"):
        check_line_mode(core)


def test_end_of_stream_hands_over_the_partial_line():
    event = LinesClosed(leftover=b"half", missing=0)
    error = end_of_stream(event, "a line")
    assert isinstance(error, EndOfStream) and error.event is event
    assert str(error) == (
        "the peer closed its side while a line was awaited; 4 bytes left over, 0 missing"
    )
    clean = end_of_stream(LinesClosed(leftover=b"", missing=0), "a line")
    assert str(clean) == "the peer closed its side while a line was awaited"


class Fed:
    """An event stream stand-in whose receive() hands over what the core parses."""

    def __init__(self, core):
        self.core = core

    async def receive(self):
        return self.core.next_event()


def run(coroutine):
    """Run a coroutine that never waits (Fed's receive() does not)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited")


async def collect(chunks):
    return [piece async for piece in chunks]


def test_chunks_yield_a_block_in_pieces_then_stop():
    core = LineConnection(b"\n")
    core.set_raw_mode(5, chunked=True)
    core.receive_data(b"abc")
    chunks = Chunks(Fed(core), lambda event: end_of_stream(event, "a block"))
    assert run(chunks.__anext__()) == b"abc"
    core.receive_data(b"denext\n")
    assert run(collect(chunks)) == [b"de"]
    assert core.next_event().line == b"next"  # lines resume after the block


def test_chunks_of_an_empty_block_yield_nothing():
    core = LineConnection(b"\n")
    core.set_raw_mode(0, chunked=True)
    assert run(collect(Chunks(Fed(core), lambda event: end_of_stream(event, "x")))) == []


def test_chunks_raise_the_end_of_stream_error_at_the_peers_end():
    core = LineConnection(b"\n")
    core.set_raw_mode(5, chunked=True)
    core.receive_data(b"ab")
    core.receive_eof()
    chunks = Chunks(Fed(core), lambda event: end_of_stream(event, "a block of 5 bytes"))
    assert run(chunks.__anext__()) == b"ab"
    with pytest.raises(EndOfStream, match="a block of 5 bytes"):
        run(chunks.__anext__())
    with pytest.raises(StopAsyncIteration):
        run(chunks.__anext__())


def test_receive_block_takes_a_block_then_lines_resume():
    core = LineConnection(b"\n")
    core.receive_data(b"abcdenext\n")
    block = receive_block(core, Fed(core), 5, lambda event: end_of_stream(event, "a block"))
    assert run(block) == b"abcde"
    assert core.next_event().line == b"next"


def test_receive_block_raises_the_end_of_stream_error_at_the_peers_end():
    core = LineConnection(b"\n")
    core.receive_data(b"ab")
    core.receive_eof()
    ended = lambda event: end_of_stream(event, "a block of 5 bytes")  # noqa: E731
    with pytest.raises(EndOfStream, match="5 bytes was awaited; 2 bytes left over, 3 missing"):
        run(receive_block(core, Fed(core), 5, ended))


def test_receive_block_refuses_misuse_before_anything_changes():
    core = LineConnection(b"\n", max_raw_size=4)
    with pytest.raises(LocalProtocolError, match="receive_chunks"):
        run(receive_block(core, Fed(core), 5, lambda event: end_of_stream(event, "x")))
    assert core.mode is Mode.LINES


class Interrupted:
    """A stream stand-in whose receive() is interrupted, after taking the event or not."""

    def __init__(self, core, *, take):
        self.core = core
        self.take = take

    async def receive(self):
        if self.take:
            self.core.next_event()
        raise KeyboardInterrupt  # a cancellation of whatever framework


@pytest.mark.parametrize("take", [False, True])
def test_an_interrupted_receive_block_leaves_the_core_reading_lines(take):
    core = LineConnection(b"\n")
    core.receive_data(b"abcdenext\n")
    with pytest.raises(KeyboardInterrupt):
        run(receive_block(core, Interrupted(core, take=take), 5, lambda e: end_of_stream(e, "x")))
    assert core.mode is Mode.LINES
    # Not taken: the block's bytes are still there, read as lines; taken: gone with it.
    assert core.next_event().line == (b"next" if take else b"abcdenext")


# -- LineStreamBase: what every adapter's LineStream holds and does ------------------


class FakeStream(Fed):
    """An event stream stand-in: receive() parses, the rest is recorded."""

    def __init__(self, core):
        super().__init__(core)
        self.calls = []

    @property
    def connection(self):
        return self.core

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    async def receive(self):
        self.calls.append("receive")
        return await super().receive()

    async def send(self, event):
        self.core.send(event)

    async def send_eof(self):
        self.calls.append("send_eof")

    async def aclose(self):
        self.calls.append("aclose")

    def abort(self):
        self.calls.append("abort")


class Lines(LineStreamBase):
    """The least an adapter adds: receive_line() (here, one that never waits)."""

    async def receive_line(self):
        for line in self._batch:
            return line
        return self._line_of(await self._stream.receive())


def fed_lines(data, *, eof=False, core=None):
    core = core or LineConnection(b"\n")
    core.receive_data(data)
    if eof:
        core.receive_eof()
    return Lines(FakeStream(core))


def test_a_line_stream_needs_a_line_core():
    class Other:
        connection = object()

    with pytest.raises(TypeError, match="needs a line connection, not object"):
        Lines(Other())


def test_a_line_stream_shows_its_stream_core_and_extra_info():
    stream = fed_lines(b"")
    assert stream.connection is stream.events.core
    assert stream.get_extra_info("peername") == ("127.0.0.1", 1)
    assert stream.get_extra_info("socket", "none") == "none"
    assert stream.closed_event is None


def test_lines_that_came_together_are_returned_in_order_then_the_end():
    stream = fed_lines(b"a\nb\nc\npartial", eof=True)
    assert run(stream.receive_line()) == b"a"
    assert run(collect(stream)) == [b"b", b"c"]
    assert stream.closed_event == LinesClosed(leftover=b"partial", missing=0)
    with pytest.raises(EndOfStream, match="a line was awaited; 7 bytes left over"):
        run(stream.receive_line())


def test_a_text_line_stream_returns_str():
    core = TextLineConnection(b"\n", encoding="utf-8")
    stream = fed_lines(b"h\xc3\xa9\nx\n", eof=True, core=core)
    assert run(collect(stream)) == ["h\u00e9", "x"]


def test_an_error_ends_iteration_with_the_error_after_the_lines_before_it():
    stream = fed_lines(b"ok\n" + b"x" * 10, core=LineConnection(b"\n", max_line_length=4))
    assert run(stream.__anext__()) == b"ok"
    with pytest.raises(RemoteProtocolError):
        run(stream.__anext__())


def test_a_line_stream_reads_a_block_then_lines():
    stream = fed_lines(b"abcdenext\nfghij")
    assert run(stream.receive_exactly(5)) == b"abcde"
    assert run(stream.receive_line()) == b"next"
    assert run(collect(stream.receive_chunks(5))) == [b"fghij"]


def test_a_block_cut_short_by_the_peer_says_how_long_it_was():
    stream = fed_lines(b"ab", eof=True)
    with pytest.raises(EndOfStream, match="a block of 5 bytes was awaited"):
        run(stream.receive_exactly(5))
    assert stream.closed_event == LinesClosed(leftover=b"ab", missing=3)


def test_sending_raw_bytes_and_closing_go_to_the_event_stream():
    stream = fed_lines(b"a\nb\n")
    run(stream.send_raw(b"raw"))
    assert stream.connection.data_to_send() == b"raw"
    assert run(stream.receive_line()) == b"a"
    run(stream.send_eof())
    run(stream.aclose())
    stream.abort()
    assert stream.events.calls == ["receive", "send_eof", "aclose", "abort"]
    # Closed on this side, the stream no longer hands out the lines that came
    # with the last one: it asks the event stream (a real one would refuse).
    run(stream.__anext__())
    assert stream.events.calls[-1] == "receive"
