"""The record a client connection keeps of each request awaiting its reply."""

from __future__ import annotations

from typing import Any

from tidewire import LocalProtocolError, describe

from .pubsub import FAMILIES

__all__ = ["KINDS", "Request", "in_multi_after", "request_id", "setup_commands"]

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
