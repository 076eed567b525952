"""RFC 6455 sections 5 and 7 after the handshake: framing, messages, control frames, closing."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket_kit import REQUEST, frame, merge_chunks, open_client, open_pair, open_server

from tidewire import NEED_DATA, LocalProtocolError, ReceiveState, RemoteProtocolError
from tidewire.testing import assert_split_invariant, bytewise, run
from tidewire_websocket import (
    BytesChunk,
    BytesMessage,
    CloseConnection,
    Opcode,
    PerMessageDeflate,
    Ping,
    Pong,
    ServerConnection,
    State,
    TextChunk,
    TextMessage,
    WebSocketClosed,
    encode_frame,
)

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


def events_of(connection, data: bytes) -> list:
    connection.receive_data(data)
    return list(connection.events())


def failure(connection, data: bytes) -> tuple[RemoteProtocolError, list]:
    """Feed ``data``; return the error and the events before it."""
    events: list = []
    connection.receive_data(data)
    try:
        while (event := connection.next_event()) is not NEED_DATA:
            events.append(event)
    except RemoteProtocolError as error:
        return error, events
    raise AssertionError(f"accepted: {events}")


def sent_close(connection) -> bytes:
    """The close frame payload a server connection queued (server frames are unmasked)."""
    data = connection.data_to_send()
    assert data[0] == 0x88, data
    return data[2 : 2 + data[1]]


# -- messages (section 5.6) ------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 128, 65535, 65536, 200_000])
def test_single_frame_messages_of_every_length_encoding(size):
    server = open_server(max_message_size=None, max_frame_size=None)
    payload = bytes(range(256)) * (size // 256 + 1)
    payload = payload[:size]
    data = frame(BINARY, payload) + frame(TEXT, b"*" * size)
    assert events_of(server, data) == [BytesMessage(payload), TextMessage("*" * size)]


def test_client_receives_unmasked_frames():
    client = open_client()
    data = frame(TEXT, "héllo".encode(), key=None) + frame(BINARY, b"\x00\xff", key=None)
    assert events_of(client, data) == [TextMessage("héllo"), BytesMessage(b"\x00\xff")]


def test_fragmented_message_with_interleaved_control_frames():
    server = open_server()
    data = (
        frame(TEXT, b"fra", fin=False)
        + frame(PING, b"p1")
        + frame(CONT, b"", fin=False)
        + frame(PONG, b"p2")
        + frame(CONT, b"gment")
    )
    assert events_of(server, data) == [Ping(b"p1"), Pong(b"p2"), TextMessage("fragment")]
    # The pong for the ping went out before anything the application sends later.
    assert server.data_to_send() == encode_frame(PONG, b"p1")


def test_fragmented_binary_and_empty_fragments():
    server = open_server()
    data = frame(BINARY, b"", fin=False) + frame(CONT, b"ab", fin=False) + frame(CONT, b"")
    assert events_of(server, data) == [BytesMessage(b"ab")]


def test_many_tiny_fragments():
    server = open_server()
    text = "ünï" * 300
    raw = text.encode()
    data = frame(TEXT, raw[:1], fin=False)
    data += b"".join(frame(CONT, raw[i : i + 1], fin=False) for i in range(1, len(raw)))
    data += b"".join(frame(CONT, b"", fin=False) for _ in range(1000)) + frame(CONT)
    assert events_of(server, data) == [TextMessage(text)]
    data = b"".join(frame(BINARY if i == 0 else CONT, b"x", fin=False) for i in range(500))
    assert events_of(server, data + frame(CONT)) == [BytesMessage(b"x" * 500)]


def test_streaming_gives_chunks_as_bytes_arrive():
    server = open_server(streaming=True)
    data = frame(TEXT, "aé".encode() * 10, fin=False) + frame(CONT, b"z")
    server.receive_data(data[:9])  # header (6 bytes) and 3 bytes: "aé"
    assert list(server.events()) == [TextChunk("aé")]
    server.receive_data(data[9:])
    events = list(server.events())
    assert merge_chunks([TextChunk("aé"), *events]) == [TextChunk("aé" * 10 + "z", True)]
    assert events[-1].last


def test_streaming_binary_and_empty_last_chunk():
    server = open_server(streaming=True)
    data = frame(BINARY, b"abc", fin=False) + frame(CONT, b"")
    assert events_of(server, data) == [BytesChunk(b"abc"), BytesChunk(b"", True)]
    assert events_of(server, frame(TEXT, b"")) == [TextChunk("", True)]


def test_text_chunk_never_splits_a_character():
    server = open_server(streaming=True)
    data = frame(TEXT, "é".encode())
    server.receive_data(data[:-1])
    assert list(server.events()) == []  # half a character: nothing to give yet
    server.receive_data(data[-1:])
    assert list(server.events()) == [TextChunk("é", True)]


def test_messages_split_invariant():
    data = (
        frame(TEXT, "ünïcode".encode() * 40, fin=False)
        + frame(PING, b"x")
        + frame(CONT, "€".encode() * 30)
        + frame(BINARY, bytes(300))
        + frame(CLOSE, (1000).to_bytes(2, "big") + b"done")
    )
    for streaming in (False, True):
        outcome = assert_split_invariant(
            lambda streaming=streaming: open_server(streaming=streaming),
            data,
            eof=True,
            normalize=merge_chunks,
        )
        assert outcome.error is None
        assert outcome.events[-1] == WebSocketClosed(1000, "done")


@given(st.binary(max_size=300), st.booleans(), st.data())
def test_any_payload_round_trips_whatever_the_split(payload, text, data):
    message = TextMessage(payload.decode("latin-1")) if text else BytesMessage(payload)
    body = message.data.encode() if text else payload
    wire = frame(TEXT if text else BINARY, body)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=5))
    points = sorted(set(cuts))
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert run(open_server, chunks).events == [message]


# -- protocol errors (sections 5.1-5.5) ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (frame(TEXT, b"x", rsv=1), "reserved bits"),
        (frame(TEXT, b"x", rsv=2), "reserved bits"),
        (frame(BINARY, b"x", rsv=4), "reserved bits"),
        (frame(CLOSE, b"", rsv=7), "reserved bits"),
        (frame(PING, b"", rsv=1), "reserved bits"),
        *((frame(op, b""), "reserved opcode") for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)),
        (frame(PING, b"", fin=False), "fragmented control"),
        (frame(PONG, b"", fin=False), "fragmented control"),
        (frame(PING, b"x" * 126), "control frame of 126"),
        (frame(CONT, b"x"), "continuation frame without a message"),
        (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "fragmented message is unfinished"),
        (frame(TEXT, b"a", fin=False) + frame(BINARY, b"b"), "fragmented message is unfinished"),
        (frame(TEXT, b"x", key=None), "unmasked"),
        (frame(BINARY, b"x" * 5, length=126), "non-minimal"),
        (frame(BINARY, b"x" * 200, length=127), "non-minimal"),
        (b"\x82\xff" + (1 << 63).to_bytes(8, "big") + b"KEYS", "non-minimal"),
        (frame(PING, b"x", length=126), "non-minimal"),
    ],
)
def test_protocol_errors_fail_with_1002(data, words):
    server = open_server()
    error, _ = failure(server, data)
    assert error.code == 1002
    assert words in error.message
    assert sent_close(server) == b"\x03\xea"
    assert server.state is State.CLOSED
    assert server.receive_state is ReceiveState.ERROR
    assert server.should_close_transport


def test_client_rejects_masked_frames_and_does_not_close_tcp_first():
    client = open_client()
    error, _ = failure(client, frame(TEXT, b"x"))
    assert error.code == 1002
    assert "masked" in error.message
    data = client.data_to_send()
    assert data[:2] == b"\x88\x82"  # a masked close frame with a 2-byte code
    assert client.state is State.CLOSED
    assert not client.should_close_transport  # the server closes TCP first


def test_continuation_with_rsv1_fails_even_with_deflate():
    server = open_server(deflate=PerMessageDeflate())
    error, _ = failure(server, frame(TEXT, b"", fin=False) + frame(CONT, b"", rsv=4))
    assert error.code == 1002
    error, _ = failure(open_server(deflate=PerMessageDeflate()), frame(TEXT, b"", rsv=2))
    assert error.code == 1002


def test_valid_messages_before_an_error_are_delivered_first():
    # Autobahn 3.2 / 4.1.3 / 5.15: the echo of the valid message must come out.
    server = open_server()
    error, events = failure(server, frame(TEXT, b"ok") + frame(TEXT, b"x", rsv=2) + frame(PING))
    assert events == [TextMessage("ok")]
    assert error.code == 1002
    assert sent_close(server) == b"\x03\xea"  # and no pong for the ping after the bad frame


def test_error_offset_points_at_the_bad_frame():
    server = open_server()
    good = frame(TEXT, b"ok")
    error, _ = failure(server, good + frame(5))
    assert error.offset == len(good) + len(REQUEST)


def test_error_is_terminal_and_later_input_is_ignored():
    server = open_server()
    failure(server, frame(5))
    server.data_to_send()
    server.receive_data(frame(TEXT, b"more"))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1002
    assert server.data_to_send() == b""


def test_protocol_error_after_our_close_sends_no_second_close():
    server = open_server()
    server.send(CloseConnection())
    server.data_to_send()
    error, _ = failure(server, frame(5))
    assert error.code == 1002
    assert server.data_to_send() == b""


# -- UTF-8 (sections 5.6 and 8.1) -----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        b"\xc0\xaf",
        b"\xe0\x80\xaf",
        b"\xf4\x90\x80\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\xff",
        b"\xed\xbf\xbf",
        b"\xce",  # truncated at the end of the message
    ],
)
def test_invalid_utf8_fails_with_1007(bad):
    for data in (frame(TEXT, bad), frame(TEXT, bad[:1], fin=False) + frame(CONT, bad[1:])):
        for chunks in ([data], bytewise(data)):
            outcome = run(open_server, chunks)
            assert outcome.error is not None
            assert outcome.error.code == 1007
            assert outcome.events == []


# Markus Kuhn's decoder stress test, the source of Autobahn's cases 6.5 to 6.23.
KUHN_INVALID = [
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xf7\xbf\xbf\xbf",
    b"\xf8\x88\x80\x80\x80",  # 5-byte form
    b"\xfc\x84\x80\x80\x80\x80",  # 6-byte form
    b"\x80",  # lonely continuation bytes
    b"\xbf",
    b"\x80\xbf\x80",
    b"\xc0 ",  # lonely start bytes followed by a space
    b"\xe0 ",
    b"\xf0 ",
    b"\xc0",  # sequences missing their last byte
    b"\xe0\x80",
    b"\xf0\x80\x80",
    b"\xdf",
    b"\xef\xbf",
    b"\xf7\xbf\xbf",
    b"\xfe",
    b"\xff",
    b"\xfe\xfe\xff\xff",
    b"\xc0\xaf",  # overlong forms of "/"
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xc1\xbf",  # largest overlongs
    b"\xe0\x9f\xbf",
    b"\xf0\x8f\xbf\xbf",
    b"\xed\xa0\x80",  # UTF-16 surrogates
    b"\xed\xad\xbf",
    b"\xed\xbf\xbf",
    b"\xed\xa0\x80\xed\xb0\x80",
]


@pytest.mark.parametrize("bad", KUHN_INVALID)
def test_kuhn_invalid_sequences_fail_with_1007(bad):
    for data in (
        frame(TEXT, b"ok " + bad + b" ok"),
        frame(TEXT, b"ok", fin=False) + frame(CONT, bad),
    ):
        outcome = run(open_server, bytewise(data))
        assert outcome.error is not None
        assert outcome.error.code == 1007
        whole = run(open_server, [data])
        assert whole.error is not None
        assert whole.error.code == 1007


@pytest.mark.parametrize(
    "valid",
    [
        "κόσμε",
        "\U0010ffff",
        "\ufffe\uffff",  # noncharacters are valid UTF-8
        "\U0001fffe\U0010fffe",
        "a\x00b",
        "𝄞" * 50,
        "\x80\u0800\U00010000",  # the first of each length
        "\x7f\u07ff\uffff",  # the last of each length
        "\ud7ff\ue000\ufffd",  # around the surrogates
    ],
)
def test_valid_utf8_split_anywhere(valid):
    data = frame(TEXT, valid.encode()[:3], fin=False) + frame(CONT, valid.encode()[3:])
    outcome = assert_split_invariant(open_server, data)
    assert outcome.events == [TextMessage(valid)]


def test_utf8_fails_fast_inside_one_frame():
    # Autobahn 6.4.3: the bad bytes arrive before the rest of the frame.
    server = open_server()
    data = frame(TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited")
    server.receive_data(data[:20])
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1007
    assert sent_close(server) == b"\x03\xef"


def test_utf8_fails_fast_on_a_surrogate_prefix():
    # CPython's decoder alone waits for a third byte after ED A0; we do not.
    server = open_server()
    data = frame(TEXT, b"ab\xed\xa0\x80cd")
    server.receive_data(data[: 6 + 4])
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1007


def test_utf8_fails_fast_across_fragments():
    # Autobahn 6.4.1: the first fragment is already invalid.
    server = open_server()
    server.receive_data(frame(TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80", fin=False))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1007


# -- ping and pong (sections 5.5.2 and 5.5.3) --------------------------------------------------


def test_pings_are_answered_with_identical_payloads():
    server = open_server()
    payloads = [b"", b"x" * 125, bytes(range(10))]
    data = b"".join(frame(PING, p) for p in payloads)
    assert events_of(server, data) == [Ping(p) for p in payloads]
    assert server.data_to_send() == b"".join(encode_frame(PONG, p) for p in payloads)


def test_auto_pong_can_be_disabled():
    server = open_server(auto_pong=False)
    assert events_of(server, frame(PING, b"x")) == [Ping(b"x")]
    assert server.data_to_send() == b""
    server.send(Pong(b"x"))
    assert server.data_to_send() == encode_frame(PONG, b"x")


def test_ping_flood_queues_a_bounded_number_of_pongs():
    server = open_server(max_queued_pongs=3)
    data = b"".join(frame(PING, str(i).encode()) for i in range(1000))
    assert len(events_of(server, data)) == 1000
    out = server.data_to_send()
    # Three pongs, then only the latest ping is answered (RFC 6455 section 5.5.3).
    expected = [b"0", b"1", b"2", b"999"]
    assert out == b"".join(encode_frame(PONG, p) for p in expected)
    # A new round starts after each drain.
    events_of(server, frame(PING, b"a") + frame(PING, b"b"))
    assert server.data_to_send() == encode_frame(PONG, b"a") + encode_frame(PONG, b"b")


def test_deferred_pong_is_dropped_once_we_closed():
    server = open_server(max_queued_pongs=0)
    events_of(server, frame(PING, b"late"))
    server.send(CloseConnection())
    assert server.data_to_send() == encode_frame(CLOSE, b"\x03\xe8")


def test_no_pong_after_we_sent_close():
    server = open_server()
    server.send(CloseConnection())
    server.data_to_send()
    assert events_of(server, frame(PING, b"x")) == [Ping(b"x")]
    assert server.data_to_send() == b""


def test_pong_events_for_our_pings():
    client, _, pair = open_pair()
    client.send(Ping(b"hello"))
    to_client, to_server = pair.pump()
    assert to_server == [Ping(b"hello")]
    assert to_client == [Pong(b"hello")]


# -- closing (sections 5.5.1, 7) -----------------------------------------------------------


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


VALID_CODES = [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_valid_close_codes_are_echoed(code):
    server = open_server()
    assert events_of(server, frame(CLOSE, close_payload(code, b"why"))) == [
        CloseConnection(code, "why")
    ]
    assert sent_close(server) == close_payload(code)
    assert server.state is State.CLOSED
    assert server.should_close_transport


@pytest.mark.parametrize("code", INVALID_CODES)
def test_invalid_close_codes_fail_with_1002(code):
    server = open_server()
    error, _ = failure(server, frame(CLOSE, close_payload(code)))
    assert error.code == 1002
    assert sent_close(server) == b"\x03\xea"


def test_close_payload_rules():
    server = open_server()
    assert events_of(server, frame(CLOSE)) == [CloseConnection(1005, "")]
    assert sent_close(server) == b""  # an empty close is echoed empty
    error, _ = failure(open_server(), frame(CLOSE, b"\x03"))
    assert error.code == 1002
    error, _ = failure(open_server(), frame(CLOSE, close_payload(1000, b"\xce\xba\xff")))
    assert error.code == 1007
    reason = "é" * 61 + "a"  # 123 bytes: the longest reason
    assert events_of(open_server(), frame(CLOSE, close_payload(1000, reason.encode()))) == [
        CloseConnection(1000, reason)
    ]


def test_data_after_close_is_ignored():
    # Autobahn 7.1.2-7.1.4: nothing after the peer's close frame is processed.
    server = open_server()
    data = frame(CLOSE, close_payload(1000)) + frame(TEXT, b"after") + frame(PING) + frame(5)
    assert events_of(server, data) == [CloseConnection(1000, "")]
    server.receive_data(b"garbage")
    assert server.next_event() is NEED_DATA
    server.receive_eof()
    assert server.next_event() == WebSocketClosed(1000, "")
    assert server.data_to_send() == encode_frame(CLOSE, close_payload(1000))


def test_close_inside_a_fragmented_message():
    # Autobahn 7.1.5: echo the close (1000), not a protocol error.
    server = open_server()
    data = frame(TEXT, b"fragment1", fin=False) + frame(CLOSE, close_payload(1000)) + frame(CONT)
    assert events_of(server, data) == [CloseConnection(1000, "")]
    assert sent_close(server) == close_payload(1000)


def test_we_close_first():
    client, server, pair = open_pair()
    server.send(CloseConnection(1001, "going away"))
    assert server.state is State.LOCAL_CLOSING
    assert not server.should_close_transport
    to_client, to_server = pair.pump()
    assert to_client == [CloseConnection(1001, "going away")]
    assert to_server == [CloseConnection(1001, "")]
    assert client.state is State.CLOSED
    assert server.state is State.CLOSED
    assert server.should_close_transport  # the server closes TCP first
    assert not client.should_close_transport
    to_client, _ = pair.close(server)
    assert to_client == [WebSocketClosed(1001, "going away")]
    assert client.should_close_transport


def test_auto_close_off_lets_the_application_answer():
    client, server, pair = open_pair(auto_close=False)
    client.send(CloseConnection(4000, "bye"))
    _, to_server = pair.pump()
    assert to_server == [CloseConnection(4000, "bye")]
    assert server.state is State.REMOTE_CLOSING
    server.send(TextMessage("last words"))  # still allowed before our close
    server.send(CloseConnection(1000))
    assert server.state is State.CLOSED
    to_client, _ = pair.pump()
    assert to_client == [TextMessage("last words"), CloseConnection(1000, "")]
    assert client.state is State.CLOSED


def test_eof_without_close_is_1006():
    server = open_server()
    server.receive_data(frame(TEXT, b"ok") + frame(TEXT, b"partial")[:5])
    server.receive_eof()
    assert list(server.events()) == [TextMessage("ok"), WebSocketClosed(1006, "")]
    assert server.state is State.CLOSED
    assert server.should_close_transport
    assert WebSocketClosed().code == 1006


# -- limits --------------------------------------------------------------------------------


def test_frame_size_limit_fails_on_the_header():
    server = open_server(max_frame_size=100)
    data = frame(BINARY, b"x" * 101)
    server.receive_data(data[:8])  # just the header and key
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1009
    assert sent_close(server) == b"\x03\xf1"


def test_message_size_limit_counts_fragments():
    server = open_server(max_message_size=10, max_frame_size=None)
    assert events_of(server, frame(BINARY, b"x" * 10)) == [BytesMessage(b"x" * 10)]
    error, _ = failure(server, frame(TEXT, b"x" * 6, fin=False) + frame(CONT, b"x" * 5))
    assert error.code == 1009


def test_huge_length_is_refused_before_any_payload():
    server = open_server()
    server.receive_data(b"\x82\xff" + (1 << 62).to_bytes(8, "big") + b"KEYS")
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.code == 1009


def test_limits_can_be_disabled():
    server = open_server(max_frame_size=None, max_message_size=None)
    payload = b"y" * (2 * 1024 * 1024)
    assert events_of(server, frame(BINARY, payload)) == [BytesMessage(payload)]


def test_limits_hold_in_streaming_mode():
    server = open_server(streaming=True, max_message_size=10)
    error, events = failure(server, frame(BINARY, b"x" * 8, fin=False) + frame(CONT, b"x" * 8))
    assert error.code == 1009
    assert events == [BytesChunk(b"x" * 8)]


def test_handshake_wait_buffer_cap():
    # Bytes the client sends before the server answers are held, up to max_buffer_size.
    server = ServerConnection(max_buffer_size=200)
    server.receive_data(REQUEST)
    server.next_event()
    server.receive_data(b"x" * 201)
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")


# -- permessage-deflate receiving (RFC 7692 section 7.2) ---------------------------------------


def deflate(data: bytes, wbits: int = -15) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def test_compressed_messages_are_inflated():
    body = "compress me " * 100
    wire = deflate(body.encode())
    data = (
        frame(TEXT, wire, rsv=4)
        + frame(BINARY, wire[:10], rsv=4, fin=False)
        + frame(CONT, wire[10:])
        + frame(BINARY, b"plain")
    )
    outcome = assert_split_invariant(lambda: open_server(deflate=PerMessageDeflate()), data)
    assert outcome.events == [
        TextMessage(body),
        BytesMessage(body.encode()),
        BytesMessage(b"plain"),
    ]


def test_decompression_bomb_is_stopped_at_the_limit():
    limit = 100_000
    server = open_server(deflate=PerMessageDeflate(), max_message_size=limit)
    wire = deflate(bytes(50 * 1024 * 1024))  # about 50 KB of wire, 50 MiB inflated
    assert len(wire) < 60_000
    error, _ = failure(server, frame(BINARY, wire, rsv=4))
    assert error.code == 1009
    assert sent_close(server) == b"\x03\xf1"


def test_decompressed_size_exactly_at_the_limit():
    server = open_server(deflate=PerMessageDeflate(), max_message_size=1000)
    wire = deflate(b"a" * 1000)
    assert events_of(server, frame(BINARY, wire, rsv=4)) == [BytesMessage(b"a" * 1000)]
    error, _ = failure(server, frame(BINARY, deflate(b"a" * 1001), rsv=4))
    assert error.code == 1009


def test_compressed_streaming_without_limit():
    server = open_server(deflate=PerMessageDeflate(), streaming=True, max_message_size=None)
    wire = deflate(b"z" * 5000)
    events = events_of(server, frame(BINARY, wire, rsv=4))
    assert merge_chunks(events) == [BytesChunk(b"z" * 5000, True)]


def test_corrupt_compressed_data_fails_with_1002():
    server = open_server(deflate=PerMessageDeflate())
    error, _ = failure(server, frame(BINARY, b"\xff\xff\xff\xff", rsv=4))
    assert error.code == 1002
    assert "compressed" in error.message


def test_data_after_a_final_deflate_block_fails():
    compressor = zlib.compressobj(wbits=-15)
    final = compressor.compress(b"end") + compressor.flush(zlib.Z_FINISH)
    server = open_server(deflate=PerMessageDeflate())
    # A message ending with a BFINAL block is fine (RFC 7692 section 7.2.3.4) ...
    assert events_of(server, frame(BINARY, final, rsv=4)) == [BytesMessage(b"end")]
    # ... and the next message starts a new stream.
    assert events_of(server, frame(BINARY, deflate(b"next"), rsv=4)) == [BytesMessage(b"next")]
    # Bytes after the end of the stream inside one message are refused.
    error, _ = failure(server, frame(BINARY, final + b"\x00", rsv=4))
    assert error.code == 1002


def test_compressed_invalid_utf8_fails_with_1007():
    server = open_server(deflate=PerMessageDeflate())
    error, _ = failure(server, frame(TEXT, deflate(b"ok\xff"), rsv=4))
    assert error.code == 1007


# -- sending -------------------------------------------------------------------------------


def test_server_frames_are_unmasked_and_minimal():
    server = open_server()
    server.send(TextMessage("hi"))
    server.send(BytesMessage(b"x" * 126))
    server.send(Ping(b"p"))
    server.send(Pong())
    assert server.data_to_send() == (
        b"\x81\x02hi" + b"\x82\x7e\x00\x7e" + b"x" * 126 + b"\x89\x01p" + b"\x8a\x00"
    )


def test_client_frames_are_masked_with_fresh_keys():
    client, server, _ = open_pair()
    for _ in range(1100):  # more keys than one pool of random bytes holds
        client.send(BytesMessage(b"\x00" * 8))
    data = client.data_to_send()
    keys = {data[i + 2 : i + 6] for i in range(0, len(data), 14)}
    assert len(keys) > 1000
    assert all(data[i + 1] == 0x88 for i in range(0, len(data), 14))
    server.receive_data(data)
    assert list(server.events()) == [BytesMessage(b"\x00" * 8)] * 1100


def test_sending_fragmented_messages():
    client, _, pair = open_pair()
    client.send(TextChunk("Hel"))
    client.send(Ping(b"between"))
    client.send(TextChunk("lo", last=True))
    client.send(BytesChunk(b"a"))
    client.send(BytesChunk(b"b", last=True))
    _, to_server = pair.pump()
    assert to_server == [Ping(b"between"), TextMessage("Hello"), BytesMessage(b"ab")]


@pytest.mark.parametrize(
    ("first", "bad"),
    [
        (TextChunk("a"), TextMessage("b")),
        (TextChunk("a"), BytesChunk(b"b")),
        (BytesChunk(b"a"), TextChunk("b")),
        (None, TextMessage(b"bytes")),  # type: ignore[arg-type]
        (None, TextMessage("\ud800")),
        (None, BytesMessage("text")),  # type: ignore[arg-type]
        (None, Ping(b"x" * 126)),
        (None, Pong("text")),  # type: ignore[arg-type]
        (None, CloseConnection(1006)),
        (None, CloseConnection(999)),
        (None, CloseConnection("1000")),  # type: ignore[arg-type]
        (None, CloseConnection(1000, b"bytes")),  # type: ignore[arg-type]
        (None, CloseConnection(1005, "reason")),
        (None, CloseConnection(1000, "x" * 124)),
        (None, CloseConnection(1000, "\udc80")),
    ],
)
def test_invalid_sends_change_nothing(first, bad):
    server = open_server()
    if first is not None:
        server.send(first)
    before = server.data_to_send()
    with pytest.raises(LocalProtocolError) as info:
        server.send(bad)
    assert info.value.message
    assert server.data_to_send() == b""
    assert server.state is State.OPEN
    assert before or first is None


def test_close_without_code_and_sending_after_close():
    server = open_server()
    server.send(CloseConnection(1005))
    assert server.data_to_send() == b"\x88\x00"
    for event in (TextMessage("x"), Ping(), CloseConnection()):
        with pytest.raises(LocalProtocolError):
            server.send(event)


def test_sending_compressed_and_uncompressed_messages():
    client, server, pair = open_pair(deflate=PerMessageDeflate())
    client.send(TextMessage("a" * 1000))
    data = client.data_to_send()
    assert data[0] == 0xC1 and len(data) < 100  # RSV1: compressed
    server.receive_data(data)
    client.send(TextMessage("b" * 1000, compress=False))
    data = client.data_to_send()
    assert data[0] == 0x81 and len(data) > 1000
    server.receive_data(data)
    client.send(BytesChunk(b"c" * 500, compress=False))
    client.send(BytesChunk(b"c" * 500, last=True))  # read on the first chunk only
    client.send(TextChunk("d" * 500))
    client.send(TextChunk("", last=True))
    client.send(BytesMessage(b""))
    _, to_server = pair.pump()
    assert [len(e.data) for e in list(server.events()) + to_server] == [1000, 1000, 1000, 500, 0]


@pytest.mark.parametrize(
    "config",
    [
        PerMessageDeflate(client_no_context_takeover=True, server_no_context_takeover=True),
        PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=9),
        PerMessageDeflate(),
    ],
)
def test_compressed_conversation_both_ways(config):
    client, server, pair = open_pair(deflate=config)
    messages = [TextMessage("hello " * i) for i in range(0, 60, 7)]
    for message in messages:
        client.send(message)
        server.send(message)
    to_client, to_server = pair.pump()
    assert to_client == messages
    assert to_server == messages


def test_receive_data_after_eof_is_refused_but_state_is_public():
    client, server, _ = open_pair()
    assert client.subprotocol is None
    assert client.extensions == ()
    server.receive_eof()
    assert list(server.events()) == [WebSocketClosed()]
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"x")


messages = st.lists(
    st.one_of(
        st.builds(TextMessage, st.text(max_size=300), st.booleans()),
        st.builds(BytesMessage, st.binary(max_size=300), st.booleans()),
        st.lists(st.text(max_size=50), min_size=1, max_size=4).map(
            lambda parts: [TextChunk(p) for p in parts[:-1]] + [TextChunk(parts[-1], True)]
        ),
        st.builds(Ping, st.binary(max_size=125)),
    ),
    max_size=12,
)


@given(messages, st.sampled_from([None, PerMessageDeflate(), PerMessageDeflate(True, True, 9, 9)]))
def test_random_conversations_round_trip(sent, config):
    client, server, pair = open_pair(deflate=config)
    expected = []
    for item in sent:
        for event in item if isinstance(item, list) else [item]:
            client.send(event)
            server.send(event)
        if isinstance(item, list):
            expected.append(TextMessage("".join(chunk.data for chunk in item)))
        elif isinstance(item, Ping):
            expected.append(item)
        else:
            expected.append(type(item)(item.data))
    to_client, to_server = pair.pump()
    pongs = [Pong(event.payload) for event in expected if isinstance(event, Ping)]
    assert [e for e in to_server if not isinstance(e, Pong)] == expected
    assert [e for e in to_client if isinstance(e, Pong)] == pongs
