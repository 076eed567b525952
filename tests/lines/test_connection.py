import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewire import NEED_DATA, LocalProtocolError, ReceiveState, RemoteProtocolError
from tidewire.testing import (
    ConnectionContract,
    Loopback,
    assert_split_invariant,
    bytewise,
    chunkings,
    random_splits,
    run,
)
from tidewire_lines import Line, LineConnection, LinesClosed, Mode, RawData

# -- the contract suite --------------------------------------------------------


class TestLineContract(ConnectionContract):
    valid_input = b"EHLO example.org\r\nMAIL FROM:<a@b>\r\n\r\nx" + b"y" * 30 + b"\r\n"
    invalid_input = b"ok\r\n" + b"x" * 70

    def make_connection(self):
        return LineConnection(max_line_length=64)

    def sendable_events(self):
        return [Line(b"220 ready"), Line(b""), RawData(b"raw\r\nbytes")]

    def unsendable_events(self):
        return [Line(b"a\r\nb"), Line("text"), RawData("text"), b"bytes", None]


class TestLineContractSeveralDelimiters(TestLineContract):
    valid_input = b"one\ntwo\r\nthree\r\n\n"
    invalid_input = b"short\n" + b"x" * 70 + b"\n"

    def make_connection(self):
        return LineConnection((b"\r\n", b"\n"), max_line_length=64)

    def unsendable_events(self):
        return [Line(b"a\nb"), Line(b"a\r\nb"), Line(b"\n")]


# -- a reference model ---------------------------------------------------------


def reference(data, delimiters, limit):
    """What a correct line reader makes of the whole of ``data`` followed by end of file.

    Returns (events, error): lines, then a LinesClosed with the unterminated
    rest; or the lines before the first one over the limit, and True.
    """
    pattern = re.compile(b"|".join(map(re.escape, delimiters)))
    events, pos = [], 0
    while (match := pattern.search(data, pos)) is not None:
        if match.start() - pos > limit:
            return events, True
        events.append(Line(data[pos : match.start()]))
        pos = match.end()
    rest = data[pos:]
    slack = max(
        (size for d in delimiters for size in range(1, len(d)) if rest.endswith(d[:size])),
        default=0,
    )
    if len(rest) - slack > limit:
        return events, True
    return [*events, LinesClosed(rest)], False


DELIMITER_SETS = [
    (b"\r\n",),
    (b"\n",),
    (b"aa",),
    (b"aba",),
    (b"\r\n", b"\n"),
    (b"\r\n", b"\r"),
    (b"\n", b"\r\n"),
    (b"ab", b"b", b"aab"),
]


def make(delimiters, limit):
    delimiter = delimiters[0] if len(delimiters) == 1 else delimiters
    return lambda: LineConnection(delimiter, max_line_length=limit)


@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"ab\r\nx"[c % 5] for c in b)),
    delimiters=st.sampled_from(DELIMITER_SETS),
    limit=st.integers(0, 8),
    chunks=st.data(),
)
def test_matches_the_reference_however_split(data, delimiters, limit, chunks):
    expected_events, expected_error = reference(data, delimiters, limit)
    split = chunks.draw(chunkings(data), label="chunks")
    for feed in ([data], split, bytewise(data)):
        outcome = run(make(delimiters, limit), feed, eof=True)
        assert outcome.events == expected_events
        assert (outcome.error is not None) == expected_error


@given(
    lines=st.lists(st.binary(max_size=20).filter(lambda b: b"\n" not in b), max_size=10),
    chunks=st.data(),
)
def test_lines_sent_are_received_unchanged(lines, chunks):
    sender, receiver = LineConnection(b"\n"), LineConnection(b"\n", max_line_length=20)
    for line in lines:
        sender.send(Line(line))
    data = sender.data_to_send()
    outcome = run(receiver, chunks.draw(chunkings(data), label="chunks"), eof=True)
    assert outcome.events == [*map(Line, lines), LinesClosed()]


def test_loopback_between_two_connections():
    client, server = LineConnection(), LineConnection()
    pair = Loopback(client, server)
    client.send(Line(b"PING"))
    client.send(Line(b"PING 2"))
    to_client, to_server = pair.pump()
    assert to_server == [Line(b"PING"), Line(b"PING 2")]
    server.send(Line(b"PONG"))
    to_client, to_server = pair.close(server)
    assert to_client == [Line(b"PONG"), LinesClosed()]


