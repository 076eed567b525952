"""Bad compressed input (issue 12, items 2 and 10): only RemoteProtocolError, whatever the split.

Corrupt deflate data fails with 1002, as websockets does; inflated text that
is not UTF-8 fails with 1007; an inflated message over the limit with 1009.
Which of these comes first, and the offset reported, must not depend on how
the network split the input: compressed payload is inflated in blocks
counted from each frame's start, never in the pieces that arrived.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websocket_kit import frame, merge_chunks, open_pair

from tidewire import RemoteProtocolError
from tidewire.testing import bytewise, chunkings, random_splits, run
from tidewire_websocket import (
    BytesChunk,
    BytesMessage,
    ClientConnection,
    CloseConnection,
    Opcode,
    PerMessageDeflate,
    State,
    TextChunk,
    WebSocketConnection,
)

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
KEY = b"\x01\x02\x03\x04"


def deflate(data: bytes, wbits: int = -15) -> bytes:
    compressor = zlib.compressobj(wbits=wbits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def stored(data: bytes) -> bytes:
    """A non-final stored deflate block: its bytes inflate as they arrive."""
    size = len(data).to_bytes(2, "little")
    return b"\x00" + size + bytes(b ^ 0xFF for b in size) + data


def receiver(role: str, config: PerMessageDeflate, **options: Any) -> WebSocketConnection:
    """A connection of ``role`` that negotiated ``config`` with a peer of ours."""
    client, server, _ = open_pair(deflate=config, **options)
    client.data_to_send()
    server.data_to_send()
    return server if role == "server" else client


def outcome_key(connection_factory: Any, chunks: list[bytes], *, streaming: bool) -> tuple:
    """Events (chunks merged), and the error's class, code and offset."""
    outcome = run(connection_factory, chunks, eof=True)
    events = outcome.events
    if streaming:
        events = merge_chunks(events)
        if events and isinstance(events[-1], TextChunk | BytesChunk) and not events[-1].last:
            events.pop()  # how much of a failed message was streamed depends on the split
    error = outcome.error
    return events, None if error is None else (type(error), error.code, error.offset)


def assert_same_outcome(factory: Any, data: bytes, *, streaming: bool = False, extra=()) -> tuple:
    whole = outcome_key(factory, [data], streaming=streaming)
    splits = [bytewise(data), *(random_splits(data, seed) for seed in range(4)), *extra]
    for chunks in splits:
        assert outcome_key(factory, chunks, streaming=streaming) == whole, chunks
    return whole


def failure(connection: WebSocketConnection, data: bytes) -> RemoteProtocolError:
    connection.receive_data(data)
    try:
        list(connection.events())
    except RemoteProtocolError as error:
        return error
    raise AssertionError("the input was accepted")


def close_code_sent(connection: WebSocketConnection) -> int:
    """The code of the close frame ``connection`` queued, read by a peer of ours."""
    out = connection.data_to_send()
    if isinstance(connection, ClientConnection):
        peer: WebSocketConnection = receiver("server", PerMessageDeflate())
    else:
        peer = receiver("client", PerMessageDeflate())
    peer.receive_data(out)
    events = list(peer.events())
    assert isinstance(events[-1], CloseConnection), events
    return events[-1].code


# -- item 2: zlib.error never escapes -----------------------------------------------------


def test_corrupt_block_revealed_by_the_tail_fails_with_1002():
    # The frame of the issue: one byte of a block whose code lengths are
    # invalid, which zlib only notices when the 00 00 ff ff tail is added.
    server = receiver("server", PerMessageDeflate())
    error = failure(server, bytes.fromhex("c281000000002 5".replace(" ", "")))
    assert (error.code, error.offset) == (1002, stream_offset("server") + 6)
    assert "compressed" in error.message
    assert server.state is State.CLOSED
    assert close_code_sent(server) == 1002
    assert server.should_close_transport


def test_corrupt_block_fails_the_client_too():
    client = receiver("client", PerMessageDeflate())
    error = failure(client, b"\xc1\x01\x25")
    assert (error.code, error.offset) == (1002, stream_offset("client") + 2)
    assert client.state is State.CLOSED
    assert close_code_sent(client) == 1002


def test_corrupt_tail_of_a_fragmented_message():
    server = receiver("server", PerMessageDeflate())
    data = frame(BINARY, deflate(b"hello"), rsv=4, fin=False, key=KEY) + frame(
        CONT, b"\x25", key=KEY
    )
    error = failure(server, data)
    assert (error.code, error.offset) == (1002, stream_offset("server") + len(data) - 1)
    assert close_code_sent(server) == 1002


