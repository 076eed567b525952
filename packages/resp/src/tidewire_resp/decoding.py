"""What an application gets from a reply: values decoded, errors as exceptions.

Every adapter's high-level client converts replies the same way, with these.
"""

from __future__ import annotations

from typing import Any

from .errors import ReplyError, WatchError, reply_error
from .values import Attributed, ErrorReply, MapPairs, SetMembers, SimpleString, Verbatim

__all__ = ["decode_value", "raise_first_error", "transaction_result"]


def decode_value(value: Any, encoding: str | None = None) -> Any:
    """Convert a reply's value for an application; recursive, so bound ``max_depth``.

    Error replies become :class:`~tidewire_resp.ReplyError` instances (in
    their places inside aggregates; the caller raises a top-level one),
    verbatim strings their text, values with attributes the values. With an
    ``encoding``, blob and simple strings become ``str`` (inside sets and
    maps too). ``int``, ``float``, ``bool``, ``None`` and big numbers are
    returned as they are.

    Raises:
        UnicodeDecodeError: a string is not valid text in ``encoding``.
    """
    kind = type(value)
    if kind is bytes or kind is SimpleString:
        return value if encoding is None else value.decode(encoding)
    if kind is list:
        return [decode_value(item, encoding) for item in value]
    if kind is dict:
        return {
            decode_value(key, encoding): decode_value(item, encoding) for key, item in value.items()
        }
    if kind is ErrorReply:
        return reply_error(value)
    if kind is Verbatim:
        return value.data if encoding is None else value.data.decode(encoding)
    if kind is set:
        return value if encoding is None else {decode_value(item, encoding) for item in value}
    if kind is MapPairs:
        return MapPairs((decode_value(k, encoding), decode_value(v, encoding)) for k, v in value)
    if kind is SetMembers:
        return SetMembers(decode_value(item, encoding) for item in value)
    if kind is Attributed:
        return decode_value(value.value, encoding)
    return value


def raise_first_error(values: list[Any]) -> list[Any]:
    """Return decoded ``values``, unless one is a :class:`~tidewire_resp.ReplyError`: raise it."""
    for value in values:
        if isinstance(value, ReplyError):
            raise value
    return values


def transaction_result(values: list[Any], encoding: str | None = None) -> list[Any]:
    """The results of a transaction, from the value of its reply (see ``transaction()``).

    ``values`` is ``MULTI``'s reply, each command's ``QUEUED`` (or error),
    then ``EXEC``'s reply; the result is ``EXEC``'s list, decoded as by
    :func:`decode_value` (a command that failed when run is a
    :class:`~tidewire_resp.ReplyError` in its place).

    Raises:
        WatchError: ``EXEC`` answered null: a watched key changed, and the
            transaction did not run.
        ReplyError: ``MULTI`` or ``EXEC`` failed; for ``EXECABORT``, an
            :class:`~tidewire_resp.ExecAbortError` whose ``__cause__`` is the
            first command refused when queued.
    """
    if type(values[0]) is ErrorReply:
        raise reply_error(values[0])
    result = values[-1]
    if result is None:
        raise WatchError("the transaction did not run: a watched key changed")
    if type(result) is ErrorReply:
        refused = [value for value in values[1:-1] if type(value) is ErrorReply]
        if refused:
            raise reply_error(result) from reply_error(refused[0])
        raise reply_error(result)
    return decode_value(result, encoding)  # type: ignore[no-any-return]
