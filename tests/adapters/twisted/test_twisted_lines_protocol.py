"""tidewire_twisted.lines.LineProtocol: the LineReceiver drop-in.

Twisted-only (no shared test covers a Protocol subclass). The same protocol
body runs on Twisted's ``LineReceiver`` and on ``LineProtocol``: where
``LineReceiver`` is right the callbacks must match it; where it is not (an
over-long line, the unterminated last line, a split-dependent limit) they
must follow the one rule, however the bytes are split. Over a
``StringTransport`` the test chooses the chunks exactly; over TCP the peer is
a raw :class:`RawPeer`.
"""

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint, clientFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport
from twisted.protocols.basic import LineOnlyReceiver, LineReceiver
from twisted.python.failure import Failure

from tidewire import LocalProtocolError, RemoteProtocolError
from tidewire.testing import bytewise, random_splits
from tidewire_twisted.lines import LineProtocol


class Recorder:
    """A LineReceiver user's protocol: ``PUT n`` announces n raw bytes; ``SKIP`` drops the rest.

    Mixed into ``LineReceiver`` and ``LineProtocol`` alike; ``log`` records
    every callback, raw data merged (its chunks follow the split, as on
    ``LineReceiver``).
    """

    delimiter = b"\r\n"
    MAX_LENGTH = 20

    def connectionMade(self):
        self.log = []
        self.expected = 0

    def _add(self, kind, data):
        if kind == "raw" and self.log and self.log[-1][0] == "raw":
            self.log[-1] = ("raw", self.log[-1][1] + data)
        else:
            self.log.append((kind, data))

    def lineReceived(self, line):
        self._add("line", line)
        if line.startswith(b"PUT "):
            self.expected = int(line[4:])
            self.setRawMode()
        elif line == b"SKIP":
            self._add("cleared", self.clearLineBuffer())

    def rawDataReceived(self, data):
        take = data[: self.expected]
        self.expected -= len(take)
        self._add("raw", take)
        if not self.expected:
            self.setLineMode(data[len(take) :])

    def lineLengthExceeded(self, line):
        self._add("too long", line)
        return super().lineLengthExceeded(line)

    def connectionLost(self, reason):
        self._add("lost", reason.type)


class Theirs(Recorder, LineReceiver):
    pass


class Ours(Recorder, LineProtocol):
    def partialLineReceived(self, line):
        self._add("tail", line)


def run(protocol_class, chunks, end=True):
    """Feed ``chunks`` to a fresh protocol over a StringTransport; end as TCP does."""
    protocol = protocol_class()
    transport = StringTransport()
    protocol.makeConnection(transport)
    for chunk in chunks:
        protocol.dataReceived(chunk)
    if end:
        if hasattr(protocol, "readConnectionLost"):
            protocol.readConnectionLost()  # a half-closeable protocol hears the peer's end
        protocol.connectionLost(Failure(ConnectionDone()))
    return protocol, transport


GOOD = b"one\r\nPUT 7\r\nab\r\ncd\rtwo\r\n\r\nPUT 0\r\nthree\r\nPUT 3\r\nxyzfour\r\n"
GOOD_LOG = [("line", b"one"), ("line", b"PUT 7"), ("raw", b"ab\r\ncd\r"), ("line", b"two"),
            ("line", b""), ("line", b"PUT 0"), ("raw", b""), ("line", b"three"),
            ("line", b"PUT 3"), ("raw", b"xyz"), ("line", b"four"),
            ("lost", ConnectionDone)]  # fmt: skip


def test_the_callbacks_of_line_receiver_where_it_is_right():
    assert run(Theirs, [GOOD])[0].log == GOOD_LOG
    assert run(Ours, [GOOD])[0].log == GOOD_LOG


def splits(wire):
    yield [wire]
    yield bytewise(wire)
    for i in range(1, len(wire)):
        yield [wire[:i], wire[i:]]
    for n in range(20):
        yield random_splits(wire, n)