def test_corrupt_message_after_a_final_block():
    # A stream ended by a BFINAL block, then a corrupt one in the next message.
    compressor = zlib.compressobj(wbits=-15)
    final = compressor.compress(b"end") + compressor.flush(zlib.Z_FINISH)
    server = receiver("server", PerMessageDeflate())
    data = frame(BINARY, final, rsv=4, key=KEY) + frame(BINARY, b"\x25", rsv=4, key=KEY)
    events, error = assert_same_outcome(lambda: receiver("server", PerMessageDeflate()), data)
    assert events == [BytesMessage(b"end")]
    assert error[:2] == (RemoteProtocolError, 1002)
    assert failure(server, data).code == 1002


# -- item 10: the same error and offset however the input is split --------------------------


def test_invalid_text_before_a_corrupt_block_is_split_invariant():
    # Fed whole, zlib meets the corrupt block before any text is checked;
    # fed byte by byte, the stored block inflated first and failed UTF-8.
    # Inflating by blocks counted from the frame's start gives one answer.
    payload = stored(b"ok \xff\xfe") + b"\xff\xff\xff"
    data = frame(TEXT, payload, rsv=4, key=KEY)
    events, error = assert_same_outcome(lambda: receiver("server", PerMessageDeflate()), data)
    assert events == []
    assert error[:2] == (RemoteProtocolError, 1002)


def stream_offset(role: str) -> int:
    """Where a fresh receiver's first frame starts in its stream (after the handshake)."""
    connection = receiver(role, PerMessageDeflate())
    # The wrong masking bit fails at the frame's first byte.
    return failure(connection, b"\x81\x00" if role == "server" else b"\x81\x80xxxx").offset


def test_compressed_error_offset_is_the_block_start():
    head = frame(BINARY, deflate(b"fine"), rsv=4, key=KEY)
    bad = frame(TEXT, stored(b"\xff"), rsv=4, key=KEY)
    for streaming in (False, True):
        events, error = assert_same_outcome(
            lambda streaming=streaming: receiver(
                "server", PerMessageDeflate(), streaming=streaming
            ),
            head + bad,
            streaming=streaming,
        )
        assert events[0] in (BytesMessage(b"fine"), BytesChunk(b"fine", True))
        # The compressed payload of the bad frame, after its 2-byte header and key.
        assert error == (RemoteProtocolError, 1007, stream_offset("server") + len(head) + 6)


def test_large_compressed_message_fails_at_the_same_block_however_split():
    # Valid text for the first 64 KiB inflate block, invalid in the second,
    # and a corrupt block in the third that a whole feed must not report first.
    noise = random.Random(7).randbytes(80_000).translate(bytes(range(128, 256)) * 2)
    payload = (
        stored(b"a" * 60_000)
        + stored(b"a" * 10_000 + noise[:50_000])  # invalid from payload byte 70_010
        + stored(noise[50_000:])
        + b"\xff\xff"
    )
    data = frame(TEXT, payload, rsv=4, key=KEY)
    head = len(data) - len(payload)
    for streaming in (False, True):
        _events, error = assert_same_outcome(
            lambda streaming=streaming: receiver(
                "server", PerMessageDeflate(), streaming=streaming, max_message_size=None
            ),
            data,
            streaming=streaming,
            extra=[[data[:17_000], data[17_000:]], [data[:65_540], data[65_540:]]],
        )
        assert error == (RemoteProtocolError, 1007, stream_offset("server") + head + 65536)


def test_fragmented_text_error_offset_is_split_invariant():
    # Uncompressed: the offset is that of the first byte of the invalid
    # sequence (the 0xce that 0xff does not continue), however split.
    first = frame(TEXT, b"abc", fin=False, key=KEY)
    data = first + frame(CONT, b"de\xce\xff", key=KEY)
    _events, error = assert_same_outcome(lambda: receiver("server", PerMessageDeflate()), data)
    assert error == (RemoteProtocolError, 1007, stream_offset("server") + len(first) + 6 + 2)


def test_sequence_begun_in_an_earlier_frame_points_at_the_frame():
    first = frame(TEXT, b"ab\xe2", fin=False, key=KEY)
    data = first + frame(CONT, b"\x82\xff", key=KEY)
    _events, error = assert_same_outcome(lambda: receiver("server", PerMessageDeflate()), data)
    assert error == (RemoteProtocolError, 1007, stream_offset("server") + len(first) + 6)


# -- fuzzing: mutated compressed traffic -------------------------------------------------------

