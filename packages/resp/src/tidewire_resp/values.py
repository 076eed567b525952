"""The Python values RESP types become, and the wrappers that keep them lossless.

Most RESP types map onto plain Python values: a blob (bulk) string is
``bytes``, a number is ``int``, a double is ``float``, a boolean is ``bool``,
every null (``_``, ``$-1``, ``*-1``) is ``None``, an array is ``list``. The
classes here cover what plain values would lose:

- :class:`SimpleString`: a ``bytes`` subclass, so ``+OK`` compares equal to
  ``b"OK"`` yet can be told apart from a blob string (and is sent back as
  ``+`` by a server).
- :class:`BigNumber`: an ``int`` subclass for ``(`` big numbers, of any size.
- :class:`ErrorReply`: a ``-`` or ``!`` error as a *value*: errors inside
  arrays (pipelines, ``EXEC``) are data, not exceptions.
- :class:`Verbatim`: a ``=`` verbatim string, its three-letter format kept.
- :class:`MapPairs` and :class:`SetMembers`: the lossless fall-backs of maps
  and sets (see below).
- :class:`Attributed`: a value that arrived with RESP3 attributes, where it
  is nested inside an aggregate (at top level the attributes go on the
  event instead).

Maps and sets: a map becomes a ``dict`` and a set a ``set`` when that loses
nothing and is safe, that is when every key (member) is hashable, no two are
equal in Python, and none is a big number or a double. Otherwise (duplicate
keys, ``1`` and ``True`` in one map, a list or map as a key, a
:class:`BigNumber` or ``float`` key) the map becomes :class:`MapPairs`, the
list of its ``(key, value)`` pairs in wire order, and the set becomes
:class:`SetMembers`, the list of its members in wire order. Both are
``list`` subclasses, so the wire content is always all there. Big numbers
and doubles are never hashed because CPython does not randomise their
hashes: a peer could send thousands of keys with one hash (multiples of
``2**61 - 1``), whose dict would take quadratic time to build. So parsing
is linear in the size of the reply whatever its keys.
"""

from __future__ import annotations

from typing import Any

from tidewire import Event

from .errors import error_code

__all__ = [
    "NAN",
    "Attributed",
    "BigNumber",
    "ErrorReply",
    "MapPairs",
    "SetMembers",
    "SimpleString",
    "Verbatim",
]

# Integers with more digits than this are converted in pieces: CPython
# refuses to convert more than 4300 digits at once by default (and at least
# 640 whatever the setting).
_DIGITS_AT_ONCE = 600


def decimal(value: int) -> bytes:
    """The decimal digits of an integer of any size (repr-able and sendable however long)."""
    try:
        return b"%d" % value
    except ValueError:  # more digits than the interpreter converts at once
        pass
    sign = b"-" if value < 0 else b""
    value = abs(value)
    chunks = []
    unit = 10**_DIGITS_AT_ONCE
    while value >= unit:
        value, low = divmod(value, unit)
        chunks.append(b"%0*d" % (_DIGITS_AT_ONCE, low))
    chunks.append(b"%d" % value)
    return sign + b"".join(reversed(chunks))


NAN: float = float("nan")
"""The one ``float('nan')`` object every parsed NaN double is.

NaN is unequal to itself, but containers compare their items by identity
first, so replies holding this very object compare equal when their other
contents do.
"""


class SimpleString(bytes):
    """A RESP simple string (``+OK``): ``bytes`` that remembers its wire type.

    It equals the same ``bytes`` (``SimpleString(b"OK") == b"OK"``). A server
    sends it as ``+...``; it must then contain neither CR nor LF.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SimpleString({bytes(self)!r})"


class BigNumber(int):
    """A RESP3 big number (``(12345678901234567890``): an ``int`` of any size.

    Parsing, ``str()``, ``repr()`` and sending are not bound by Python's
    limit on digits converted at once (4300 by default); parsing is bound
    by the connection's line length limit. (Other conversions of a longer
    one, such as ``format(n, ",")``, are, as for any ``int``.)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        # decimal(), not repr(int): it has no limit on the number of digits.
        return f"BigNumber({decimal(self).decode()})"

    def __str__(self) -> str:
        return decimal(self).decode()


class ErrorReply(Event):
    """An error reply as a value: RESP ``-`` (simple) or ``!`` (blob) error.

    Replies that are errors are returned, not raised: a pipeline or an
    ``EXEC`` may hold several among ordinary values.

    Attributes:
        data: The error's bytes, as received (not necessarily UTF-8).
        blob: ``True`` for a RESP3 blob error (``!``), which may hold any
            bytes; ``False`` for a simple error (``-``).
    """

    data: bytes
    blob: bool = False

    @property
    def message(self) -> str:
        """The error text, decoded as UTF-8 with undecodable bytes replaced."""
        return self.data.decode("utf-8", "replace")

    @property
    def code(self) -> str:
        """The error code, its first word, such as ``"ERR"``, ``"WRONGTYPE"``, ``"MOVED"``.

        By Redis convention only: an error whose first word is not upper
        case (empty, a leading space, lower case) has the code ``""``. The
        same rule picks the exception :func:`~tidewire_resp.reply_error`
        builds for it, whose ``code`` is this one.
        """
        return error_code(self.message)


class Verbatim(Event):
    r"""A RESP3 verbatim string (``=15\r\ntxt:Some string``) with its format kept.

    Attributes:
        format: The three-character format, such as ``"txt"`` or ``"mkd"``
            (decoded as Latin-1, so any three bytes round-trip).
        data: The text after the ``xxx:`` prefix.
    """

    format: str
    data: bytes


class Attributed(Event):
    """A value nested in an aggregate that carried RESP3 attributes (``|``).

    Attributes describe the value right after them and are not an element
    of their own: ``*3 :1 :2 |1 +ttl :3600 :3`` is ``[1, 2,
    Attributed(3, {b"ttl": 3600})]``. Consecutive attribute frames merge,
    later keys winning.

    Attributes:
        value: The value the attributes describe.
        attributes: The attributes, a ``dict`` or :class:`MapPairs`.
    """

    value: Any
    attributes: Any


class MapPairs(list[tuple[Any, Any]]):
    """A RESP3 map that a ``dict`` cannot hold: its ``(key, value)`` pairs in wire order.

    Used when a key is unhashable (a list, a dict), when two keys are equal
    in Python (a repeated key; ``1`` and ``True``), or when a key is a
    :class:`BigNumber` or a ``float`` (whose hashes a peer can make collide).
    :meth:`to_dict` gives a dict when that is acceptable to the caller (it
    takes quadratic time on colliding keys: bound the size first if the
    peer is not trusted).
    """

    __slots__ = ()

    def to_dict(self) -> dict[Any, Any]:
        """Return a ``dict`` (later pairs win), if every key is hashable.

        Raises:
            TypeError: a key is unhashable.
        """
        return dict(self)

    def __repr__(self) -> str:
        return f"MapPairs({list(self)!r})"


class SetMembers(list[Any]):
    """A RESP3 set that a Python ``set`` cannot hold: its members in wire order.

    Used when a member is unhashable, two members are equal in Python
    (a repeated member; ``1`` and ``True``), or a member is a
    :class:`BigNumber` or a ``float``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SetMembers({list(self)!r})"