# -- max_line_length -----------------------------------------------------------


@pytest.mark.parametrize("delimiter", [b"\r\n", (b"\r\n", b"\n")])
def test_a_line_at_the_limit_is_accepted_however_split(delimiter):
    data = b"x" * 10 + b"\r\n" + b"y" * 10 + b"\r\n"
    outcome = assert_split_invariant(
        lambda: LineConnection(delimiter, max_line_length=10),
        data,
        splits=[[data[:11], data[11:]], [data[:10], data[10:]]],  # inside and before the CRLF
    )
    assert outcome.events == [Line(b"x" * 10), Line(b"y" * 10)]
    assert outcome.error is None


@pytest.mark.parametrize("delimiter", [b"\r\n", (b"\r\n", b"\n")])
def test_a_line_over_the_limit_is_rejected_however_split(delimiter):
    data = b"ok\r\n" + b"x" * 11 + b"\r\nnever\r\n"
    outcome = assert_split_invariant(lambda: LineConnection(delimiter, max_line_length=10), data)
    assert outcome.events == [Line(b"ok")]  # the line before it is not lost
    assert isinstance(outcome.error, RemoteProtocolError)
    assert outcome.error.message == "a line of 11 bytes; max_line_length is 10"
    assert outcome.error.offset == 4  # where the long line starts


@pytest.mark.parametrize("delimiter", [b"\r\n", (b"\r\n", b"\n")])
def test_the_limit_holds_before_the_delimiter_arrives(delimiter):
    connection = LineConnection(delimiter, max_line_length=10)
    connection.receive_data(b"ok\r\n" + b"x" * 10 + b"\r")  # 10 bytes and maybe a CRLF
    assert connection.next_event() == Line(b"ok")
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"x")  # no longer: the line is 12 bytes already
    with pytest.raises(RemoteProtocolError) as info:
        connection.next_event()
    assert (
        info.value.message == "no delimiter in the first 12 bytes of a line; max_line_length is 10"
    )
    assert info.value.offset == 4
    assert connection.receive_state is ReceiveState.ERROR
    assert connection.peek_unparsed(11) == b"x" * 10 + b"\r"  # the long line's start, kept
    assert connection.peek_unparsed() == b"x" * 10 + b"\rx"


def test_peek_unparsed_leaves_out_lines_already_split_off():
    connection = LineConnection(b"\n")
    connection.receive_data(b"a\nb\npart")
    assert connection.next_event() == Line(b"a")
    assert connection.lines_ready == 1
    assert connection.peek_unparsed() == b"part"
    assert connection.peek_unparsed(2) == b"pa"


def test_no_resynchronisation_after_an_overlong_line():
    connection = LineConnection(b"\n", max_line_length=10)
    connection.receive_data(b"x" * 15)
    with pytest.raises(RemoteProtocolError):
        connection.next_event()
    connection.receive_data(b"yyy\nnext\n")  # the tail of the long line, then a line
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            connection.next_event()


def test_many_lines_in_one_chunk_then_an_overlong_one():
    data = b"".join(b"line %d\n" % i for i in range(1000)) + b"z" * 100
    outcome = run(lambda: LineConnection(b"\n", max_line_length=50), [data])
    assert outcome.events == [Line(b"line %d" % i) for i in range(1000)]
    assert isinstance(outcome.error, RemoteProtocolError)


# -- end of file -----------------------------------------------------------------


def test_clean_end_of_stream():
    outcome = run(LineConnection, [b"a\r\nb\r\n"], eof=True)
    assert outcome.events == [Line(b"a"), Line(b"b"), LinesClosed()]
    assert outcome.events[-1].clean


def test_end_of_stream_mid_line_hands_over_the_rest():
    outcome = assert_split_invariant(LineConnection, b"a\r\npartial\r", eof=True)
    assert outcome.events == [Line(b"a"), LinesClosed(b"partial\r")]
    assert not outcome.events[-1].clean


