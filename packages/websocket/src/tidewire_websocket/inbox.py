"""The messages an I/O layer holds between the connection and its application.

Every adapter parses ahead of its application (so that pings are answered
and a close is seen while the application is busy) into a bounded queue,
and hands messages out, whole or in pieces, to readers that may be cancelled
between two awaits. What that queue decides is the same on every framework,
so it lives here; an adapter adds only its waiting.
"""

from __future__ import annotations

import collections

from .events import BytesChunk, BytesMessage, Pong, TextChunk, TextMessage
from .policy import DEFAULT_MAX_QUEUE, join_chunks

__all__ = ["DataEvent", "Inbox"]

DataEvent = TextMessage | BytesMessage | TextChunk | BytesChunk
"""A received message, or a piece of one when streaming."""

_DATA = (TextMessage, BytesMessage, TextChunk, BytesChunk)
_WHOLE = (TextMessage, BytesMessage)


class Inbox:
    """The received messages (or chunks) not yet read, at most ``max_queue``.

    The adapter's parser gives :meth:`put` each event the connection
    returns and stops parsing while :attr:`full`; after a
    :class:`~tidewire.RemoteProtocolError` it asks :meth:`hold` whether the
    failure must wait for the messages before it (then it is released when a
    reader finds the queue empty, or on closing: see ``hold_failures`` of
    :class:`~tidewire_websocket.WebSocketConnection`). Readers :meth:`pop`
    data events and give each to :meth:`take` (whole messages) or
    :meth:`stream` (pieces); pieces taken are kept here at once, so a reader
    cancelled between two pieces loses nothing: the next one starts with
    them (:meth:`resume`).

    Args:
        max_queue: How many data events may wait unread.

    Raises:
        ValueError: ``max_queue`` is less than 1.
    """

    def __init__(self, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self._max = max_queue
        self._queue: collections.deque[DataEvent] = collections.deque()
        self._taken: collections.deque[DataEvent] = collections.deque()
        self.held = False
        """Whether a protocol error waits for the queued messages."""
        self.closing = False
        """Whether :meth:`close` was called: data is dropped, parsing never pauses."""
        self.streamed = False
        """Whether a reader of pieces left a message unfinished."""

    @property
    def full(self) -> bool:
        """Whether parsing must pause until a reader takes something."""
        return len(self._queue) >= self._max and not self.closing

    @property
    def ready(self) -> int:
        """How many data events wait to be popped.

        An adapter that writes at once may hold its answers while more of a
        burst wait here, and write them together before the burst's last.
        """
        return len(self._queue)

    def put(self, event: object) -> tuple[tuple[bytes, float], ...]:
        """Keep a data event (dropped once closing); return the pings a :class:`Pong` answers."""
        if isinstance(event, _DATA):
            if not self.closing:
                self._queue.append(event)
        elif isinstance(event, Pong):
            return event.answered
        return ()

    def hold(self) -> bool:
        """After a protocol error: whether it must wait for the queued messages."""
        self.held = bool(self._queue) and not self.closing
        return self.held

    def close(self) -> None:
        """The application closes: drop what is queued and whatever comes next."""
        self.closing = True
        self._queue.clear()

    def pop(self) -> DataEvent | None:
        """The next data event, or ``None`` if the queue is empty."""
        return self._queue.popleft() if self._queue else None

    def check_whole(self) -> None:
        """Check that a reader of whole messages may read now.

        Raises:
            RuntimeError: a reader of pieces left a message unfinished.
        """
        if self.streamed:
            raise RuntimeError(
                "receive_stream() was left in the middle of a message:"
                " read the rest of it with receive_stream() first"
            )

    def take(self, event: DataEvent) -> str | bytes | None:
        """Keep a data event a reader of whole messages took; the message once it is whole."""
        taken = self._taken
        if isinstance(event, _WHOLE):
            return event.data  # never while pieces are taken: they end their message first
        taken.append(event)
        if not event.last:
            return None
        message = join_chunks(list(taken))  # type: ignore[arg-type]
        taken.clear()
        return message

    def resume(self) -> DataEvent | None:
        """A piece a cancelled reader of whole messages had taken, for a reader of pieces."""
        return self._taken.popleft() if self._taken else None

    def stream(self, event: DataEvent) -> bool:
        """Hand ``event`` to a reader of pieces; return whether it ends its message."""
        last = isinstance(event, _WHOLE) or event.last
        self.streamed = not last
        return last