# The limit, the tail and clearLineBuffer(), besides lines and raw blocks.
BAD = GOOD + b"SKIP\r\ngone\r\n" + b"x" * 21 + b"\r\nnever\r\n"
BAD_LOG = [*GOOD_LOG[:-1], ("line", b"SKIP")]
TAIL = GOOD + b"PUT 2\r\nhi" + b"y" * 20 + b"\r" + b"\nfive\r\nunterminated\r"
TAIL_LOG = [*GOOD_LOG[:-1], ("line", b"PUT 2"), ("raw", b"hi"), ("line", b"y" * 20),
            ("line", b"five"), ("tail", b"unterminated\r"), ("lost", ConnectionDone)]  # fmt: skip


@pytest.mark.parametrize("chunks", list(splits(GOOD)) + list(splits(TAIL)))
def test_the_same_callbacks_however_the_bytes_are_split(chunks):
    wire = b"".join(chunks)
    assert run(Ours, chunks)[0].log == (GOOD_LOG if wire == GOOD else TAIL_LOG)


@pytest.mark.parametrize("chunks", list(splits(BAD)))
def test_clear_line_buffer_then_an_over_long_line_however_split(chunks):
    # SKIP clears what is buffered after it, so how much depends on the split
    # (as with LineReceiver); what follows it is read as if it came whole.
    protocol, _ = run(Ours, chunks)
    log = protocol.log
    assert log[: len(BAD_LOG)] == BAD_LOG
    cleared = log[len(BAD_LOG)][1]
    rest = BAD[BAD.index(b"SKIP\r\n") + 6 :]
    assert rest.startswith(cleared)
    assert log[len(BAD_LOG) + 1 :] == run(Ours, [rest[len(cleared) :]])[0].log
    if chunks == [BAD]:
        assert cleared == rest  # all of it came with SKIP
    if len(chunks) == len(BAD):  # byte by byte: nothing is buffered after SKIP
        assert cleared == b""
        assert log[-2:] == [("too long", b"x" * 21), ("lost", RemoteProtocolError)]


@pytest.mark.parametrize("chunks", list(splits(b"ok\r\n" + b"z" * 21 + b"\r\nlater\r\n")))
def test_an_over_long_line_closes_with_a_reason_however_split(chunks):
    protocol, transport = run(Ours, chunks, end=False)
    assert protocol.log == [("line", b"ok"), ("too long", b"z" * 21)]
    assert transport.disconnecting  # LineReceiver's default: loseConnection()
    protocol.dataReceived(b"more\r\n")  # what arrives while closing is not parsed
    protocol.connectionLost(Failure(ConnectionDone()))
    assert protocol.log[2:] == [("lost", RemoteProtocolError)]


def test_a_line_of_max_length_is_accepted_and_one_more_byte_is_not():
    # LineOnlyReceiver's limit depends on the split: 20 bytes and a lone b"\r"
    # in one chunk are "too long" for it, though the line is 20 bytes long.
    class TheirLinesOnly(Recorder, LineOnlyReceiver):
        pass

    chunks = [b"y" * 20 + b"\r", b"\n"]
    assert run(TheirLinesOnly, chunks)[0].log[0] == ("too long", b"y" * 20 + b"\r")
    assert run(TheirLinesOnly, [b"".join(chunks)])[0].log[0] == ("line", b"y" * 20)
    assert run(Ours, chunks)[0].log[0] == ("line", b"y" * 20)
    assert run(Ours, [b"y" * 21])[0].log[0] == ("too long", b"y" * 21)
    assert run(Ours, [b"y" * 21 + b"\r\n"])[0].log[0] == ("too long", b"y" * 21)


def test_the_reason_names_the_line_length():
    reasons = []

    class Closing(LineProtocol):
        MAX_LENGTH = 5

        def lineReceived(self, line):
            pass

        def lineLengthExceeded(self, line):
            self.transport.write(b"too long\r\n")
            self.transport.loseConnection()  # its own way: the reason still says why

        def connectionLost(self, reason):  # no super(): LineReceiver users seldom call it
            reasons.append(reason)

    _, transport = run(Closing, [b"abcdefgh\r\n"])
    assert transport.value() == b"too long\r\n"
    [reason] = reasons
    assert reason.check(RemoteProtocolError)
    assert "a line of 8 bytes; max_line_length is 5" in str(reason.value)


