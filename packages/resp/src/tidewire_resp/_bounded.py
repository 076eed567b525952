"""The ``max_buffer_size`` rule both RESP parsers (replies and commands) follow."""

from __future__ import annotations

from collections.abc import Callable

from tidewire import ReceiveBuffer, RemoteProtocolError


def fill_within(
    buffer: ReceiveBuffer,
    limit: int,
    value_start: Callable[[], int],
    fill: Callable[[int], bool],
    too_big: Callable[[int], RemoteProtocolError],
) -> bool:
    """Run ``fill(visible)`` over the buffer, never past ``limit`` bytes of one value.

    ``max_buffer_size`` is a rule about the stream: a value spans at most
    ``limit`` bytes from its first one (``value_start()``, a stream offset).
    The parser is shown no byte past that, so what it finds (values and
    errors) is the same however the input was split; a value still
    incomplete there, with more bytes waiting, is ``too_big(start)``.
    Returns what ``fill`` returned: whether anything was queued.
    """
    while True:
        available = len(buffer)
        if not available:
            return False
        position = buffer.offset
        start = value_start()
        visible = min(available, start + limit - position)
        if visible <= 0:
            raise too_big(start)
        if fill(visible):
            return True
        if visible == available:
            return False
        if buffer.offset == position:
            # Nothing taken: what is incomplete needs bytes past its limit.
            raise too_big(start)
