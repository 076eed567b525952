"""tidewire_lines.adapting: the decisions every adapter's line stream shares."""

import pytest

from tidewire import EndOfStream, LocalProtocolError
from tidewire_lines import LineConnection, LinesClosed, Mode, TextLineConnection
from tidewire_lines.adapting import (
    Chunks,
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
