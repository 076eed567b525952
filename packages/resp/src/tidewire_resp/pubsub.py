"""Pub/sub bookkeeping of a client connection: what is subscribed, what confirms what."""

from __future__ import annotations

from typing import Any

__all__ = ["CONFIRMATIONS", "FAMILIES", "MESSAGES", "Subscriptions"]

# Subscribe-family command -> the kind of push (RESP3) or array (RESP2) confirming it.
FAMILIES = {
    b"SUBSCRIBE": b"subscribe",
    b"UNSUBSCRIBE": b"unsubscribe",
    b"PSUBSCRIBE": b"psubscribe",
    b"PUNSUBSCRIBE": b"punsubscribe",
    b"SSUBSCRIBE": b"ssubscribe",
    b"SUNSUBSCRIBE": b"sunsubscribe",
}
CONFIRMATIONS = frozenset(FAMILIES.values())
MESSAGES = frozenset((b"message", b"pmessage", b"smessage"))
_SUBSCRIBING = frozenset((b"subscribe", b"psubscribe", b"ssubscribe"))


class Subscriptions:
    """The channels, patterns and shard channels subscribed, as confirmed so far."""

    __slots__ = ("channels", "patterns", "shard_channels")

    def __init__(self) -> None:
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()

    def __bool__(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    def of(self, kind: bytes) -> set[bytes]:
        """The set a confirmation or command family (``b"psubscribe"`` ...) changes."""
        if kind in (b"psubscribe", b"punsubscribe"):
            return self.patterns
        if kind in (b"ssubscribe", b"sunsubscribe"):
            return self.shard_channels
        return self.channels

    def track(self, data: list[Any]) -> None:
        """Apply a confirmation (``[kind, channel, count]``)."""
        channel = data[1] if len(data) > 1 else None
        if type(channel) is not bytes:
            return
        target = self.of(data[0])
        if data[0] in _SUBSCRIBING:
            target.add(channel)
        else:
            target.discard(channel)

    def clear(self) -> None:
        """Forget every subscription (``RESET``)."""
        self.channels.clear()
        self.patterns.clear()
        self.shard_channels.clear()
