"""permessage-deflate (RFC 7692): negotiation and per-connection compression state.

The :class:`~tidewire_websocket.PerMessageDeflate` event is configuration;
the state that must not be shared between connections (the zlib streams)
lives in a :class:`Deflate` that each connection builds for itself when the
handshake succeeds.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from tidewire import describe

from .events import ExtensionOffer, PerMessageDeflate

__all__ = [
    "DEFAULT_WINDOW_BITS",
    "EXTENSION_NAME",
    "Deflate",
    "NegotiationError",
    "accept_offer",
    "check_config",
    "format_extension",
    "offer_for",
    "response_matches",
]

EXTENSION_NAME = "permessage-deflate"
"""The extension token of RFC 7692."""

DEFAULT_WINDOW_BITS = 12
"""The window this side compresses with, and a server asks of the client, unless told otherwise.

websockets' default: 4 KiB windows, an eighth of zlib's 32 KiB in memory.
"""

_TAIL = b"\x00\x00\xff\xff"  # the empty stored block that ends every flushed message


class NegotiationError(ValueError):
    """An extension offer or response that cannot be accepted; the message says why."""


def format_extension(offer: ExtensionOffer) -> str:
    """Render one ``Sec-WebSocket-Extensions`` element: ``name; param; param=value``."""
    parts = [offer.name]
    for name, value in offer.params:
        parts.append(name if value is None else f"{name}={value}")
    return "; ".join(parts)


def check_config(config: PerMessageDeflate) -> None:
    """Raise :class:`NegotiationError` if ``config`` could not be honoured.

    Window sizes must be 9 to 15 bits. RFC 7692 allows 8, but zlib cannot
    compress with an 8-bit window, so neither this side nor a zlib-based
    peer (nearly all of them) could honour it: asking the peer for 8 bits
    would only make it refuse the handshake.
    """
    for name, flag in (
        ("server_no_context_takeover", config.server_no_context_takeover),
        ("client_no_context_takeover", config.client_no_context_takeover),
    ):
        if type(flag) is not bool:
            raise NegotiationError(f"{name} must be a bool, not {describe(flag)}")
    for name, bits in (
        ("server_max_window_bits", config.server_max_window_bits),
        ("client_max_window_bits", config.client_max_window_bits),
    ):
        if bits is not None and (type(bits) is not int or not 9 <= bits <= 15):
            raise NegotiationError(
                f"{name} must be an int from 9 to 15 (zlib cannot compress with an 8-bit"
                f" window), not {describe(bits)}"
            )
    level = config.memory_level
    if type(level) is not int or not 1 <= level <= 9:
        raise NegotiationError(f"memory_level must be an int from 1 to 9, not {describe(level)}")


def offer_for(config: PerMessageDeflate) -> ExtensionOffer:
    """The client's offer for ``config`` (RFC 7692 section 7.1)."""
    params: list[tuple[str, str | None]] = []
    if config.server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if config.client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    if config.server_max_window_bits is not None:
        params.append(("server_max_window_bits", str(config.server_max_window_bits)))
    bits = config.client_max_window_bits
    # Offered even without a value: it tells the server it may limit our window.
    params.append(("client_max_window_bits", None if bits is None else str(bits)))
    return ExtensionOffer(EXTENSION_NAME, tuple(params))


def _window_bits(name: str, value: str | None, *, optional: bool) -> int | None:
    if value is None:
        if optional:
            return None
        raise NegotiationError(f"{name} needs a value")
    if not (value.isdigit() and value.isascii() and len(value) <= 2 and 8 <= int(value) <= 15):
        raise NegotiationError(f"{name} must be an integer from 8 to 15, not {value!r}")
    return int(value)


def _parse_params(offer: ExtensionOffer, *, offer_side: bool) -> dict[str, int | bool | None]:
    """Read permessage-deflate parameters; unknown, repeated or malformed ones raise.

    ``client_max_window_bits`` may lack a value only in an offer; there it is
    returned as ``True``.
    """
    seen: dict[str, int | bool | None] = {}
    for name, value in offer.params:
        if name in seen:
            raise NegotiationError(f"parameter {name} is repeated")
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"parameter {name} takes no value")
            seen[name] = True
        elif name == "server_max_window_bits":
            seen[name] = _window_bits(name, value, optional=False)
        elif name == "client_max_window_bits":
            bits = _window_bits(name, value, optional=offer_side)
            seen[name] = True if bits is None else bits
        else:
            raise NegotiationError(f"unknown parameter {name}")
    return seen


def accept_offer(
    config: PerMessageDeflate, offer: ExtensionOffer
) -> tuple[ExtensionOffer, PerMessageDeflate]:
    """As a server with ``config``, accept one client offer: (response element, agreed).

    Raises:
        NegotiationError: the offer is malformed or cannot be honoured (for
            example it asks the server to compress with an 8-bit window).
    """
    params = _parse_params(offer, offer_side=True)
    server_nct = bool(params.get("server_no_context_takeover")) or config.server_no_context_takeover
    client_nct = bool(params.get("client_no_context_takeover")) or config.client_no_context_takeover
    # The server may always lower its own window, and says so, which lets the
    # client inflate with less memory; an offered value is a ceiling.
    offered_server = params.get("server_max_window_bits")
    assert offered_server is None or type(offered_server) is int
    server_bits = min(offered_server or 15, config.server_max_window_bits or DEFAULT_WINDOW_BITS)
    if server_bits == 8:
        raise NegotiationError("the offer asks the server to compress with an 8-bit window")
    # client_max_window_bits may appear in the response only if it was offered.
    offered = params.get("client_max_window_bits")
    client_bits: int | None = None
    if offered is not None:
        ceiling = 15 if offered is True else int(offered)
        client_bits = min(ceiling, config.client_max_window_bits or DEFAULT_WINDOW_BITS)
    agreed = PerMessageDeflate(
        server_nct, client_nct, server_bits, client_bits, config.memory_level
    )
    return _response_for(agreed), agreed