def test_the_tail_is_dropped_by_default_and_handed_over_before_connection_lost():
    class Default(Recorder, LineProtocol):
        pass

    assert run(Default, [b"a\r\nb"])[0].log == [("line", b"a"), ("lost", ConnectionDone)]
    # Without readConnectionLost (a transport that cannot say the peer's end
    # alone), an override of connectionLost without super() still comes last.
    assert run(Ours, [b"a\r\nb"], end=False)[0].log == [("line", b"a")]
    protocol, _ = run(Ours, [b"a\r\nb"], end=False)
    protocol.connectionLost(Failure(ConnectionDone()))
    assert protocol.log == [("line", b"a"), ("tail", b"b"), ("lost", ConnectionDone)]


def test_the_tail_as_a_line():
    class AsLine(Recorder, LineProtocol):
        def partialLineReceived(self, line):
            self.lineReceived(line)

    log = run(AsLine, [b"a\r\nlast"])[0].log
    assert log == [("line", b"a"), ("line", b"last"), ("lost", ConnectionDone)]


def test_no_more_lines_once_the_protocol_closes():
    class Quitting(Recorder, LineProtocol):
        def lineReceived(self, line):
            super().lineReceived(line)
            if line == b"QUIT":
                self.transport.loseConnection()

    for protocol_class in (Quitting, type("TheirQuitting", (Quitting, Theirs), {})):
        log = run(protocol_class, [b"a\r\nQUIT\r\nb\r\nc"])[0].log
        assert log == [("line", b"a"), ("line", b"QUIT"), ("lost", ConnectionDone)]


def test_send_line_and_its_check():
    protocol, transport = run(Ours, [], end=False)
    protocol.sendLine(b"hello")
    assert transport.value() == b"hello\r\n"
    with pytest.raises(LocalProtocolError, match="more than one line"):
        protocol.sendLine(b"a\r\nb")  # LineReceiver would send two lines
    assert transport.value() == b"hello\r\n"


def test_tuple_delimiters_and_sending_with_the_first():
    class Either(Ours):
        delimiter = (b"\r\n", b"\n")

    protocol, transport = run(Either, [b"a\nb\r\nc"])
    assert protocol.log == [
        ("line", b"a"),
        ("line", b"b"),
        ("tail", b"c"),
        ("lost", ConnectionDone),
    ]
    protocol.sendLine(b"x")
    assert transport.value() == b"x\r\n"


def test_pause_holds_lines_back_until_resume():
    class Pausing(Ours):
        def lineReceived(self, line):
            super().lineReceived(line)
            if line == b"wait":
                self.pauseProducing()

    protocol, transport = run(Pausing, [b"a\r\nwait\r\nb\r\nc\r\n"], end=False)
    assert protocol.log == [("line", b"a"), ("line", b"wait")]
    assert transport.producerState == "paused"
    protocol.dataReceived(b"d\r\n")
    assert protocol.log[-1] == ("line", b"wait")  # held back, not lost
    protocol.resumeProducing()
    assert protocol.log[2:] == [("line", b"b"), ("line", b"c"), ("line", b"d")]
    assert transport.producerState == "producing"
    protocol.stopProducing()
    assert protocol.paused and transport.producerState == "stopped"


def test_the_end_delivers_what_a_pause_held_back():
    class Pausing(Ours):
        def lineReceived(self, line):
            super().lineReceived(line)
            self.pauseProducing()

    log = run(Pausing, [b"a\r\nb\r\nc"])[0].log
    assert log == [("line", b"a"), ("line", b"b"), ("tail", b"c"), ("lost", ConnectionDone)]


def test_set_line_mode_after_the_end_and_clearing_after_a_failure():
    protocol, _ = run(Ours, [b"PUT 9\r\nabc"])
    protocol.setLineMode()  # nothing more to read: harmless
    with pytest.raises(LocalProtocolError, match="after the peer's end"):
        protocol.setLineMode(b"rest")
    assert protocol.clearLineBuffer() == b""
    failed, _ = run(Ours, [b"z" * 30], end=False)
    assert failed.clearLineBuffer() == b""


