"""Two connections wired to each other in memory."""

from __future__ import annotations

from typing import Any

from ..connection import Connection, ReceiveState
from ..events import Event
from .feeding import drain

__all__ = ["Loopback"]

_MAX_ROUNDS = 10_000


class Loopback:
    """Pumps the bytes each of two connections sends into the other.

    Use it to test a client against a server, or a core against itself,
    with no I/O::

        pair = Loopback(client, server)
        client.send(Request(...))
        to_client, to_server = pair.pump()

    Args:
        a: One connection.
        b: The other.
    """

    def __init__(self, a: Connection[Any, Any], b: Connection[Any, Any]) -> None:
        self.a = a
        self.b = b

    def pump(self) -> tuple[list[Event], list[Event]]:
        """Move bytes both ways until neither side has any to send.

        Events are drained after every transfer. Returns the events ``a``
        received and the events ``b`` received, in order.
        :class:`~tidewire.RemoteProtocolError` propagates.
        """
        received_a: list[Event] = []
        received_b: list[Event] = []
        for _ in range(_MAX_ROUNDS):
            moved = self._move(self.a, self.b, received_b)
            moved |= self._move(self.b, self.a, received_a)
            if not moved:
                return received_a, received_b
        raise AssertionError(f"the two connections still exchange bytes after {_MAX_ROUNDS} rounds")

    def close(self, side: Connection[Any, Any]) -> tuple[list[Event], list[Event]]:
        """Deliver ``side``'s pending bytes and then end of file to the other side; pump.

        Returns the events each side received, as :meth:`pump`.
        """
        received_a, received_b = self.pump()
        other, received = (self.b, received_b) if side is self.a else (self.a, received_a)
        other.receive_eof()
        drain(other, _MAX_ROUNDS, received)
        more_a, more_b = self.pump()
        return received_a + more_a, received_b + more_b

    @staticmethod
    def _move(
        source: Connection[Any, Any], target: Connection[Any, Any], into: list[Event]
    ) -> bool:
        data = source.data_to_send()
        if data and target.receive_state is ReceiveState.OPEN:
            target.receive_data(data)
        if target.receive_state in (ReceiveState.OPEN, ReceiveState.EOF):
            drain(target, _MAX_ROUNDS, into)
        return bool(data)
