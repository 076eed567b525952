"""The exceptions an I/O layer raises for WebSocket connections, the same on every framework."""

from __future__ import annotations

from tidewire import StreamClosedError

from .events import RejectConnection, WebSocketClosed

__all__ = ["HandshakeRejected", "WebSocketClosedError"]


class WebSocketClosedError(StreamClosedError):
    """The WebSocket connection is closed, so it cannot be used any more.

    Raised by an adapter's receiving method once every message received
    before the close was returned, by its sending methods after the close
    began, and by pending pings. A ``tidewire.StreamClosedError``.

    Args:
        code: How the connection ended (see
            :attr:`WebSocketConnection.close_code
            <tidewire_websocket.WebSocketConnection.close_code>`; ``1006``
            if it ended without a close frame).
        reason: The reason that goes with ``code``.
        event: The core's closing event, if the peer's end is known.

    Attributes:
        code: As given.
        reason: As given.
    """

    def __init__(self, code: int, reason: str, event: WebSocketClosed | None = None) -> None:
        text = f"the WebSocket connection is closed (code {code}"
        super().__init__(f"{text}, reason {reason!r})" if reason else f"{text})", event)
        self.code = code
        self.reason = reason

    @property
    def clean(self) -> bool:
        """Whether the closure was normal, with code 1000 (normal) or 1001 (going away)."""
        return self.code in (1000, 1001)


class HandshakeRejected(Exception):
    """The server answered the opening handshake with an HTTP error, not ``101``.

    Args:
        response: The server's answer, with its status, headers and body.

    Attributes:
        response: As given.
    """

    def __init__(self, response: RejectConnection) -> None:
        super().__init__(
            f"the server rejected the WebSocket handshake: HTTP {response.status_code}"
        )
        self.response = response
