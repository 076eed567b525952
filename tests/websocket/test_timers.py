"""Time as an input: keepalive, closing deadlines, timed pings, abandoning a connection."""

from __future__ import annotations

import pytest
from websocket_kit import frame, open_client, open_pair, open_server

from tidewire import NEED_DATA, LocalProtocolError, ReceiveState, RemoteProtocolError
from tidewire.testing import FakeClock
from tidewire_websocket import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    CloseConnection,
    Opcode,
    Ping,
    Pong,
    ServerConnection,
    State,
    TextMessage,
    WebSocketClosed,
)

START = 1_000_000.0  # far from 0, to catch a core reading another clock


def sent_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked frame in ``data`` (what a server sends)."""
    frames = []
    while data:
        size = data[1] & 0x7F
        frames.append((data[0] & 0x0F, data[2 : 2 + size]))
        data = data[2 + size :]
    return frames


def fire(connection, clock: FakeClock) -> None:
    """Move the clock to the connection's deadline and call handle_timer()."""
    deadline = connection.get_timer()
    assert deadline is not None
    clock.advance(deadline - clock.now)
    connection.handle_timer(clock.now)


def test_no_clock_no_timers():
    server = open_server()
    assert server.get_timer() is None
    server.send(Ping(b"x"))
    server.handle_timer(START)
    server.receive_data(frame(Opcode.PONG, b"x"))
    assert server.next_event() == Pong(b"x")  # nothing answered: no clock to time it
    assert server.get_timer() is None


def test_defaults_are_the_documented_ones():
    assert (DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, DEFAULT_CLOSE_TIMEOUT) == (20, 20, 10)


@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout", "close_timeout"])
@pytest.mark.parametrize("value", [0, -1.0])
def test_durations_must_be_positive(name, value):
    with pytest.raises(ValueError, match=name):
        ServerConnection(**{name: value})


def test_keepalive_pings_every_interval_while_answered():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=5, ping_timeout=2)
    assert server.get_timer() == START + 5
    server.handle_timer(START + 4.9)  # early: nothing
    assert server.data_to_send() == b""
    fire(server, clock)
    [(opcode, payload)] = sent_frames(server.data_to_send())
    assert opcode == Opcode.PING.value and len(payload) == 4
    assert server.get_timer() == START + 5 + 2  # the pong's deadline
    server.handle_timer(clock.now)  # again at the same time: nothing more
    assert server.data_to_send() == b""
    clock.advance(1)
    server.receive_data(frame(Opcode.PONG, payload))
    assert server.next_event() == Pong(payload)  # the keepalive is the core's own
    assert server.get_timer() == START + 6 + 5  # the next ping, an interval after the pong
    fire(server, clock)
    assert sent_frames(server.data_to_send())[0][0] == Opcode.PING.value


def test_keepalive_without_a_timeout_waits_for_ever():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=5, ping_timeout=None)
    fire(server, clock)
    assert server.data_to_send()
    assert server.get_timer() is None


def test_no_keepalive_without_an_interval():
    server = open_server(clock=FakeClock(START), ping_interval=None)
    assert server.get_timer() is None


def test_keepalive_timeout_fails_with_1011_and_abandons():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=5, ping_timeout=2)
    fire(server, clock)
    server.data_to_send()
    fire(server, clock)
    [(opcode, payload)] = sent_frames(server.data_to_send())
    assert opcode == Opcode.CLOSE.value
    assert payload == b"\x03\xf3keepalive ping timeout"
    assert server.state is State.CLOSED
    assert server.should_abort_transport and server.should_close_transport
    assert (server.close_code, server.close_reason) == (1006, "")
    assert server.get_timer() is None
    server.receive_data(frame(Opcode.TEXT, b"late"))  # ignored, not an error
    assert server.next_event() == WebSocketClosed(1006)
    assert server.receive_state is ReceiveState.CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(TextMessage("no"))


