"""The record a client connection keeps of each request awaiting its reply."""

from __future__ import annotations

import bisect
from collections import deque
from typing import Any

from tidewire import LocalProtocolError, describe

from .pubsub import FAMILIES

__all__ = [
    "KINDS",
    "Request",
    "ends_monitor",
    "find_request",
    "hello_protocol",
    "in_multi_after",
    "request_id",
    "setup_commands",
]

# Request kinds: what the reply to each means to the connection.
NORMAL, HELLO, SUBSCRIBE, MONITOR, RESET, QUIT = range(6)
KINDS = {b"HELLO": HELLO, b"MONITOR": MONITOR, b"RESET": RESET, b"QUIT": QUIT}


class Request:
    """What a request sent expects: its kind, and what its reply gathers."""

    __slots__ = (
        "batch",
        "cancelled",
        "confirmations",
        "expected",
        "family",
        "id",
        "kind",
        "left",
        "plain",
    )

    def __init__(self, request_id: int, kind: int, family: bytes, expected: int | None) -> None:
        self.id = request_id
        self.kind = kind
        self.family = family
        self.expected = expected
        self.cancelled = False
        self.confirmations: list[Any] = []
        # An ordinary request not cancelled: its reply needs no special handling.
        self.plain = kind == NORMAL
        # For a batch (see ClientConnection.batch): the values so far, and
        # how many replies are still to come.
        self.batch: list[Any] | None = None
        self.left = 0


def request_id(request: Request) -> int:
    """The id of ``request`` (a sort key)."""
    return request.id


def in_multi_after(name: bytes, in_multi: bool) -> bool:
    """Whether the connection is inside ``MULTI`` after command ``name`` (upper case).

    Raises:
        LocalProtocolError: a ``SUBSCRIBE``-family command inside ``MULTI``.
    """
    if in_multi:
        if name in FAMILIES:
            raise LocalProtocolError(
                f"{name.decode(errors='replace')} inside MULTI breaks the framing of EXEC;"
                " send it outside the transaction"
            )
        return name not in (b"EXEC", b"DISCARD", b"RESET")
    return name == b"MULTI"


def setup_commands(
    protocol: int,
    username: str | bytes | None,
    password: str | bytes | None,
    client_name: str | bytes | None,
    db: int | None,
    lib_name: str | bytes | None,
    lib_version: str | bytes | None,
) -> list[tuple[Any, ...]]:
    """The set-up commands ``ClientConnection.setup()`` sends, in order.

    Raises:
        LocalProtocolError: ``protocol`` is not 2 or 3.
    """
    if protocol not in (2, 3):
        raise LocalProtocolError(f"protocol must be 2 or 3, not {describe(protocol)}")
    commands: list[tuple[Any, ...]] = []
    if password is not None:
        commands.append(("AUTH", password) if username is None else ("AUTH", username, password))
    if protocol == 3:
        commands.append(("HELLO", 3))
    if client_name is not None:
        commands.append(("CLIENT", "SETNAME", client_name))
    if db is not None:
        commands.append(("SELECT", db))
    if lib_name is not None:
        commands.append(("CLIENT", "SETINFO", "LIB-NAME", lib_name))
    if lib_version is not None:
        commands.append(("CLIENT", "SETINFO", "LIB-VER", lib_version))
    return commands


def find_request(pending: deque[Request], request: int) -> Request | None:
    """The request with id ``request`` among those ``pending`` (in id order), if there.

    Raises:
        LocalProtocolError: ``request`` is not an int.
    """
    if type(request) is not int:
        raise LocalProtocolError(f"a request id is an int, not {describe(request)}")
    if pending and pending[-1].id == request:
        # The request just sent, the usual question: no search (indexing
        # into the middle of a long deque is not O(1)).
        return pending[-1]
    index = bisect.bisect_left(pending, request, key=request_id)
    if index < len(pending) and pending[index].id == request:
        return pending[index]
    return None


def ends_monitor(head: Request | None, value: bytes) -> bool:
    """Whether ``value`` is the reply of ``head`` that ends ``MONITOR`` (not a monitor line)."""
    return head is not None and (
        (head.kind == RESET and value == b"RESET") or (head.kind == QUIT and value == b"OK")
    )


def hello_protocol(value: Any) -> int | None:
    """The protocol a ``HELLO`` reply (a map, or its RESP2 array of pairs) says, if 2 or 3."""
    proto = None
    if type(value) is dict:
        proto = value.get(b"proto")
    elif type(value) is list:
        for index in range(0, len(value) - 1, 2):
            if value[index] == b"proto":
                proto = value[index + 1]
    return proto if proto in (2, 3) else None
