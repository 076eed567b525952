"""permessage-deflate (RFC 7692): negotiation rules and the compression state."""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest
from websocket_kit import open_client, open_pair

from tidewire_websocket import BytesMessage, ExtensionOffer, PerMessageDeflate, TextMessage
from tidewire_websocket.deflate import (
    EXTENSION_NAME,
    Deflate,
    NegotiationError,
    accept_offer,
    check_config,
    format_extension,
    offer_for,
    response_matches,
)


def offer(*params: tuple[str, str | None]) -> ExtensionOffer:
    return ExtensionOffer(EXTENSION_NAME, tuple(params))


def test_check_config():
    check_config(PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=15))
    # RFC 7692 allows 8 bits, but zlib cannot compress with them, on either side.
    for name in ("server_max_window_bits", "client_max_window_bits"):
        with pytest.raises(NegotiationError, match=f"{name} must be an int from 9 to 15"):
            check_config(PerMessageDeflate(**{name: 8}))
    for bad in (7, 16, "9", True):
        with pytest.raises(NegotiationError, match="9 to 15"):
            check_config(PerMessageDeflate(server_max_window_bits=bad))
    for bad in (0, 10, 5.0, None):
        with pytest.raises(NegotiationError, match="1 to 9"):
            check_config(PerMessageDeflate(memory_level=bad))


def test_offers():
    assert format_extension(offer_for(PerMessageDeflate())) == (
        "permessage-deflate; client_max_window_bits"
    )
    everything = PerMessageDeflate(True, True, 10, 11)
    assert format_extension(offer_for(everything)) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
        " server_max_window_bits=10; client_max_window_bits=11"
    )


S12 = ("server_max_window_bits", "12")  # a server's default window, always stated


@pytest.mark.parametrize(
    ("config", "params", "response", "agreed"),
    [
        (PerMessageDeflate(), (), (S12,), PerMessageDeflate(server_max_window_bits=12)),
        (
            PerMessageDeflate(),
            (("server_no_context_takeover", None), ("client_no_context_takeover", None)),
            (("server_no_context_takeover", None), ("client_no_context_takeover", None), S12),
            PerMessageDeflate(True, True, 12),
        ),
        (
            PerMessageDeflate(True, True),
            (),
            (("server_no_context_takeover", None), ("client_no_context_takeover", None), S12),
            PerMessageDeflate(True, True, 12),
        ),
        (
            PerMessageDeflate(server_max_window_bits=12),
            (("server_max_window_bits", "10"),),
            (("server_max_window_bits", "10"),),
            PerMessageDeflate(server_max_window_bits=10),
        ),
        (
            PerMessageDeflate(server_max_window_bits=9),
            (),
            (("server_max_window_bits", "9"),),
            PerMessageDeflate(server_max_window_bits=9),
        ),
        (
            PerMessageDeflate(),
            (("client_max_window_bits", None),),
            (S12, ("client_max_window_bits", "12")),
            PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12),
        ),
        (
            PerMessageDeflate(client_max_window_bits=9),
            (("client_max_window_bits", None),),
            (S12, ("client_max_window_bits", "9")),
            PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=9),
        ),
        (
            PerMessageDeflate(client_max_window_bits=12),
            (("client_max_window_bits", "10"),),
            (S12, ("client_max_window_bits", "10")),
            PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=10),
        ),
        (
            PerMessageDeflate(),
            (("client_max_window_bits", "11"),),
            (S12, ("client_max_window_bits", "11")),
            PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=11),
        ),
        (
            PerMessageDeflate(client_max_window_bits=9),
            (),
            (S12,),
            PerMessageDeflate(server_max_window_bits=12),
        ),
        # The best ratio, at eight times the memory: 15-bit windows, asked for.
        (
            PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=15, memory_level=8),
            (("client_max_window_bits", None),),
            (("server_max_window_bits", "15"), ("client_max_window_bits", "15")),
            PerMessageDeflate(False, False, 15, 15, 8),
        ),
    ],
)
def test_accept_offer(config, params, response, agreed):
    element, result = accept_offer(config, offer(*params))
    assert element == offer(*response)
    assert result == agreed


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ((("server_max_window_bits", "8"),), "8-bit window"),
        ((("server_max_window_bits", None),), "needs a value"),
        ((("server_max_window_bits", "16"),), "8 to 15"),
        ((("client_max_window_bits", "x"),), "8 to 15"),
        ((("client_max_window_bits", "٩"),), "8 to 15"),
        ((("server_no_context_takeover", "1"),), "takes no value"),
        ((("client_no_context_takeover", None),) * 2, "repeated"),
        ((("mystery", None),), "unknown parameter"),
    ],
)
def test_unacceptable_offers(params, words):
    with pytest.raises(NegotiationError, match=words):
        accept_offer(PerMessageDeflate(), offer(*params))


def test_response_matches():
    plain = PerMessageDeflate()
    assert response_matches([plain], offer()) == plain
    assert response_matches(
        [PerMessageDeflate(client_max_window_bits=12)],
        offer(("server_no_context_takeover", None), ("client_no_context_takeover", None)),
    ) == PerMessageDeflate(True, True, None, 12)
    assert response_matches(
        [PerMessageDeflate(server_max_window_bits=9), plain],
        offer(("server_max_window_bits", "12")),
    ) == PerMessageDeflate(server_max_window_bits=12)