def test_a_pong_answers_every_earlier_ping_with_its_round_trip():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=None)
    server.send(Ping(b"a"))
    clock.advance(1)
    server.send(Ping(b"b"))
    clock.advance(1)
    server.send(Ping(b"c"))
    clock.advance(0.5)
    server.receive_data(frame(Opcode.PONG, b"b") + frame(Opcode.PONG, b"b"))
    assert server.next_event() == Pong(b"b", ((b"a", 2.5), (b"b", 1.5)))
    assert server.next_event() == Pong(b"b")  # answered already
    server.receive_data(frame(Opcode.PONG, b"c"))
    assert server.next_event() == Pong(b"c", ((b"c", 0.5),))


def test_an_application_pong_answers_the_keepalive_too():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=5, ping_timeout=2)
    fire(server, clock)
    server.data_to_send()
    server.send(Ping(b"mine"))
    clock.advance(1)
    server.receive_data(frame(Opcode.PONG, b"mine"))
    assert server.next_event() == Pong(b"mine", ((b"mine", 1.0),))
    assert server.get_timer() == clock.now + 5  # the keepalive was answered


def test_a_ping_payload_cannot_wait_twice():
    server = open_server(clock=FakeClock(START))
    server.send(Ping(b"x"))
    server.data_to_send()
    with pytest.raises(LocalProtocolError, match="already waiting"):
        server.send(Ping(b"x"))
    assert server.data_to_send() == b""


def test_close_timeout_abandons_a_silent_peer():
    clock = FakeClock(START)
    server = open_server(clock=clock, close_timeout=3)
    server.send(CloseConnection(1000))
    server.data_to_send()
    assert server.state is State.LOCAL_CLOSING
    assert server.get_timer() == START + 3  # keepalive stopped, closing deadline started
    fire(server, clock)
    assert server.data_to_send() == b""
    assert server.should_abort_transport
    assert server.close_code == 1006
    assert server.next_event() == WebSocketClosed(1006)


def test_the_peers_close_in_time_stops_the_deadline_on_a_server():
    clock = FakeClock(START)
    server = open_server(clock=clock, close_timeout=3)
    server.send(CloseConnection(1000))
    server.receive_data(frame(Opcode.CLOSE, b"\x03\xe8"))
    assert server.next_event() == CloseConnection(1000)
    assert server.get_timer() is None
    assert server.should_close_transport and not server.should_abort_transport
    assert server.close_code == 1000


def test_a_client_waits_close_timeout_for_the_server_to_close_tcp():
    clock = FakeClock(START)
    client = open_client(clock=clock, close_timeout=3)
    client.receive_data(frame(Opcode.CLOSE, b"\x03\xe9bye", key=None))
    assert client.next_event() == CloseConnection(1001, "bye")
    assert client.data_to_send()[:1] == b"\x88"  # the echo
    assert not client.should_close_transport
    assert client.get_timer() == START + 3
    fire(client, clock)
    assert client.should_abort_transport and client.should_close_transport
    assert (client.close_code, client.close_reason) == (1001, "bye")  # kept
    assert client.next_event() == WebSocketClosed(1001, "bye")


def test_a_client_that_sees_tcp_close_in_time_has_no_deadline_left():
    clock = FakeClock(START)
    client = open_client(clock=clock, close_timeout=3)
    client.send(CloseConnection(1000))
    client.receive_data(frame(Opcode.CLOSE, b"\x03\xe8", key=None))
    client.next_event()
    assert client.get_timer() == START + 3
    client.receive_eof()
    assert client.next_event() == WebSocketClosed(1000)
    assert client.get_timer() is None
    assert not client.should_abort_transport


def test_remote_closing_stops_the_keepalive():
    clock = FakeClock(START)
    server = open_server(clock=clock, auto_close=False)
    server.receive_data(frame(Opcode.CLOSE, b"\x03\xe8"))
    server.next_event()
    assert server.state is State.REMOTE_CLOSING
    assert server.get_timer() is None
    server.send(CloseConnection(1000))
    assert server.state is State.CLOSED


