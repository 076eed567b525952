"""Checks of what a caller hands a core's sending side, for cores to share.

A core raises only :class:`~tidewire.LocalProtocolError` for a bad value, and
its message must say what the value was without failing itself: ``repr()``
of an int of over 4,300 digits raises, and so may a caller's ``__repr__``.
"""

from __future__ import annotations

import reprlib
from typing import Any

from .errors import LocalProtocolError

__all__ = ["as_bytes", "describe"]

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 60


def describe(value: Any) -> str:
    """A short repr of ``value`` for an error message; it never raises."""
    try:
        return _SHORT.repr(value)
    except Exception:  # any object's repr: a huge int's, a broken __repr__
        return f"a value of type {type(value).__name__}"


def as_bytes(value: Any, what: str) -> bytes:
    """``value`` (bytes, bytearray or memoryview) as bytes.

    Args:
        value: What the caller gave.
        what: What it is, for the error message (``"a ping payload"``).

    Raises:
        LocalProtocolError: ``value`` is not bytes-like, or is a released
            memoryview.
    """
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value)
        except ValueError:  # a released memoryview
            raise LocalProtocolError(f"cannot send {what}: the memoryview is released") from None
    raise LocalProtocolError(
        f"cannot send {what} of type {type(value).__name__}: it must be bytes-like"
    )
