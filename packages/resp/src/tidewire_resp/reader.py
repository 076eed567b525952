"""Reading replies with no requests to match them to: :class:`ReplyReader`."""

from __future__ import annotations

from typing import TypeVar

from tidewire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    NeedData,
    RemoteProtocolError,
)

from .events import Push, Reply
from .parser import Limits, ReplyParser
from .values import Attributed

__all__ = ["SPECIAL", "ReplyConnection", "ReplyReader"]

MiB = 1024 * 1024
# Parsed items that are not plain values: each needs routing.
SPECIAL = frozenset((Push, Attributed, RemoteProtocolError))
ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)


class ReplyConnection(Connection[ReceivedT, SentT]):
    """A connection whose peer sends replies: the parser, its limits, the end of stream.

    The limits are those :class:`ReplyReader` documents.
    """

    def __init__(
        self,
        *,
        max_bulk_length: int = 512 * MiB,
        max_aggregate_length: int = 2**32 - 1,
        max_depth: int = 1024,
        max_line_length: int = 64 * 1024,
        max_buffer_size: int | None = 1024 * MiB,
    ) -> None:
        # The parser applies max_buffer_size itself, to whole replies, so that
        # the verdict does not depend on how the input was split.
        super().__init__(max_buffer_size=None)
        self._parser = ReplyParser(
            self._buffer,
            Limits(
                max_bulk_length=max_bulk_length,
                max_aggregate_length=max_aggregate_length,
                max_depth=max_depth,
                max_line_length=max_line_length,
                max_buffer_size=max_buffer_size,
            ),
        )
        self._take = self._parser.ready.popleft

    def _end_of_stream(self) -> ConnectionClosed:
        if not self._parser.idle:
            # The end of the stream, not how far the parser happened to read.
            end = self._buffer.offset + len(self._buffer)
            raise RemoteProtocolError(
                f"the peer closed the connection inside a reply at byte {end}",
                code="EOF",
                offset=end,
            )
        return ConnectionClosed()


class ReplyReader(ReplyConnection[Reply | Push, Event]):
    """Reads RESP2/RESP3 replies, with no requests to match them to.

    For a proxy, a test, a tool reading a dump, or anyone doing their own
    request matching. Each top-level value becomes a
    :class:`~tidewire_resp.Reply` (``request`` is ``-1``) and each push a
    :class:`~tidewire_resp.Push`; a push nested inside another reply comes
    out first, as its own event. The reader sends nothing.

    Args:
        max_bulk_length: The longest blob string, blob error, verbatim
            string or streamed string, in bytes (Redis's own default,
            512 MiB).
        max_aggregate_length: The most elements in one aggregate (pairs for
            a map).
        max_depth: The deepest nesting of aggregates.
        max_line_length: The longest line (simple string, error, number,
            header), in bytes.
        max_buffer_size: The most bytes one reply may span, so also the most
            an incomplete one keeps buffered; ``None`` for no limit. Each
            limit is a :class:`~tidewire.RemoteProtocolError` when exceeded,
            whatever the split of the input. So is the end of the stream
            inside a reply, with the code ``"EOF"`` (a Redis server does
            that to a client past its ``client-output-buffer-limit``).
    """

    def _next_event(self) -> Reply | Push | NeedData:
        try:
            item = self._take()
        except IndexError:  # the queue is empty: parse what has arrived
            if not self._parser.fill():
                return NEED_DATA
            item = self._take()
        kind = type(item)
        if kind in SPECIAL:
            if kind is Push:
                return item  # type: ignore[no-any-return]
            if kind is Attributed:
                return Reply(item.value, item.attributes)
            raise item
        return Reply(item)

    def _send(self, event: Event) -> None:
        raise LocalProtocolError("a ReplyReader only reads; it cannot send")