def test_a_delimiter_waiting_for_more_bytes_ends_the_line_at_end_of_file():
    # (CRLF, CR): a final CR may become CRLF, until end of file says it cannot.
    factory = lambda: LineConnection((b"\r\n", b"\r"))  # noqa: E731
    assert run(factory, [b"a\rb\r"]).events == [Line(b"a")]
    outcome = assert_split_invariant(factory, b"a\rb\r", eof=True)
    assert outcome.events == [Line(b"a"), Line(b"b"), LinesClosed()]


# -- raw mode ----------------------------------------------------------------------

MEMCACHED = b"VALUE a 0 5\r\nhello\r\nVALUE b 0 7\r\nx\r\ny\r\nz\r\nEND\r\n"


def memcached_client(chunks, *, chunked=False, eof=False):
    """Read memcached `get` replies: a VALUE line announces a raw block of n + 2 bytes."""
    connection = LineConnection()
    events = []
    for chunk in [*chunks, None]:
        if chunk is None:
            if not eof:
                break
            connection.receive_eof()
        else:
            connection.receive_data(chunk)
        while (event := connection.next_event()) is not NEED_DATA:
            events.append(event)
            if isinstance(event, Line) and event.line.startswith(b"VALUE "):
                connection.set_raw_mode(int(event.line.split()[3]) + 2, chunked=chunked)
            if isinstance(event, LinesClosed):
                return events
    return events


def merge_raw(events):
    merged = []
    for event in events:
        if isinstance(event, RawData) and merged and isinstance(merged[-1], RawData):
            merged[-1] = RawData(merged[-1].data + event.data, event.remaining)
        else:
            merged.append(event)
    return merged


def test_counted_raw_block_takes_lines_already_split():
    expected = [
        Line(b"VALUE a 0 5"),
        RawData(b"hello\r\n", 0),
        Line(b"VALUE b 0 7"),
        RawData(b"x\r\ny\r\nz\r\n", 0),
        Line(b"END"),
    ]
    assert memcached_client([MEMCACHED]) == expected
    assert memcached_client(bytewise(MEMCACHED)) == expected
    for seed in range(20):
        assert memcached_client(random_splits(MEMCACHED, seed)) == expected


def test_chunked_raw_block_comes_in_pieces_as_it_arrives():
    events = memcached_client(bytewise(MEMCACHED), chunked=True)
    assert events[1:8] == [RawData(bytes([c]), 6 - i) for i, c in enumerate(b"hello\r\n")]
    whole = memcached_client([MEMCACHED], chunked=True)
    assert whole == memcached_client([MEMCACHED])
    for seed in range(20):
        assert merge_raw(memcached_client(random_splits(MEMCACHED, seed), chunked=True)) == whole


@given(st.data())
def test_fuzz_a_block_above_max_raw_size_comes_in_pieces_holding_nothing(data):
    """A chunked block: pieces total the block, the core keeps none of it, then lines resume."""
    block = bytes(range(256)) * 4 + b"\r\n"  # 1,026 bytes, CRLFs inside
    wire = b"VALUE k 0 1024\r\n" + block + b"END\r\n"
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=12)))
    chunks = [wire[i:j] for i, j in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    connection = LineConnection(max_raw_size=16)
    events, fed, delivered = [], 0, 0
    for chunk in chunks:
        connection.receive_data(chunk)
        fed += len(chunk)
        for event in connection.events():
            events.append(event)
            if isinstance(event, Line):
                delivered += len(event.line) + 2
                if event.line.startswith(b"VALUE "):
                    connection.set_raw_mode(len(block), chunked=True)
            else:
                delivered += len(event.data)
        if connection.mode is Mode.RAW:
            assert delivered == fed  # every byte received so far was handed over
    assert merge_raw(events) == [Line(b"VALUE k 0 1024"), RawData(block, 0), Line(b"END")]


def test_raw_block_ending_inside_a_delimiter_resumes_lines_exactly():
    # The block takes "ab" and the "\r" of a CRLF, so the next line is "\nc".
    connection = LineConnection()
    connection.receive_data(b"go\r\nab\r\nc\r\nd\r\n")
    assert connection.next_event() == Line(b"go")
    connection.set_raw_mode(3)
    assert list(connection.events()) == [RawData(b"ab\r", 0), Line(b"\nc"), Line(b"d")]


def test_the_rest_of_a_batch_is_read_linearly_after_a_switch():
    data = b"".join(b"VALUE k 0 3\r\nabc\r\n" for _ in range(300)) + b"END\r\n"
    events = memcached_client([data])
    assert events[-1] == Line(b"END")
    assert events.count(RawData(b"abc\r\n", 0)) == 300


def test_zero_length_block():
    for chunked in (False, True):
        connection = LineConnection()
        connection.set_raw_mode(0, chunked=chunked)
        assert connection.next_event() == RawData(b"", 0)
        assert connection.mode is Mode.LINES
        assert connection.next_event() is NEED_DATA


def test_open_ended_raw_mode_until_switched_back():
    connection = LineConnection()
    connection.receive_data(b"STARTTLS\r\nrandom\r\nbytes")
    assert connection.next_event() == Line(b"STARTTLS")
    connection.set_raw_mode()
    assert connection.mode is Mode.RAW
    assert connection.raw_remaining is None
    assert connection.next_event() == RawData(b"random\r\nbytes")
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"more\r\n")
    assert connection.next_event() == RawData(b"more\r\n")
    connection.receive_data(b"end\r\nline\r\n")
    connection.set_line_mode()
    assert list(connection.events()) == [Line(b"end"), Line(b"line")]
    connection.set_line_mode()  # already there: nothing changes
    assert connection.mode is Mode.LINES


