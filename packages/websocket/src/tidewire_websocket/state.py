"""Where a WebSocket connection stands (RFC 6455 sections 4 and 7)."""

from __future__ import annotations

import enum

__all__ = ["SENDING", "State"]


class State(enum.Enum):
    """Where a WebSocket connection stands (RFC 6455 sections 4 and 7).

    ``CONNECTING`` → ``OPEN`` → ``LOCAL_CLOSING`` or ``REMOTE_CLOSING`` →
    ``CLOSED``. A rejected handshake, a protocol error and end of file all
    lead straight to ``CLOSED``.
    """

    CONNECTING = "CONNECTING"
    """The opening handshake is under way."""
    OPEN = "OPEN"
    """Messages flow both ways."""
    LOCAL_CLOSING = "LOCAL_CLOSING"
    """We sent a close frame and wait for the peer's; we may send nothing more."""
    REMOTE_CLOSING = "REMOTE_CLOSING"
    """The peer sent a close frame; we owe one (only with ``auto_close=False``)."""
    CLOSED = "CLOSED"
    """Both close frames were exchanged, or the connection failed or ended."""


SENDING = (State.OPEN, State.REMOTE_CLOSING)
"""The states in which messages may be sent."""