def _response_for(agreed: PerMessageDeflate) -> ExtensionOffer:
    params: list[tuple[str, str | None]] = []
    if agreed.server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if agreed.client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    # A server always states its window: the client may then inflate with less memory.
    params.append(("server_max_window_bits", str(agreed.server_max_window_bits)))
    if agreed.client_max_window_bits is not None:
        params.append(("client_max_window_bits", str(agreed.client_max_window_bits)))
    return ExtensionOffer(EXTENSION_NAME, tuple(params))


def response_matches(
    offers: Sequence[PerMessageDeflate], response: ExtensionOffer
) -> PerMessageDeflate:
    """As a client that made ``offers``, check the server's response; return what was agreed.

    The response must be a valid answer to at least one offer: its
    parameters well formed, ``server_no_context_takeover`` present if
    offered, ``server_max_window_bits`` no larger than offered,
    ``client_max_window_bits`` only if offered, no larger than offered, and
    not 8 (which zlib cannot compress with).

    Raises:
        NegotiationError: no offer matches; the message says why.
    """
    params = _parse_params(response, offer_side=False)
    server_bits = params.get("server_max_window_bits")
    client_bits = params.get("client_max_window_bits")
    assert server_bits is None or type(server_bits) is int
    assert client_bits is None or type(client_bits) is int
    if client_bits == 8:
        raise NegotiationError("the server asks the client to compress with an 8-bit window")
    reasons = []
    for config in offers:
        if config.server_no_context_takeover and "server_no_context_takeover" not in params:
            reasons.append("server_no_context_takeover was offered but not accepted")
        elif server_bits is not None and server_bits > (config.server_max_window_bits or 15):
            reasons.append("server_max_window_bits is larger than offered")
        elif client_bits is not None and client_bits > (config.client_max_window_bits or 15):
            reasons.append("client_max_window_bits is larger than offered")
        else:
            return PerMessageDeflate(
                "server_no_context_takeover" in params,
                "client_no_context_takeover" in params,
                server_bits,
                client_bits if client_bits is not None else config.client_max_window_bits,
                config.memory_level,
            )
    raise NegotiationError("; ".join(reasons))


class Deflate:
    """The compression state of one connection, for agreed permessage-deflate parameters.

    It compresses with this side's agreed window (:data:`DEFAULT_WINDOW_BITS`
    if none was agreed) and ``memory_level``, and inflates with the peer's
    agreed window (15 bits if none was; at least 9, since zlib may have
    turned a peer's 8 into 9). Both zlib streams are made when first needed
    and dropped after each message without context takeover.

    Args:
        agreed: The negotiated parameters.
        client: Whether this side is the client (it compresses with the
            ``client_*`` parameters and decompresses with the ``server_*``).
    """

    __slots__ = (
        "_compressor",
        "_decompressor",
        "_inflate_bits",
        "_inflate_reset",
        "_level",
        "_reset",
        "_wbits",
    )

    def __init__(self, agreed: PerMessageDeflate, *, client: bool) -> None:
        if client:
            bits, peer_bits = agreed.client_max_window_bits, agreed.server_max_window_bits
            self._reset = agreed.client_no_context_takeover
            self._inflate_reset = agreed.server_no_context_takeover
        else:
            bits, peer_bits = agreed.server_max_window_bits, agreed.client_max_window_bits
            self._reset = agreed.server_no_context_takeover
            self._inflate_reset = agreed.client_no_context_takeover
        self._wbits = -(bits or DEFAULT_WINDOW_BITS)
        self._inflate_bits = -max(9, peer_bits or 15)
        self._level = agreed.memory_level
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    def compress(self, data: bytes, *, last: bool) -> bytes:
        """Compress one frame's worth of a message; ``last`` ends the message.

        Each frame is sync-flushed so the peer can inflate it at once; the
        final flush's ``00 00 ff ff`` is removed (RFC 7692 section 7.2.1).
        """
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(
                wbits=self._wbits, memLevel=self._level
            )
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if last:
            out = out[:-4]
            if self._reset:
                self._compressor = None
        return out

    def start_message(self) -> None:
        """Prepare to inflate a new compressed message."""
        if self._decompressor is None:
            self._decompressor = zlib.decompressobj(wbits=self._inflate_bits)

    def decompress(self, data: bytes, limit: int | None, *, last: bool) -> bytes:
        """Inflate a piece of the current message; ``last`` ends it.

        Returns at most ``limit + 1`` bytes, so a caller that finds more than
        ``limit`` knows the message is too big without ever holding more.

        Raises:
            ValueError: the data is not valid deflate data, or compressed data
                follows the end of the deflate stream.
        """
        decompressor = self._decompressor
        assert decompressor is not None
        bound = 0 if limit is None else limit + 1
        try:
            out = decompressor.decompress(data, bound)
            if decompressor.unused_data:
                raise ValueError("compressed data after the end of the deflate stream")
            if last and (limit is None or len(out) <= limit):
                # The tail can be what reveals a corrupt block (a truncated
                # one); after a BFINAL block it lands in unused_data, harmlessly.
                out += decompressor.decompress(_TAIL, 0 if limit is None else bound - len(out))
        except zlib.error as exc:
            raise ValueError(f"invalid deflate data ({exc})") from None
        if last and (self._inflate_reset or decompressor.eof):
            self._decompressor = None
        return out