def test_raw_remaining_counts_down():
    connection = LineConnection()
    connection.set_raw_mode(5, chunked=True)
    assert connection.raw_remaining == 5
    connection.receive_data(b"ab")
    assert connection.next_event() == RawData(b"ab", 3)
    assert connection.raw_remaining == 3
    assert connection.next_event() is NEED_DATA
    connection.receive_data(b"cdeline\r\n")
    assert connection.next_event() == RawData(b"cde", 0)
    assert connection.raw_remaining is None
    assert connection.mode is Mode.LINES
    assert connection.next_event() == Line(b"line")


def test_switching_back_in_the_middle_of_a_block():
    connection = LineConnection()
    connection.set_raw_mode(100, chunked=True)
    connection.receive_data(b"abc")
    assert connection.next_event() == RawData(b"abc", 97)
    connection.receive_data(b"def\r\n")
    connection.set_line_mode()
    assert connection.next_event() == Line(b"def")


def test_setting_raw_mode_again_replaces_the_block():
    connection = LineConnection()
    connection.receive_data(b"abcdef")
    connection.set_raw_mode(10)
    assert connection.next_event() is NEED_DATA
    connection.set_raw_mode(4)
    assert connection.next_event() == RawData(b"abcd", 0)


def test_raw_mode_after_end_of_file_reads_what_is_buffered():
    connection = LineConnection()
    connection.receive_data(b"SIZE 3\r\nxyz")
    connection.receive_eof()
    assert connection.next_event() == Line(b"SIZE 3")
    connection.set_raw_mode(3)
    assert list(connection.events()) == [RawData(b"xyz", 0), LinesClosed()]


@pytest.mark.parametrize(
    ("size", "chunked", "closed"),
    [
        (10, False, LinesClosed(b"abcd", 6)),
        (10, True, LinesClosed(b"", 6)),
        (None, False, LinesClosed()),
    ],
)
def test_end_of_file_in_raw_mode(size, chunked, closed):
    connection = LineConnection()
    connection.set_raw_mode(size, chunked=chunked)
    connection.receive_data(b"abcd")
    connection.receive_eof()
    events = list(connection.events())
    assert events[-1] == closed
    assert b"".join(e.data for e in events[:-1]) + closed.leftover == b"abcd"


@pytest.mark.parametrize("size", [-1, 1.5, "3", True])
def test_bad_raw_sizes_are_local_errors(size):
    connection = LineConnection()
    with pytest.raises(LocalProtocolError, match="raw block size"):
        connection.set_raw_mode(size)
    assert connection.mode is Mode.LINES


def test_a_whole_block_is_bounded_by_max_raw_size():
    connection = LineConnection(max_raw_size=100)
    assert connection.max_raw_size == 100
    with pytest.raises(LocalProtocolError, match=r"set_raw_mode\(101, chunked=True\)"):
        connection.set_raw_mode(101)
    assert connection.mode is Mode.LINES
    connection.set_raw_mode(100)
    connection.set_raw_mode(10**12, chunked=True)
    assert connection.raw_remaining == 10**12