@pytest.mark.parametrize(
    ("offers", "params", "words"),
    [
        ([PerMessageDeflate(server_no_context_takeover=True)], (), "not accepted"),
        (
            [PerMessageDeflate(server_max_window_bits=10)],
            (("server_max_window_bits", "11"),),
            "larger",
        ),
        (
            [PerMessageDeflate(client_max_window_bits=10)],
            (("client_max_window_bits", "11"),),
            "larger",
        ),
        ([PerMessageDeflate()], (("client_max_window_bits", "8"),), "8-bit"),
        ([PerMessageDeflate()], (("client_max_window_bits", None),), "needs a value"),
    ],
)
def test_responses_that_match_no_offer(offers, params, words):
    with pytest.raises(NegotiationError, match=words):
        response_matches(offers, offer(*params))


def round_trip(sender: Deflate, receiver: Deflate, message: bytes, pieces: int = 1) -> bytes:
    step = max(1, len(message) // pieces)
    parts = [message[i : i + step] for i in range(0, len(message), step)] or [b""]
    wire = [sender.compress(p, last=i == len(parts) - 1) for i, p in enumerate(parts)]
    receiver.start_message()
    out = [receiver.decompress(w, None, last=i == len(wire) - 1) for i, w in enumerate(wire)]
    return b"".join(out)


@pytest.mark.parametrize("agreed", [PerMessageDeflate(), PerMessageDeflate(True, True, 9, 9)])
def test_compress_decompress(agreed):
    client = Deflate(agreed, client=True)
    server = Deflate(agreed, client=False)
    for message in [b"", b"hello" * 100, bytes(range(256)) * 10, b"hello" * 100]:
        assert round_trip(client, server, message, pieces=3) == message
        assert round_trip(server, client, message) == message


def test_context_takeover_shrinks_repeated_messages():
    kept = Deflate(PerMessageDeflate(), client=False)
    reset = Deflate(PerMessageDeflate(server_no_context_takeover=True), client=False)
    message = bytes(range(256)) * 4
    for deflate in (kept, reset):
        deflate.compress(message, last=True)
    assert len(kept.compress(message, last=True)) < len(reset.compress(message, last=True))


def test_decompress_is_bounded():
    deflate = Deflate(PerMessageDeflate(), client=True)
    compressor = zlib.compressobj(wbits=-15)
    wire = compressor.compress(bytes(10**6)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    deflate.start_message()
    assert len(deflate.decompress(wire[:-4], 1000, last=True)) == 1001


# -- memory per connection (issue 12, item 13) ----------------------------------------------


def repeated_noise() -> bytes:
    """8 KiB of noise twice: only a window over 8 KiB sees the repeat."""
    noise = random.Random(13).randbytes(8192)
    return noise + noise


def test_default_windows_are_12_bits_both_ways():
    client, server, pair = open_pair(deflate=PerMessageDeflate())
    assert server.extensions == (PerMessageDeflate(False, False, 12, 12),)
    assert client.extensions == server.extensions
    for sender in (client, server):
        sender.send(BytesMessage(repeated_noise()))
        assert len(sender.data_to_send()) > 16_000  # the repeat is out of sight
    big = PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=15)
    client, server, pair = open_pair(deflate=big)
    assert server.extensions == (PerMessageDeflate(False, False, 15, 15),)
    for sender in (client, server):
        sender.send(BytesMessage(repeated_noise()))
        assert len(sender.data_to_send()) < 9_000
    client, server, pair = open_pair(deflate=PerMessageDeflate())
    client.send(BytesMessage(repeated_noise()))
    assert pair.pump() == ([], [BytesMessage(repeated_noise())])


def test_a_client_compresses_with_12_bits_when_the_server_leaves_it_free():
    client = open_client(deflate=PerMessageDeflate(), max_message_size=None)
    assert client.extensions[0].client_max_window_bits == 12
    # A server that says nothing about the client's window (as websockets'
    # does when configured so) leaves the client free: it still uses 12 bits.
    deflate = Deflate(PerMessageDeflate(), client=True)
    assert len(deflate.compress(repeated_noise(), last=True)) > 16_000
    assert (
        len(
            Deflate(PerMessageDeflate(None, None, None, 15), client=True).compress(
                repeated_noise(), last=True
            )
        )
        < 9_000
    )


def zlib_memory(config: PerMessageDeflate) -> int:
    """Bytes a server's zlib streams hold after one compressed message each way."""
    client, server, _ = open_pair(deflate=config)
    client.send(TextMessage("hello " * 100))
    data = client.data_to_send()  # the client's compressor is not counted
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        server.receive_data(data)
        list(server.events())
        server.send(TextMessage("hello " * 100))
        server.data_to_send()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_compression_memory_per_connection_is_websockets_size():
    # zlib allocates through PyMem_RawMalloc, which tracemalloc sees. With
    # websockets' defaults (12-bit windows, memLevel 5) a server holds about
    # 32 KiB to compress and 11 KiB to inflate; zlib's own defaults, 295 KiB.
    default = zlib_memory(PerMessageDeflate())
    assert default < 64 * 1024
    largest = zlib_memory(
        PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=15, memory_level=8)
    )
    assert largest > 256 * 1024