def test_end_of_file_without_a_close_frame_is_1006():
    server = open_server(clock=FakeClock(START))
    server.receive_eof()
    assert server.next_event() == WebSocketClosed()
    assert (server.close_code, server.get_timer()) == (1006, None)


def test_fail_sends_a_close_frame_and_abandons():
    server = open_server(clock=FakeClock(START))
    with pytest.raises(LocalProtocolError):
        server.fail(1006)
    assert server.state is State.OPEN
    server.fail(1011, "gave up")
    assert sent_frames(server.data_to_send()) == [(Opcode.CLOSE.value, b"\x03\xf3gave up")]
    assert server.should_close_transport and not server.should_abort_transport
    assert server.close_code == 1006
    assert server.next_event() == WebSocketClosed()
    server.fail()  # again: nothing more to send
    assert server.data_to_send() == b""


def test_fail_after_a_protocol_error_keeps_its_code():
    server = open_server()
    server.receive_data(frame(Opcode.TEXT, b"\xff"))
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    server.fail()
    assert sent_frames(server.data_to_send()) == [(Opcode.CLOSE.value, b"\x03\xef")]
    assert server.close_code == 1007
    assert server.receive_state is ReceiveState.ERROR


def test_close_code_is_none_while_open_and_the_peers_after():
    client, server, pair = open_pair()
    assert client.close_code is None
    client.send(CloseConnection(4000, "done"))
    pair.pump()
    assert (server.close_code, server.close_reason) == (4000, "done")
    assert (client.close_code, client.close_reason) == (4000, "")  # the echo has no reason
    assert server.next_event() is NEED_DATA


# -- the close frame owed after a protocol error comes after the answers ----------------

T, B, CONT, PING = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING
AUTOBAHN_SHAPES = {  # a valid message, then bad frames (Autobahn|Testsuite cases)
    "3.2": frame(T, b"Hello") + frame(T, b"Hello", rsv=2) + frame(PING, b"Hello"),
    "3.3": frame(T, b"Hello") + frame(T, b"Hello", rsv=3) + frame(PING, b"Hello"),
    "3.4": frame(T, b"Hello") + frame(T, b"Hello", rsv=4) + frame(PING, b"Hello"),
    "4.1.3": frame(T, b"Hello") + frame(3, b"") + frame(PING, b""),
    "4.1.4": frame(T, b"Hello") + frame(4, b"reserved") + frame(PING, b""),
    "4.1.5": frame(T, b"Hello") + frame(5, b"\xff" * 125) + frame(PING, b""),
    "4.2.3": frame(T, b"Hello") + frame(0xB, b"") + frame(PING, b""),
    "4.2.4": frame(T, b"Hello") + frame(0xC, b"reserved") + frame(PING, b""),
    "4.2.5": frame(T, b"Hello") + frame(0xD, b"\xff" * 125) + frame(PING, b""),
    "5.15": frame(T, b"frag1", fin=False)
    + frame(CONT, b"frag2")
    + frame(CONT, b"frag3", fin=False)
    + frame(CONT, b"frag4"),
}


def answer_then_fail(chunks: list[bytes]) -> tuple[list, int, bytes]:
    """Feed ``chunks``; answer every message only after the error, as a busy application would."""
    server = open_server()
    events: list = []
    code = 0
    for chunk in chunks:
        server.receive_data(chunk)
        try:
            while (event := server.next_event()) is not NEED_DATA:
                events.append(event)
        except RemoteProtocolError as error:
            code = error.code
            break
    assert server.state is State.CLOSED and server.can_send
    for event in events:
        if isinstance(event, TextMessage):
            server.send(event)  # the echo
    out = server.data_to_send()
    assert not server.can_send
    with pytest.raises(LocalProtocolError):
        server.send(TextMessage("too late"))
    return events, code, out