def test_no_mode_change_once_closed_or_failed():
    closed = LineConnection()
    closed.receive_eof()
    assert closed.next_event() == LinesClosed()
    failed = LineConnection(max_line_length=1)
    failed.receive_data(b"long")
    with pytest.raises(RemoteProtocolError):
        failed.next_event()
    for connection, state in ((closed, "CLOSED"), (failed, "ERROR")):
        with pytest.raises(LocalProtocolError, match=state):
            connection.set_raw_mode()
        with pytest.raises(LocalProtocolError, match=state):
            connection.set_line_mode()


# -- sending -----------------------------------------------------------------------


def test_send_appends_the_first_delimiter():
    connection = LineConnection((b"\n", b"\r\n"))
    connection.send(Line(b"a"))
    connection.send(Line(bytearray(b"b")))
    connection.send(Line(memoryview(b"c")))
    connection.send(RawData(b"raw\nbytes"))
    connection.send(RawData(memoryview(b"!")))
    assert connection.data_to_send() == b"a\nb\nc\nraw\nbytes!"


@pytest.mark.parametrize(
    ("delimiter", "line"),
    [
        (b"\r\n", b"a\r\nb"),
        (b"\r\n", b"\r\n"),
        (b"aa", b"xa"),  # "xa" + "aa" reads back as "x" and an "a"
        ((b"\r\n", b"\n"), b"a\nb"),
        ((b"\n", b"\r"), b"a\r"),
    ],
)
def test_line_injection_is_refused(delimiter, line):
    connection = LineConnection(delimiter)
    with pytest.raises(LocalProtocolError, match="more than one line"):
        connection.send(Line(line))
    assert connection.data_to_send() == b""


@pytest.mark.parametrize("event", [Line("text"), RawData(["list"]), object(), LinesClosed()])
def test_unsendable_values_are_local_errors(event):
    connection = LineConnection()
    with pytest.raises(LocalProtocolError):
        connection.send(event)
    assert connection.data_to_send() == b""


def outcome_of(send, value):
    """What sending ``value`` queues, or the message of the LocalProtocolError it raises."""
    try:
        send(value)
    except LocalProtocolError as exc:
        return str(exc)
    return send.__self__.data_to_send()


@given(line=st.binary(max_size=8) | st.sampled_from([bytearray(b"x"), memoryview(b"y"), "z"]))
@pytest.mark.parametrize("delimiter", [b"\r\n", b"aa", (b"\n", b"\r")])
def test_send_line_is_send_of_a_line_without_the_event(delimiter, line):
    expected = outcome_of(LineConnection(delimiter).send, Line(line))
    assert outcome_of(LineConnection(delimiter).send_line, line) == expected


@given(line=st.binary(max_size=8) | st.sampled_from([bytearray(b"x"), memoryview(b"y"), "z"]))
@pytest.mark.parametrize("delimiter", [b"\r\n", b"aa", (b"\n", b"\r")])
def test_line_bytes_returns_what_send_line_queues_and_queues_nothing(delimiter, line):
    expected = outcome_of(LineConnection(delimiter).send_line, line)
    connection = LineConnection(delimiter)
    try:
        got = connection.line_bytes(line)
    except LocalProtocolError as exc:
        got = str(exc)
    assert got == expected
    assert connection.data_to_send() == b""


# -- construction ------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [b"", (), (b"\n", b""), "\n", (b"\n", "\r")])
def test_bad_delimiters_are_refused(delimiter):
    with pytest.raises(ValueError, match="delimiters"):
        LineConnection(delimiter)


@pytest.mark.parametrize("limits", [{"max_line_length": -1}, {"max_raw_size": -1}])
def test_negative_limits_are_refused(limits):
    with pytest.raises(ValueError, match="negative"):
        LineConnection(**limits)


def test_configuration_is_visible():
    connection = LineConnection([b"\r\n", b"\n"], max_line_length=80)
    assert connection.delimiters == (b"\r\n", b"\n")
    assert connection.max_line_length == 80
    assert LineConnection().delimiters == (b"\r\n",)
    assert connection.mode is Mode.LINES
    assert connection.raw_remaining is None


