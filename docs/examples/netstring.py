"""A complete tidewire core in one file: netstrings (``<length>:<bytes>,``).

Run it to see the core work on a sample stream::

    python docs/examples/netstring.py

It is the worked example of the contributor tutorial: a protocol built on
the base alone, passing the contract suite, and later running over every
adapter with no adapter code of its own.
"""

from __future__ import annotations

from tidewire import (
    NEED_DATA,
    Connection,
    Event,
    LocalProtocolError,
    NeedData,
    RemoteProtocolError,
)

__all__ = ["Netstring", "NetstringConnection"]

_MAX_DIGITS = 20  # enough for any length a machine can hold


class Netstring(Event):
    """One netstring's payload, received or to send."""

    payload: bytes


class NetstringConnection(Connection[Netstring, Netstring]):
    """Either end of a netstring stream; the protocol is symmetrical.

    Args:
        max_length: The largest payload accepted from the peer, in bytes.
    """

    def __init__(self, *, max_length: int = 1024 * 1024) -> None:
        super().__init__(max_buffer_size=max_length + _MAX_DIGITS + 2)
        self.max_length = max_length

    def _next_event(self) -> Netstring | NeedData:
        buffer = self._buffer
        start = buffer.offset
        buffer.begin()  # the length, payload and comma arrive in any split
        digits = buffer.read_until(b":", max_length=_MAX_DIGITS)
        if digits is None:
            buffer.rollback()
            if buffer.peek(1) and not buffer.peek(1).isdigit():
                raise RemoteProtocolError("a netstring must start with a digit", offset=start)
            return NEED_DATA
        if not digits.isdigit() or (digits[:1] == b"0" and len(digits) > 1):
            raise RemoteProtocolError(f"bad netstring length {digits!r}", offset=start)
        length = int(digits)
        if length > self.max_length:
            raise RemoteProtocolError(
                f"netstring of {length} bytes exceeds the limit of {self.max_length}",
                offset=start,
            )
        payload = buffer.read_exactly(length)
        comma = buffer.read_exactly(1)
        if payload is None or comma is None:
            buffer.rollback()
            return NEED_DATA
        if comma != b",":
            raise RemoteProtocolError(
                f"netstring ends with {comma!r}, not b','", offset=start + len(digits) + 1 + length
            )
        buffer.commit()
        return Netstring(payload)

    def _send(self, event: Netstring) -> None:
        if not isinstance(event, Netstring):
            raise LocalProtocolError(f"cannot send {event!r}: expected a Netstring")
        self._write(b"%d:%b," % (len(event.payload), event.payload))


def main() -> None:
    """Parse a sample stream arriving in awkward pieces, then send a reply."""
    connection = NetstringConnection()
    for chunk in (b"5:hel", b"lo,0:,", b"12:hello world!", b",", b"3:bad;"):
        connection.receive_data(chunk)
        try:
            for event in connection.events():
                print("received", event)
        except RemoteProtocolError as error:
            print("rejected:", error)
    connection.send(Netstring(b"thanks"))
    print("to send", connection.data_to_send())


if __name__ == "__main__":
    main()
