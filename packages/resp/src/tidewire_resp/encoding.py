"""Serialisation: commands (client role) and every reply type (server role)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tidewire import LocalProtocolError, as_bytes, describe

from .events import Push
from .values import (
    Attributed,
    BigNumber,
    ErrorReply,
    MapPairs,
    SetMembers,
    SimpleString,
    Verbatim,
    decimal,
)

__all__ = [
    "MAX_ENCODING_DEPTH",
    "command_arg",
    "convert_command",
    "encode_value",
    "unencodable",
    "utf8",
    "write_command",
]

# Arguments at least this long are written as their own object, not copied
# into a joined header (the base joins once in data_to_send()).
_LARGE = 16 * 1024

MAX_ENCODING_DEPTH = 1024
"""The deepest nesting of aggregates a reply may have to be sent (as the parser's default).

It also stops a value that contains itself (``x = []; x.append(x)``),
which would otherwise be encoded until memory ran out.
"""


def utf8(text: str, what: str) -> bytes:
    """``text`` encoded as UTF-8; LocalProtocolError if it cannot be (a lone surrogate)."""
    try:
        return text.encode()
    except UnicodeEncodeError as error:
        raise unencodable(error, what) from None


def unencodable(error: UnicodeEncodeError, what: str = "a command argument") -> LocalProtocolError:
    """The LocalProtocolError for a str that UTF-8 cannot encode, saying where."""
    text = error.object
    return LocalProtocolError(
        f"cannot send {what} that is not valid Unicode ({error.reason} at index"
        f" {error.start} of {text[:40]!r})"
    )


def command_arg(arg: Any) -> bytes | memoryview:
    """One command argument as bytes; LocalProtocolError for types RESP cannot carry."""
    kind = type(arg)
    if kind is bytes:
        return arg  # type: ignore[no-any-return]
    if kind is str:
        return utf8(arg, "a command argument")
    if kind is int:
        return decimal(arg)
    if kind is float:
        # repr() is the shortest string that reads back as the same float.
        return repr(arg).encode()
    if isinstance(arg, bool) or arg is None:
        raise LocalProtocolError(
            f"cannot send {describe(arg)} as a command argument:"
            " convert it to bytes, str or int first"
        )
    if isinstance(arg, bytes | bytearray):
        return bytes(arg)
    if isinstance(arg, str):
        return utf8(str(arg), "a command argument")
    if isinstance(arg, int):
        return decimal(int(arg))
    if isinstance(arg, float):
        return repr(float(arg)).encode()
    if isinstance(arg, memoryview):
        try:
            if not arg.c_contiguous:
                raise LocalProtocolError("cannot send a non-contiguous memoryview")
            return arg if arg.format == "B" and arg.ndim == 1 else arg.cast("B")
        except ValueError:
            raise LocalProtocolError("cannot send a released memoryview") from None
    raise LocalProtocolError(f"cannot send a {type(arg).__name__} as a command argument")


def convert_command(args: tuple[Any, ...]) -> list[bytes | memoryview]:
    """Validate a command's arguments and convert each to bytes, writing nothing.

    Raises:
        LocalProtocolError: no arguments, or an argument of a type RESP cannot carry.
    """
    if type(args) is not tuple or not args:
        raise LocalProtocolError("a command needs at least one argument (its name)")
    converted = []
    for index, arg in enumerate(args):
        try:
            converted.append(command_arg(arg))
        except LocalProtocolError as error:
            raise LocalProtocolError(f"argument {index} of the command: {error}") from None
    return converted


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


def _line(data: Any, what: str) -> bytes:
    raw = as_bytes(data, f"a {what}")
    if b"\r" in raw or b"\n" in raw:
        raise LocalProtocolError(f"a {what} cannot contain CR or LF: {raw[:40]!r}")
    return raw


def _double(value: float) -> bytes:
    if math.isnan(value):
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return repr(value).encode()


def encode_value(
    value: Any, protocol: int, attributes: Any = None, max_depth: int = MAX_ENCODING_DEPTH
) -> list[bytes]:
    """Serialise a value (and optional top-level attributes) as RESP2 or RESP3.

    Iterative, with nesting bounded by ``max_depth``. In RESP2, RESP3
    types degrade as Redis degrades them: maps become flat arrays, sets
    arrays, doubles and big numbers blob strings, booleans ``:1``/``:0``,
    verbatim strings blob strings, pushes arrays, nulls ``$-1``, and
    attributes are dropped.

    Raises:
        LocalProtocolError: a value RESP cannot carry, or nesting deeper
            than ``max_depth``; nothing is returned.
    """
    out: list[bytes] = []
    resp3 = protocol == 3
    todo: list[Any] = [value]
    if attributes is not None:
        todo.append(_Attrs(attributes))
    depth = 0
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is _Up:
            depth -= 1
            continue
        encoded = _scalar(item, kind, resp3)
        if encoded is not None:
            out.append(encoded)
            continue
        if kind is Attributed:
            todo.append(item.value)
            todo.append(_Attrs(item.attributes))
            continue
        if kind is Push and item.attributes is not None:
            todo.append(Push(item.data))
            todo.append(_Attrs(item.attributes))
            continue
        # An aggregate: its header now, its elements next, one level deeper.
        if depth >= max_depth:
            raise LocalProtocolError(
                f"cannot send a value nested deeper than {max_depth} levels"
                " (or one that contains itself)"
            )
        header, elements = _aggregate(item, kind, resp3)
        if header:
            out.append(header)
        depth += 1
        todo.append(_UP)
        todo.extend(reversed(elements))
    return out


def _scalar(item: Any, kind: type, resp3: bool) -> bytes | None:
    """The encoding of a value that is no aggregate, or ``None`` for an aggregate."""
    if kind is bytes or kind is bytearray or kind is memoryview:
        raw = as_bytes(item, "a blob string")
        return b"$%d\r\n%s\r\n" % (len(raw), raw)
    if kind is SimpleString:
        return b"+" + _line(item, "simple string") + b"\r\n"
    if kind is str:
        raw = utf8(item, "a string")
        return b"$%d\r\n%s\r\n" % (len(raw), raw)
    if kind is bool:
        return (b"#t\r\n" if item else b"#f\r\n") if resp3 else b":%d\r\n" % item
    if kind is int:
        if not -(2**63) <= item < 2**63:
            raise LocalProtocolError(
                f"integer {decimal(item)[:40].decode()} is out of the 64-bit range"
                " (send it as a BigNumber)"
            )
        return b":%d\r\n" % item
    if kind is BigNumber:
        digits = decimal(item)
        return b"(%s\r\n" % digits if resp3 else b"$%d\r\n%s\r\n" % (len(digits), digits)
    if kind is float:
        text = _double(item)
        return b",%s\r\n" % text if resp3 else b"$%d\r\n%s\r\n" % (len(text), text)
    if item is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    if kind is ErrorReply:
        if item.blob and resp3:
            raw = as_bytes(item.data, "a blob error")
            return b"!%d\r\n%s\r\n" % (len(raw), raw)
        return b"-" + _line(item.data, "simple error") + b"\r\n"
    if kind is Verbatim:
        return _verbatim(item, resp3)
    return None


def _verbatim(item: Verbatim, resp3: bool) -> bytes:
    if type(item.format) is not str:
        raise LocalProtocolError(f"a verbatim format is a str, not {describe(item.format)}")
    try:
        fmt = item.format.encode("latin-1")
    except UnicodeEncodeError:
        fmt = b""
    if len(fmt) != 3:
        raise LocalProtocolError(f"a verbatim format must be 3 bytes: {item.format[:40]!r}")
    data = as_bytes(item.data, "a verbatim string")
    if resp3:
        return b"=%d\r\n%s:%s\r\n" % (len(data) + 4, fmt, data)
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _aggregate(item: Any, kind: type, resp3: bool) -> tuple[bytes, list[Any]]:
    """An aggregate's header and its elements in wire order (keys before their values)."""
    if kind is list or kind is tuple or kind is SetMembers or kind is set or kind is frozenset:
        marker = b"~" if resp3 and kind in (set, frozenset, SetMembers) else b"*"
        return b"%s%d\r\n" % (marker, len(item)), list(item)
    if kind is Push:
        if type(item.data) is not list and type(item.data) is not tuple:
            raise LocalProtocolError(f"a push's data is a list, not a {type(item.data).__name__}")
        return b"%s%d\r\n" % (b">" if resp3 else b"*", len(item.data)), list(item.data)
    if kind is dict or kind is MapPairs:
        elements = _flat_pairs(item)
        if resp3:
            return b"%%%d\r\n" % (len(elements) // 2), elements
        return b"*%d\r\n" % len(elements), elements
    if kind is _Attrs:
        elements = _flat_pairs(item.mapping)
        # RESP2 has no attributes: they are dropped, with their elements.
        return (b"|%d\r\n" % (len(elements) // 2), elements) if resp3 else (b"", [])
    raise LocalProtocolError(f"cannot send a {kind.__name__} as a RESP value")


def _flat_pairs(mapping: Any) -> list[Any]:
    """A dict's or MapPairs' keys and values, alternating; LocalProtocolError for anything else."""
    if type(mapping) is dict:
        pairs: Any = mapping.items()
    elif type(mapping) is MapPairs:
        pairs = mapping
        for pair in pairs:
            if type(pair) is not tuple or len(pair) != 2:
                raise LocalProtocolError(
                    f"the pairs of a MapPairs are (key, value) tuples, not {describe(pair)}"
                )
    else:
        raise LocalProtocolError(
            f"a map or attributes must be a dict or MapPairs, not a {type(mapping).__name__}"
        )
    flat: list[Any] = []
    for key, val in pairs:
        flat.append(key)
        flat.append(val)
    return flat


class _Up:
    """Marks, on the encoder's stack, the end of an aggregate's elements."""

    __slots__ = ()


_UP = _Up()


class _Attrs:
    __slots__ = ("mapping",)

    def __init__(self, mapping: Any) -> None:
        self.mapping = mapping