@pytest.mark.parametrize(
    ("delimiter", "data", "lines"),
    [
        (b"\r\n\r\n", b"x\r\n\r\n\r\ny", [b"x"]),
        (b"aa", b"a" * 11, [b""] * 5),
        (b"aba", b"xabababay", [b"x", b"b"]),
    ],
)
def test_delimiters_that_overlap_themselves_split_leftmost(delimiter, data, lines):
    outcome = assert_split_invariant(lambda: LineConnection(delimiter, max_line_length=5), data)
    assert outcome.events == [*map(Line, lines)]


# -- the lines() fast path ---------------------------------------------------------


def drained_by_lines(connection, chunks, *, eof):
    """Consume with lines(), falling back to next_event() where it stops."""
    events = []
    for chunk in [*chunks, None]:
        if chunk is None:
            if not eof:
                break
            connection.receive_eof()
        else:
            connection.receive_data(chunk)
        while True:
            events += [Line(line) for line in connection.lines()]
            event = connection.next_event()
            if event is NEED_DATA:
                break
            events.append(event)
            if isinstance(event, LinesClosed):
                return events
    return events


@given(
    data=st.binary(max_size=60).map(lambda b: bytes(b"ab\r\nx"[c % 5] for c in b)),
    delimiters=st.sampled_from(DELIMITER_SETS),
    limit=st.integers(0, 8),
    chunks=st.data(),
)
def test_lines_gives_what_next_event_gives(data, delimiters, limit, chunks):
    split = chunks.draw(chunkings(data), label="chunks")
    expected = run(make(delimiters, limit), split, eof=True)
    try:
        got = drained_by_lines(make(delimiters, limit)(), split, eof=True)
    except RemoteProtocolError:
        assert expected.error is not None
    else:
        assert expected.error is None
        assert got == expected.events


def test_lines_stops_for_raw_mode_and_hands_the_rest_over():
    connection = LineConnection()
    connection.receive_data(b"VALUE k 0 3\r\nabc\r\nEND\r\nnext\r\n")
    received = []
    for line in connection.lines():
        received.append(line)
        if line.startswith(b"VALUE"):
            connection.set_raw_mode(5)  # the lines already split go to the block
    assert received == [b"VALUE k 0 3"]
    assert connection.next_event() == RawData(b"abc\r\n", 0)
    assert list(connection.lines()) == [b"END", b"next"]
    assert connection.next_event() is NEED_DATA


def test_lines_stops_at_end_of_stream():
    connection = LineConnection()
    connection.receive_data(b"a\r\nb\r\nc\r\nd")
    connection.receive_eof()
    assert list(connection.lines()) == [b"a", b"b", b"c"]
    assert connection.next_event() == LinesClosed(b"d")
    assert list(connection.lines()) == []


def test_lines_raises_after_the_lines_before_a_long_one():
    connection = LineConnection(max_line_length=3)
    connection.receive_data(b"ok\r\ntoolong\r\n")
    received = []
    with pytest.raises(RemoteProtocolError):
        received.extend(connection.lines())
    assert received == [b"ok"]
    assert connection.receive_state is ReceiveState.ERROR


def test_lines_ready_counts_the_lines_split_and_not_yet_returned() -> None:
    conn = LineConnection(b"\n")
    assert conn.lines_ready == 0
    conn.receive_data(b"a\nb\nc\npartial")
    assert conn.next_event() == Line(b"a")
    assert conn.lines_ready == 2  # b and c came with it
    assert list(itertools.islice(conn.lines(), 1)) == [b"b"]
    assert conn.lines_ready == 1
    conn.set_raw_mode(3)  # the rest goes back to the buffer, verbatim
    assert conn.lines_ready == 0
    assert conn.next_event() == RawData(b"c\np", remaining=0)


def test_lines_ready_is_0_with_several_delimiters() -> None:
    conn = LineConnection((b"\r\n", b"\n"))
    conn.receive_data(b"a\nb\r\nc\n")
    assert conn.next_event() == Line(b"a")
    assert conn.lines_ready == 0  # one line at a time
    assert conn.next_event() == Line(b"b")