def test_raw_mode_set_outside_a_callback_and_clear_in_raw_mode():
    protocol, _ = run(Ours, [], end=False)
    protocol.setRawMode()
    protocol.expected = 100
    protocol.dataReceived(b"x\r\ny")
    assert protocol.log == [("raw", b"x\r\ny")]
    assert protocol.clearLineBuffer() == b""  # raw mode hands everything over at once


def test_the_callbacks_to_override_say_so():
    protocol = LineProtocol()
    protocol.makeConnection(StringTransport())
    with pytest.raises(NotImplementedError, match="lineReceived"):
        protocol.dataReceived(b"a\r\n")
    with pytest.raises(NotImplementedError, match="rawDataReceived"):
        protocol.rawDataReceived(b"a")


def test_many_lines_in_one_chunk():
    """10 MB of short lines in one dataReceived: every line, in order, and the tail."""

    class Counting(LineProtocol):
        delimiter = b"\n"

        def connectionMade(self):
            self.count = 0
            self.last = None

        def lineReceived(self, line):
            self.count += 1
            self.last = line

        def partialLineReceived(self, line):
            self.last = line

    count = 1_250_000
    protocol, _ = run(Counting, [b"1234567\n" * (count - 1) + b"last\nta"])
    assert (protocol.count, protocol.last) == (count, b"ta")


# -- over TCP ---------------------------------------------------------------------------


class Upper(LineProtocol):
    """A server as a LineReceiver user writes it: upper-cases lines, says what ended."""

    MAX_LENGTH = 100
    ended = None

    def lineReceived(self, line):
        self.sendLine(line.upper())

    def partialLineReceived(self, line):
        self.sendLine(b"PARTIAL " + line)

    def connectionLost(self, reason):
        self.factory.ended.callback([reason])  # a Failure as a result would be an error


async def serving(reactor):
    factory = Factory.forProtocol(Upper)
    factory.ended = Deferred()
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    return port, factory


async def client(reactor, tools, port):
    peer = tools.RawPeer()
    endpoint = clientFromString(reactor, f"tcp:127.0.0.1:{port.getHost().port}")
    await endpoint.connect(Factory.forProtocol(lambda: peer))
    await peer.made
    return peer


async def test_over_tcp_the_tail_is_answered_before_the_close(reactor, tools):
    port, factory = await serving(reactor)
    try:
        peer = await client(reactor, tools, port)
        peer.send(b"hello\r\nwor")
        peer.send(b"ld\r\nunterminated")
        peer.send_eof()  # a half-close: the replies still reach the peer
        assert await peer.read_until_eof() == b"HELLO\r\nWORLD\r\nPARTIAL unterminated\r\n"
        [reason] = await factory.ended
        assert reason.check(ConnectionDone)
        await peer.close()
    finally:
        await port.stopListening()


async def test_over_tcp_an_over_long_line_closes_with_a_reason(reactor, tools):
    port, factory = await serving(reactor)
    try:
        peer = await client(reactor, tools, port)
        peer.send(b"fine\r\n" + b"x" * 150_000)  # many reads, no delimiter
        assert await peer.read_until_eof() == b"FINE\r\n"
        [reason] = await factory.ended
        assert reason.check(RemoteProtocolError)
        assert "no delimiter in the first" in str(reason.value)
        await peer.close()
    finally:
        await port.stopListening()


def test_an_override_of_read_connection_lost_keeps_sending_after_the_tail():
    class Lingering(Ours):
        def connectionMade(self):
            super().connectionMade()
            self.delimiter = b"\n"  # per instance, before the first bytes, as LineReceiver allows

        def readConnectionLost(self):  # no super(): the tail still comes first
            self.sendLine(b"goodbye")

    protocol, transport = run(Lingering, [b"a\nb"], end=False)
    protocol.readConnectionLost()
    assert protocol.log == [("line", b"a"), ("tail", b"b")]
    assert transport.value() == b"goodbye\n" and not transport.disconnecting
