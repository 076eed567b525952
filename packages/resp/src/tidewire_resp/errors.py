"""The exceptions of Redis error replies, one class per error code.

Redis answers a failed command with an error reply whose first word is a
code (``WRONGTYPE``, ``MOVED``, ``NOSCRIPT`` ...). :func:`reply_error` turns
an :class:`~tidewire_resp.ErrorReply` into a :class:`ReplyError` whose class
follows that code (:data:`ERROR_CLASSES`), so callers catch exactly what they
can handle (``except NoScriptError:`` then ``SCRIPT LOAD``) and everything
else still is a :class:`ReplyError`. Every adapter raises these same classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .values import ErrorReply

__all__ = [
    "ERROR_CLASSES",
    "AskError",
    "BusyError",
    "BusyGroupError",
    "BusyLoadingError",
    "ClusterDownError",
    "CrossSlotError",
    "ExecAbortError",
    "MasterDownError",
    "MisconfError",
    "MovedError",
    "NoAuthError",
    "NoGroupError",
    "NoPermError",
    "NoProtoError",
    "NoScriptError",
    "OutOfMemoryError",
    "ReadOnlyError",
    "ReplyError",
    "TryAgainError",
    "WatchError",
    "WrongPassError",
    "WrongTypeError",
    "error_code",
    "reply_error",
]


class ReplyError(Exception):
    """The server answered a command with an error reply.

    The connection is fine: only this command failed. Subclasses name the
    common codes; catch this class for all of them.

    Args:
        message: The error as the server sent it, code first
            (``"WRONGTYPE Operation against a key ..."``).

    Attributes:
        message: As given.
        code: Its code, as :func:`~tidewire_resp.error_code` reads it (``"WRONGTYPE"``), the
            same as the :attr:`~tidewire_resp.ErrorReply.code` of the reply.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = error_code(message)


class WrongTypeError(ReplyError):
    """``WRONGTYPE``: the command does not apply to the type of value the key holds."""


class MovedError(ReplyError):
    """``MOVED slot host:port``: a cluster node says the key's slot lives elsewhere.

    Attributes:
        slot: The hash slot (``-1`` if the message does not say).
        address: ``"host:port"`` of the node that serves it (``""`` if absent).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        parts = message.split()
        self.slot = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.address = parts[2] if len(parts) > 2 else ""


class AskError(MovedError):
    """``ASK slot host:port``: ask that node, once, during a slot migration."""


class NoScriptError(ReplyError):
    """``NOSCRIPT``: ``EVALSHA`` of a script the server does not have (load it)."""


class ReadOnlyError(ReplyError):
    """``READONLY``: a write sent to a read-only replica."""


class NoAuthError(ReplyError):
    """``NOAUTH``: the connection must authenticate first."""


class WrongPassError(ReplyError):
    """``WRONGPASS``: bad user name or password."""


class NoPermError(ReplyError):
    """``NOPERM``: the ACL user may not run this command or touch this key."""


class NoProtoError(ReplyError):
    """``NOPROTO``: the server does not speak the protocol version asked for."""


class BusyLoadingError(ReplyError):
    """``LOADING``: the server is loading its dataset into memory."""


class BusyError(ReplyError):
    """``BUSY``: a script or function is running (``SCRIPT KILL`` / ``FUNCTION KILL``)."""


class ExecAbortError(ReplyError):
    """``EXECABORT``: ``EXEC`` refused the transaction because a queued command was bad."""


class OutOfMemoryError(ReplyError):
    """``OOM``: the command would use more memory than ``maxmemory`` allows."""


class CrossSlotError(ReplyError):
    """``CROSSSLOT``: the keys of one command hash to different cluster slots."""


class TryAgainError(ReplyError):
    """``TRYAGAIN``: a multi-key command during resharding; retry later."""


class ClusterDownError(ReplyError):
    """``CLUSTERDOWN``: the cluster cannot serve the request."""


class MasterDownError(ReplyError):
    """``MASTERDOWN``: a replica lost its link with the master."""


class MisconfError(ReplyError):
    """``MISCONF``: the server refuses writes because it cannot persist them."""


class BusyGroupError(ReplyError):
    """``BUSYGROUP``: the stream consumer group already exists."""


class NoGroupError(ReplyError):
    """``NOGROUP``: no such stream key or consumer group."""


class WatchError(Exception):
    """A transaction did not run: a ``WATCH``-ed key changed (``EXEC`` answered null)."""


ERROR_CLASSES: dict[str, type[ReplyError]] = {
    "WRONGTYPE": WrongTypeError,
    "MOVED": MovedError,
    "ASK": AskError,
    "NOSCRIPT": NoScriptError,
    "READONLY": ReadOnlyError,
    "NOAUTH": NoAuthError,
    "WRONGPASS": WrongPassError,
    "NOPERM": NoPermError,
    "NOPROTO": NoProtoError,
    "LOADING": BusyLoadingError,
    "BUSY": BusyError,
    "EXECABORT": ExecAbortError,
    "OOM": OutOfMemoryError,
    "CROSSSLOT": CrossSlotError,
    "TRYAGAIN": TryAgainError,
    "CLUSTERDOWN": ClusterDownError,
    "MASTERDOWN": MasterDownError,
    "MISCONF": MisconfError,
    "BUSYGROUP": BusyGroupError,
    "NOGROUP": NoGroupError,
}
"""Error code -> the :class:`ReplyError` subclass raised for it."""


def error_code(message: str) -> str:
    """The code of an error reply's text: its first word if upper case, else ``""``.

    Redis starts every error with an upper-case code (``ERR``, ``WRONGTYPE``,
    ``MOVED``); text that does not (empty, a leading space, lower case) has
    none.
    """
    first = message.split(" ", 1)[0]
    return first if first.isupper() else ""


def reply_error(error: ErrorReply | str) -> ReplyError:
    """The exception for an error reply (or its text): its class follows its code."""
    message = error if type(error) is str else error.message  # type: ignore[union-attr]
    return ERROR_CLASSES.get(error_code(message), ReplyError)(message)
