"""Serialisation: commands (client role) and every reply type (server role)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tidewire import LocalProtocolError

from .events import Push
from .values import Attributed, BigNumber, ErrorReply, MapPairs, SetMembers, SimpleString, Verbatim

__all__ = ["command_arg", "convert_command", "encode_value", "write_command"]

# Arguments at least this long are written as their own object, not copied
# into a joined header (the base joins once in data_to_send()).
_LARGE = 16 * 1024


def command_arg(arg: Any) -> bytes | memoryview:
    """One command argument as bytes; LocalProtocolError for types RESP cannot carry."""
    kind = type(arg)
    if kind is bytes:
        return arg  # type: ignore[no-any-return]
    if kind is str:
        return arg.encode()  # type: ignore[no-any-return]
    if kind is int:
        return b"%d" % arg
    if kind is float:
        # repr() is the shortest string that reads back as the same float.
        return repr(arg).encode()
    if isinstance(arg, bool) or arg is None:
        raise LocalProtocolError(
            f"cannot send {arg!r} as a command argument: convert it to bytes, str or int first"
        )
    if isinstance(arg, bytes | bytearray):
        return bytes(arg)
    if isinstance(arg, str):
        return str(arg).encode()
    if isinstance(arg, int):
        return b"%d" % int(arg)
    if isinstance(arg, float):
        return repr(float(arg)).encode()
    if isinstance(arg, memoryview):
        if not arg.c_contiguous:
            raise LocalProtocolError("cannot send a non-contiguous memoryview")
        return arg if arg.format == "B" and arg.ndim == 1 else arg.cast("B")
    raise LocalProtocolError(f"cannot send a {type(arg).__name__} as a command argument")


def convert_command(args: tuple[Any, ...]) -> list[bytes | memoryview]:
    """Validate a command's arguments and convert each to bytes, writing nothing.

    Raises:
        LocalProtocolError: no arguments, or an argument of a type RESP cannot carry.
    """
    if type(args) is not tuple or not args:
        raise LocalProtocolError("a command needs at least one argument (its name)")
    return [command_arg(arg) for arg in args]


def write_command(converted: list[bytes | memoryview], write: Callable[[Any], None]) -> None:
    """Write converted arguments as a RESP array of blob strings.

    Small arguments are joined into one bytes object; large ones are passed
    to ``write`` as they are, so they are not copied here.
    """
    parts = [b"*%d\r\n" % len(converted)]
    for arg in converted:
        size = arg.nbytes if isinstance(arg, memoryview) else len(arg)
        if size < _LARGE:
            small = arg.tobytes() if isinstance(arg, memoryview) else arg
            parts.append(b"$%d\r\n%b\r\n" % (size, small))
        else:
            parts.append(b"$%d\r\n" % size)
            write(b"".join(parts))
            write(arg)
            parts = [b"\r\n"]
    write(b"".join(parts))


def _line(data: bytes | str, what: str) -> bytes:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if b"\r" in raw or b"\n" in raw:
        raise LocalProtocolError(f"a {what} cannot contain CR or LF: {raw[:40]!r}")
    return raw


def _double(value: float) -> bytes:
    if math.isnan(value):
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return repr(value).encode()


def encode_value(value: Any, protocol: int, attributes: Any = None) -> list[bytes]:
    """Serialise a value (and optional top-level attributes) as RESP2 or RESP3.

    Iterative, so nesting depth is bounded by memory only. In RESP2, RESP3
    types degrade as Redis degrades them: maps become flat arrays, sets
    arrays, doubles and big numbers blob strings, booleans ``:1``/``:0``,
    verbatim strings blob strings, pushes arrays, nulls ``$-1``, and
    attributes are dropped.

    Raises:
        LocalProtocolError: a value RESP cannot carry; nothing is returned.
    """
    out: list[bytes] = []
    resp3 = protocol == 3
    todo: list[Any] = [value]
    if attributes is not None:
        todo.append(_Attrs(attributes))
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is bytes or kind is bytearray or kind is memoryview:
            raw = bytes(item)
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        elif kind is SimpleString:
            out.append(b"+" + _line(item, "simple string") + b"\r\n")
        elif kind is str:
            raw = item.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        elif kind is bool:
            out.append((b"#t\r\n" if item else b"#f\r\n") if resp3 else b":%d\r\n" % item)
        elif kind is int:
            if not -(2**63) <= item < 2**63:
                raise LocalProtocolError(f"integer {item} is out of the 64-bit range")
            out.append(b":%d\r\n" % item)
        elif kind is BigNumber:
            digits = b"%d" % item
            out.append(b"(%s\r\n" % digits if resp3 else b"$%d\r\n%s\r\n" % (len(digits), digits))
        elif kind is float:
            text = _double(item)
            out.append(b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
        elif item is None:
            out.append(b"_\r\n" if resp3 else b"$-1\r\n")
        elif kind is ErrorReply:
            if item.blob and resp3:
                out.append(b"!%d\r\n%s\r\n" % (len(item.data), item.data))
            else:
                out.append(b"-" + _line(item.data, "simple error") + b"\r\n")
        elif kind is Verbatim:
            fmt = item.format.encode("latin-1")
            if len(fmt) != 3 or b":" in fmt:
                raise LocalProtocolError(f"a verbatim format must be 3 bytes: {item.format!r}")
            if resp3:
                out.append(b"=%d\r\n%s:%s\r\n" % (len(item.data) + 4, fmt, item.data))
            else:
                out.append(b"$%d\r\n%s\r\n" % (len(item.data), item.data))
        elif (
            kind is list or kind is tuple or kind is SetMembers or kind is set or kind is frozenset
        ):
            marker = b"~" if resp3 and kind in (set, frozenset, SetMembers) else b"*"
            out.append(b"%s%d\r\n" % (marker, len(item)))
            todo.extend(reversed(list(item)))
        elif kind is dict or kind is MapPairs:
            pairs = list(item.items()) if kind is dict else list(item)
            if resp3:
                out.append(b"%%%d\r\n" % len(pairs))
            else:
                out.append(b"*%d\r\n" % (2 * len(pairs)))
            for key, val in reversed(pairs):
                todo.append(val)
                todo.append(key)
        elif kind is Attributed:
            todo.append(item.value)
            todo.append(_Attrs(item.attributes))
        elif kind is _Attrs:
            if resp3:
                attrs = item.mapping
                pairs = list(attrs.items()) if type(attrs) is dict else list(attrs)
                out.append(b"|%d\r\n" % len(pairs))
                for key, val in reversed(pairs):
                    todo.append(val)
                    todo.append(key)
        elif kind is Push:
            if item.attributes is not None:
                todo.append(Push(item.data))
                todo.append(_Attrs(item.attributes))
                continue
            out.append(b"%s%d\r\n" % (b">" if resp3 else b"*", len(item.data)))
            todo.extend(reversed(item.data))
        else:
            raise LocalProtocolError(f"cannot send a {kind.__name__} as a RESP value")
    return out


class _Attrs:
    __slots__ = ("mapping",)

    def __init__(self, mapping: Any) -> None:
        self.mapping = mapping