@pytest.mark.parametrize("case", sorted(AUTOBAHN_SHAPES))
def test_answers_to_messages_before_an_error_go_before_its_close_frame(case):
    data = AUTOBAHN_SHAPES[case]
    whole = answer_then_fail([data])
    events, code, out = whole
    assert code == 1002
    texts = [event for event in events if isinstance(event, TextMessage)]
    assert texts == [TextMessage("frag1frag2" if case == "5.15" else "Hello")]
    frames = sent_frames(out)
    assert frames[0] == (Opcode.TEXT.value, texts[0].data.encode())
    assert frames[-1] == (Opcode.CLOSE.value, b"\x03\xea")
    first_bad = len(
        frame(T, b"frag1", fin=False) + frame(CONT, b"frag2")
        if case == "5.15"
        else frame(T, b"Hello")
    )
    for chunks in (
        [data[:first_bad], data[first_bad:]],
        [data[i : i + 1] for i in range(len(data))],
    ):
        assert answer_then_fail(chunks) == whole


def test_a_keepalive_pong_while_closing_schedules_no_ping():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=5, close_timeout=3)
    fire(server, clock)
    [(_, payload)] = sent_frames(server.data_to_send())
    server.send(CloseConnection(1000))
    server.receive_data(frame(Opcode.PONG, payload))
    assert server.next_event() == Pong(payload)
    assert server.get_timer() == clock.now + 3  # still the closing deadline only


def test_an_empty_ping_is_timed_too():
    clock = FakeClock(START)
    server = open_server(clock=clock, ping_interval=None)
    server.send(Ping(b""))
    clock.advance(2)
    server.receive_data(frame(Opcode.PONG, b""))
    assert server.next_event() == Pong(b"", ((b"", 2.0),))


def held_failure(**options):
    """A server holding the failure of a valid message followed by a bad frame."""
    server = open_server(hold_failures=True, **options)
    server.receive_data(AUTOBAHN_SHAPES["4.1.3"])
    assert server.next_event() == TextMessage("Hello")
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    return server


def test_a_held_failure_waits_for_release():
    server = held_failure()
    assert server.data_to_send() == b""  # held: the answer may go first
    server.send(TextMessage("Hello"))
    assert sent_frames(server.data_to_send()) == [(Opcode.TEXT.value, b"Hello")]
    assert server.can_send and server.get_timer() is None  # no clock, no deadline
    server.release_failure()
    assert sent_frames(server.data_to_send()) == [(Opcode.CLOSE.value, b"\x03\xea")]
    assert not server.can_send
    server.release_failure()  # again: nothing
    assert server.data_to_send() == b""


def test_a_held_failure_is_released_after_close_timeout():
    clock = FakeClock(START)
    server = held_failure(clock=clock, close_timeout=3)
    assert server.get_timer() == START + 3
    fire(server, clock)
    assert server.get_timer() is None
    assert sent_frames(server.data_to_send()) == [(Opcode.CLOSE.value, b"\x03\xea")]
    assert not server.should_abort_transport


def test_fail_releases_a_held_failure():
    server = held_failure()
    server.fail()
    assert sent_frames(server.data_to_send()) == [(Opcode.CLOSE.value, b"\x03\xea")]
    assert server.close_code == 1002


def test_open_timeout_abandons_a_slow_handshake():
    clock = FakeClock(START)
    server = ServerConnection(clock=clock, open_timeout=2)
    assert server.get_timer() == START + 2
    server.receive_data(b"GET / HTTP/1.1\r\n")
    assert server.next_event() is NEED_DATA
    fire(server, clock)
    assert server.should_abort_transport and server.state is State.CLOSED
    assert server.next_event() == WebSocketClosed()
    assert server.close_code == 1006


def test_the_handshake_in_time_ends_the_open_timeout():
    clock = FakeClock(START)
    server = open_server(clock=clock, open_timeout=2, ping_interval=None)
    assert server.get_timer() is None
    client = open_client(clock=clock, open_timeout=2, ping_interval=7)
    assert client.get_timer() == START + 7