configs = st.builds(
    PerMessageDeflate,
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, 9, 10, 12, 15]),
    st.sampled_from([None, 9, 11, 15]),
)
texts = st.text(st.characters(codec="utf-8"), max_size=40)
messages = st.lists(
    st.tuples(
        st.one_of(texts, st.binary(max_size=60)),
        st.integers(1, 3),  # fragments
        st.booleans(),  # compressed
    ),
    min_size=1,
    max_size=4,
)
_fuzz = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def traffic(role: str, config: PerMessageDeflate, sent: list[tuple[Any, int, bool]]) -> bytes:
    """What a peer of ours sends ``role`` for ``sent``, compressed as negotiated."""
    client, server, _ = open_pair(deflate=config)
    peer = client if role == "server" else server
    peer.data_to_send()
    for data, fragments, compress in sent:
        step = max(1, -(-len(data) // fragments))
        pieces = [data[i : i + step] for i in range(0, len(data), step)] or [data[:0]]
        kind = TextChunk if isinstance(data, str) else BytesChunk
        for index, piece in enumerate(pieces):
            peer.send(kind(piece, last=index == len(pieces) - 1, compress=compress))
    return peer.data_to_send()


def mutate(data: bytes, draw: st.DataObject) -> bytes:
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4), label="mutations")):
        where = draw.draw(st.integers(0, len(mutated)), label="where")
        action = draw.draw(st.sampled_from(["flip", "insert", "delete"]), label="action")
        if action == "insert" or not mutated:
            mutated[where:where] = draw.draw(st.binary(min_size=1, max_size=8), label="bytes")
        elif action == "flip":
            mutated[min(where, len(mutated) - 1)] ^= draw.draw(st.integers(1, 255), label="mask")
        else:
            del mutated[where : where + draw.draw(st.integers(1, 8), label="count")]
    return bytes(mutated)


def check_failed_state(factory: Any, data: bytes) -> None:
    """After an error the connection is CLOSED and the owed close frame is queued."""
    connection = factory()
    connection.data_to_send()
    connection.receive_data(data)
    events: list[Any] = []
    try:
        events.extend(connection.events())
    except RemoteProtocolError as error:
        assert connection.state is State.CLOSED
        out = connection.data_to_send()
        if not any(isinstance(event, CloseConnection) for event in events):
            assert out, "no close frame was queued"
            assert close_code_sent_bytes(connection, out) == error.code


def close_code_sent_bytes(connection: WebSocketConnection, out: bytes) -> int:
    peer = receiver(
        "server" if isinstance(connection, ClientConnection) else "client", PerMessageDeflate()
    )
    peer.receive_data(out)
    closes = [event for event in peer.events() if isinstance(event, CloseConnection)]
    return closes[-1].code


@_fuzz
@given(st.sampled_from(["server", "client"]), configs, messages, st.booleans(), st.data())
def test_fuzz_mutated_compressed_traffic_only_raises_remote_errors(
    role, config, sent, streaming, data
):
    wire = mutate(traffic(role, config, sent), data)

    def factory():
        return receiver(role, config, streaming=streaming, max_message_size=200)

    whole = outcome_key(factory, [wire], streaming=streaming)
    assert outcome_key(factory, bytewise(wire), streaming=streaming) == whole
    chunks = data.draw(chunkings(wire), label="chunks")
    assert outcome_key(factory, chunks, streaming=streaming) == whole
    check_failed_state(factory, wire)


payloads = st.one_of(
    st.binary(max_size=12),  # random: mostly corrupt deflate data
    st.binary(max_size=80).map(deflate),  # valid
    st.tuples(st.binary(max_size=80), st.binary(min_size=1, max_size=6)).map(
        lambda pair: deflate(pair[0]) + pair[1]  # valid, then garbage
    ),
    st.tuples(st.binary(max_size=40), st.binary(max_size=6)).map(
        lambda pair: stored(pair[0]) + pair[1]  # inflates at once, then anything
    ),
)


@_fuzz
@given(
    st.sampled_from(["server", "client"]),
    configs,
    st.lists(
        st.tuples(st.sampled_from([TEXT, BINARY]), payloads, st.integers(1, 3)),
        min_size=1,
        max_size=3,
    ),
    st.booleans(),
    st.data(),
)
def test_fuzz_compressed_frames_with_bad_payloads(role, config, messages, streaming, data):
    key = KEY if role == "server" else None
    wire = b""
    for opcode, payload, fragments in messages:
        step = max(1, -(-len(payload) // fragments))
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            wire += frame(
                CONT if index else opcode, piece, fin=last, rsv=0 if index else 4, key=key
            )

    def factory():
        return receiver(role, config, streaming=streaming, max_message_size=100)

    whole = outcome_key(factory, [wire], streaming=streaming)
    assert outcome_key(factory, bytewise(wire), streaming=streaming) == whole
    chunks = data.draw(chunkings(wire), label="chunks")
    assert outcome_key(factory, chunks, streaming=streaming) == whole
    check_failed_state(factory, wire)
