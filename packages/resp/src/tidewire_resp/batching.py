"""Encoding a batch of ordinary commands in one pass (``batch()`` and ``transaction()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidewire import LocalProtocolError, describe

from .encoding import command_arg, unencodable
from .values import decimal

__all__ = ["QUICK_LIMIT", "STATEFUL", "encode_batch"]

# Commands whose replies change the state a ClientConnection tracks: they
# cannot be batched, and command() leaves them to the general path.
STATEFUL = frozenset(
    (b"SUBSCRIBE", b"UNSUBSCRIBE", b"PSUBSCRIBE", b"PUNSUBSCRIBE", b"SSUBSCRIBE", b"SUNSUBSCRIBE")
) | frozenset((b"HELLO", b"MONITOR", b"RESET", b"QUIT", b"CLIENT", b"MULTI", b"EXEC", b"DISCARD"))
# Longer arguments are written as they are, not copied into the joined bytes.
QUICK_LIMIT = 16 * 1024
_HUGE = 10**4000  # ints this large or larger are converted by decimal()
# A command name as written in a batch -> its encoded blob, for the names
# seen so far (bounded: a name is usually one of a few hundred commands).
# Two tables: equal str and bytes hash alike, and comparing them warns.
_STR_NAMES: dict[str, bytes] = {}
_BYTES_NAMES: dict[bytes, bytes] = {}
_NAMES_MAX = 1024


def encode_batch(commands: Any, what: str) -> tuple[list[Any], int]:
    """The bytes of a batch's commands, all encoded before any is written.

    So a refused command leaves no trace. Large arguments are kept as
    they are, not copied into the joined bytes (as write_command() does).

    Raises:
        LocalProtocolError: as ``ClientConnection.batch()`` says, naming the command.
    """
    if type(commands) is not list and type(commands) is not tuple:
        try:
            commands = list(commands)
        except TypeError:
            raise LocalProtocolError(
                f"a {what} takes a list of commands, not a {type(commands).__name__}"
            ) from None
    if not commands:
        raise LocalProtocolError(f"a {what} needs at least one command")
    out: list[Any] = []
    parts: list[bytes] = []
    append = parts.append
    str_names = _STR_NAMES
    bytes_names = _BYTES_NAMES
    args: Any = None
    try:
        for args in commands:
            kind = type(args)
            if kind is not tuple and kind is not list:
                raise LocalProtocolError(
                    f"a command is a tuple or list of arguments, not {describe(args)}"
                )
            name: Any = args[0] if args else None
            kind = type(name)
            if kind is str:
                blob = str_names.get(name)
            elif kind is bytes:
                blob = bytes_names.get(name)
            else:
                blob = None
            if blob is None:
                blob = _batch_name(args)
            append(b"*%d\r\n%b" % (len(args), blob))
            for arg in args[1:]:
                kind = type(arg)
                if kind is str:
                    arg = arg.encode()
                elif kind is int:
                    # More digits than CPython converts at once need decimal().
                    arg = b"%d" % arg if -_HUGE < arg < _HUGE else decimal(arg)
                elif kind is not bytes:
                    arg = command_arg(arg)  # raises for what RESP cannot carry
                if len(arg) < QUICK_LIMIT:
                    append(b"$%d\r\n%b\r\n" % (len(arg), arg))
                else:
                    append(b"$%d\r\n" % len(arg))
                    out.append(b"".join(parts))
                    out.append(arg)
                    parts.clear()
                    append(b"\r\n")
    except (LocalProtocolError, UnicodeEncodeError) as error:
        # Rare: say which command it was.
        index = next(i for i, found in enumerate(commands) if found is args)
        reason = error if isinstance(error, LocalProtocolError) else unencodable(error)
        raise LocalProtocolError(f"command {index} of the {what}: {reason}") from None
    out.append(b"".join(parts))
    return out, len(commands)


def _batch_name(args: Sequence[Any]) -> bytes:
    """The encoded name of a command in a batch; LocalProtocolError if it cannot be one."""
    if not args:
        raise LocalProtocolError("a command needs at least one argument (its name)")
    name = bytes(command_arg(args[0]))
    upper = name.upper()
    if upper in STATEFUL and (
        upper != b"CLIENT" or (len(args) > 1 and bytes(command_arg(args[1])).upper() == b"REPLY")
    ):
        what = upper.decode(errors="replace") + (" REPLY" if upper == b"CLIENT" else "")
        raise LocalProtocolError(
            f"{what} changes the state of the connection: send it with command(), not in a batch"
        )
    blob = b"$%d\r\n%b\r\n" % (len(name), name)
    # CLIENT's subcommand decides, so it is looked at every time.
    if upper != b"CLIENT":
        first = args[0]
        if type(first) is str and len(_STR_NAMES) < _NAMES_MAX:
            _STR_NAMES[first] = blob
        elif type(first) is bytes and len(_BYTES_NAMES) < _NAMES_MAX:
            _BYTES_NAMES[first] = blob
    return blob
