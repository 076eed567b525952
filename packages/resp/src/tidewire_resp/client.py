"""Client-side connections: a reply reader, and a pipelining client.

:class:`ReplyReader` turns a stream of replies into :class:`~tidewire_resp.Reply`
and :class:`~tidewire_resp.Push` events, matching them to nothing.
:class:`ClientConnection` also sends commands and matches every reply to the
request it answers, through pipelining, pushes, pub/sub in both protocols,
``MULTI``/``EXEC``, ``CLIENT REPLY`` and ``MONITOR``, and lets the
application abandon a request without losing sync.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from itertools import islice, takewhile
from typing import Any

from tidewire import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    NeedData,
    ReceiveBuffer,
    RemoteProtocolError,
    describe,
)

from .encoding import command_arg, convert_command, unencodable, write_command
from .events import Command, MonitorOutput, Push, Reply
from .parser import Limits, ReplyParser
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

__all__ = ["ClientConnection", "ReplyReader"]

_MiB = 1024 * 1024

# Subscribe-family command -> the kind of push (RESP3) or array (RESP2) confirming it.
_FAMILIES = {
    b"SUBSCRIBE": b"subscribe",
    b"UNSUBSCRIBE": b"unsubscribe",
    b"PSUBSCRIBE": b"psubscribe",
    b"PUNSUBSCRIBE": b"punsubscribe",
    b"SSUBSCRIBE": b"ssubscribe",
    b"SUNSUBSCRIBE": b"sunsubscribe",
}
_CONFIRMATIONS = frozenset(_FAMILIES.values())
_SUBSCRIBING = frozenset((b"subscribe", b"psubscribe", b"ssubscribe"))
_MESSAGES = frozenset((b"message", b"pmessage", b"smessage"))

_NORMAL, _HELLO, _SUBSCRIBE, _MONITOR, _RESET, _QUIT = range(6)
# Parsed items that are not plain values: each needs routing.
_SPECIAL = frozenset((Push, Attributed, RemoteProtocolError))
_KINDS = {b"HELLO": _HELLO, b"MONITOR": _MONITOR, b"RESET": _RESET, b"QUIT": _QUIT}
# Commands whose name the bookkeeping looks at; command() leaves them to _send().
_STATEFUL = frozenset(_FAMILIES) | frozenset(_KINDS) | {b"CLIENT", b"MULTI", b"EXEC", b"DISCARD"}
# Longer arguments go through write_command(), which does not copy them.
_QUICK_LIMIT = 16 * 1024
_HUGE = 10**4000  # ints this large or larger are converted by decimal()
# What a transaction writes around its commands.
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"
# The types of parsed items a batch takes as they are (in RESP2 a list may be
# a pub/sub message, so there it needs routing too).
_PLAIN3 = frozenset(
    (bytes, SimpleString, ErrorReply, int, BigNumber, float, bool, type(None), Verbatim)
) | frozenset((list, dict, set, MapPairs, SetMembers))
_PLAIN2 = _PLAIN3 - {list}
# A command name as written in a batch -> its encoded blob, for the names
# seen so far (bounded: a name is usually one of a few hundred commands).
# Two tables: equal str and bytes hash alike, and comparing them warns.
_STR_NAMES: dict[str, bytes] = {}
_BYTES_NAMES: dict[bytes, bytes] = {}
_NAMES_MAX = 1024


def _end_of_stream(parser: ReplyParser, buffer: ReceiveBuffer) -> ConnectionClosed:
    if not parser.idle:
        # The end of the stream, not how far the parser happened to read.
        end = buffer.offset + len(buffer)
        raise RemoteProtocolError(
            f"the peer closed the connection inside a reply at byte {end}", offset=end
        )
    return ConnectionClosed()


class ReplyReader(Connection[Reply | Push, Event]):
    """Reads RESP2/RESP3 replies, with no requests to match them to.

    For a proxy, a test, a tool reading a dump, or anyone doing their own
    request matching. Each top-level value becomes a
    :class:`~tidewire_resp.Reply` (``request`` is ``-1``) and each push a
    :class:`~tidewire_resp.Push`; a push nested inside another reply comes
    out first, as its own event. The reader sends nothing.

    Args:
        max_bulk_length: The longest blob string, blob error, verbatim
            string or streamed string, in bytes (Redis's own default,
            512 MiB).
        max_aggregate_length: The most elements in one aggregate (pairs for
            a map).
        max_depth: The deepest nesting of aggregates.
        max_line_length: The longest line (simple string, error, number,
            header), in bytes.
        max_buffer_size: The most bytes one reply may span, so also the most
            an incomplete one keeps buffered; ``None`` for no limit. Each
            limit is a :class:`~tidewire.RemoteProtocolError` when exceeded,
            whatever the split of the input.
    """

    def __init__(
        self,
        *,
        max_bulk_length: int = 512 * _MiB,
        max_aggregate_length: int = 2**32 - 1,
        max_depth: int = 1024,
        max_line_length: int = 64 * 1024,
        max_buffer_size: int | None = 1024 * _MiB,
    ) -> None:
        # The parser applies max_buffer_size itself, to whole replies, so that
        # the verdict does not depend on how the input was split.
        super().__init__(max_buffer_size=None)
        self._parser = ReplyParser(
            self._buffer,
            Limits(
                max_bulk_length=max_bulk_length,
                max_aggregate_length=max_aggregate_length,
                max_depth=max_depth,
                max_line_length=max_line_length,
                max_buffer_size=max_buffer_size,
            ),
        )
        self._take = self._parser.ready.popleft

    def _next_event(self) -> Reply | Push | NeedData:
        try:
            item = self._take()
        except IndexError:  # the queue is empty: parse what has arrived
            if not self._parser.fill():
                return NEED_DATA
            item = self._take()
        kind = type(item)
        if kind in _SPECIAL:
            if kind is Push:
                return item  # type: ignore[no-any-return]
            if kind is Attributed:
                return Reply(item.value, item.attributes)
            raise item
        return Reply(item)

    def _send(self, event: Event) -> None:
        raise LocalProtocolError("a ReplyReader only reads; it cannot send")

    def _end_of_stream(self) -> ConnectionClosed:
        return _end_of_stream(self._parser, self._buffer)


class _Request:
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
        self.plain = kind == _NORMAL
        # For a batch (see ClientConnection.batch): the values so far, and
        # how many replies are still to come.
        self.batch: list[Any] | None = None
        self.left = 0


def _request_id(request: _Request) -> int:
    return request.id


class ClientConnection(Connection[Reply | Push | MonitorOutput, Command]):
    """The client side of a Redis connection, with pipelining and request matching.

    Send :class:`~tidewire_resp.Command` events (or call :meth:`command`)
    as fast as you like; each gets a request id, and every reply comes back
    as a :class:`~tidewire_resp.Reply` whose ``request`` is that id, in
    order. Out-of-band data never disturbs the matching:

    - RESP3 pushes, and RESP2 pub/sub messages on a subscribed connection,
      are :class:`~tidewire_resp.Push` events;
    - a ``SUBSCRIBE``-family command's confirmations (one per channel, as
      pushes in RESP3 and arrays in RESP2) are gathered into one reply,
      whose value is the list of confirmations (``[[b"subscribe", b"a", 1],
      ...]``); an ``UNSUBSCRIBE`` with no channels expects one per channel
      subscribed, or one if none;
    - after ``MONITOR`` succeeds, monitor lines are
      :class:`~tidewire_resp.MonitorOutput` events;
    - requests sent after ``CLIENT REPLY OFF``, or right after
      ``CLIENT REPLY SKIP``, expect no reply (see :meth:`is_pending`);
    - ``HELLO`` replies set :attr:`protocol`; ``RESET`` returns to RESP2,
      unsubscribed, not monitoring.

    :meth:`cancel` abandons a request without losing sync: its reply is
    read and dropped when it comes. :meth:`setup` writes the connection
    set-up commands in one go. :meth:`batch` sends a long pipeline of
    ordinary commands as one request, answered by one reply: the fastest
    way to send many. :meth:`transaction` sends ``MULTI``, commands and
    ``EXEC`` as one such unit, which no failure can leave half-written.

    A ``SUBSCRIBE``-family command inside ``MULTI`` is refused, because Redis
    breaks the framing of ``EXEC`` for it. A reply that arrives when no
    request awaits one is a :class:`~tidewire.RemoteProtocolError`. Sending
    raises :class:`~tidewire.LocalProtocolError` (and nothing else) for
    anything but a :class:`~tidewire_resp.Command` with arguments RESP can
    carry, before anything is written or recorded.

    Args:
        protocol: The protocol the connection speaks now: 2 for a new
            connection (:meth:`setup` switches to 3).
        max_bulk_length: As for :class:`ReplyReader`.
        max_aggregate_length: As for :class:`ReplyReader`.
        max_depth: As for :class:`ReplyReader`.
        max_line_length: As for :class:`ReplyReader`.
        max_buffer_size: As for :class:`ReplyReader`.

    Raises:
        ValueError: ``protocol`` is not 2 or 3.
    """

    def __init__(
        self,
        *,
        protocol: int = 2,
        max_bulk_length: int = 512 * _MiB,
        max_aggregate_length: int = 2**32 - 1,
        max_depth: int = 1024,
        max_line_length: int = 64 * 1024,
        max_buffer_size: int | None = 1024 * _MiB,
    ) -> None:
        if protocol not in (2, 3):
            raise ValueError(f"protocol must be 2 or 3, not {describe(protocol)}")
        super().__init__(max_buffer_size=None)  # the parser applies it, as above
        self._parser = ReplyParser(
            self._buffer,
            Limits(
                max_bulk_length=max_bulk_length,
                max_aggregate_length=max_aggregate_length,
                max_depth=max_depth,
                max_line_length=max_line_length,
                max_buffer_size=max_buffer_size,
            ),
        )
        self._protocol = protocol
        self._next_id = 0
        self._pending: deque[_Request] = deque()
        self._reply_off = False
        self._skip_next = False
        self._in_multi = False
        self._monitor = False
        self._channels: set[bytes] = set()
        self._patterns: set[bytes] = set()
        self._shard_channels: set[bytes] = set()

    # -- state --------------------------------------------------------------

    @property
    def protocol(self) -> int:
        """Which protocol replies are in now, 2 or 3 (set by ``HELLO`` replies)."""
        return self._protocol

    @property
    def pending(self) -> int:
        """How many requests await their reply (cancelled ones included)."""
        return len(self._pending)

    @property
    def subscriptions(self) -> tuple[frozenset[bytes], frozenset[bytes], frozenset[bytes]]:
        """The channels, patterns and shard channels subscribed, as confirmed so far."""
        return (
            frozenset(self._channels),
            frozenset(self._patterns),
            frozenset(self._shard_channels),
        )

    @property
    def in_transaction(self) -> bool:
        """Whether a ``MULTI`` was sent and its ``EXEC``, ``DISCARD`` or ``RESET`` not yet."""
        return self._in_multi

    @property
    def monitoring(self) -> bool:
        """Whether ``MONITOR`` succeeded and no ``RESET`` ended it."""
        return self._monitor

    def is_pending(self, request: int) -> bool:
        """Whether a reply to request id ``request`` is still to come.

        ``False`` right after sending means the request gets no reply at all
        (``CLIENT REPLY OFF``/``SKIP``).

        Raises:
            LocalProtocolError: ``request`` is not an int.
        """
        return self._find(request) is not None

    # -- sending ------------------------------------------------------------

    def command(self, *args: Any) -> int:
        """Send a command built from ``args``; return its request id.

        The same as :meth:`~tidewire.Connection.send` of ``Command(args)``,
        which does not return the id, and quicker for the common case.

        Raises:
            LocalProtocolError: as :meth:`~tidewire.Connection.send`.
        """
        # The common case in one pass: short bytes, str and int arguments,
        # and a command that changes no connection state tracked here. The
        # bytes written and the bookkeeping are those of _send().
        parts = [b"*%d\r\n" % len(args)]
        append = parts.append
        name = b""
        try:
            for arg in args:
                kind = type(arg)
                if kind is str:
                    arg = arg.encode()
                elif kind is int:
                    arg = b"%d" % arg
                elif kind is not bytes:
                    break
                if len(arg) >= _QUICK_LIMIT:
                    break
                if len(parts) == 1:
                    name = arg.upper()
                append(b"$%d\r\n%b\r\n" % (len(arg), arg))
            else:
                if name and name not in _STATEFUL:
                    self._write(b"".join(parts))
                    self._account(name, args, None)
                    return self._next_id - 1
        except ValueError:
            pass  # a lone surrogate, a huge int: _send() refuses or converts it
        self._send(Command(args))
        return self._next_id - 1

    def batch(self, commands: Sequence[Sequence[Any]]) -> int:
        """Send many ordinary commands at once; return one request id for them all.

        Their replies come back together: once the last one is in,
        :meth:`~tidewire.Connection.next_event` returns one
        :class:`~tidewire_resp.Reply` with this id, whose value is the list
        of the replies' values in order. An error reply is an
        :class:`~tidewire_resp.ErrorReply` in its place, and a reply that
        came with RESP3 attributes an :class:`~tidewire_resp.Attributed`.
        Pushes that arrive meanwhile are :class:`~tidewire_resp.Push` events
        of their own, as ever. The bytes written are those of
        :meth:`command` for each; what a batch saves is the work per
        command and per reply, so use it for pipelines of many commands.

        :meth:`cancel` abandons the whole batch. Right after ``CLIENT REPLY
        SKIP`` the first command gets no reply and its place in the list is
        ``None``; under ``CLIENT REPLY OFF`` none does, and no reply comes
        (:meth:`is_pending` says ``False`` at once).

        Args:
            commands: The commands, each a tuple (or list) of arguments as
                for :class:`~tidewire_resp.Command`, its name first.

        Raises:
            LocalProtocolError: no commands; a command that is not a tuple
                or list, has no arguments, or has one RESP cannot carry; or
                a command whose reply changes the state this class tracks,
                which must be sent with :meth:`command` (the ``SUBSCRIBE``
                family, ``MULTI``, ``EXEC``, ``DISCARD``, ``HELLO``,
                ``RESET``, ``QUIT``, ``MONITOR``, ``CLIENT REPLY``). Nothing
                was sent or recorded.
        """
        encoded, count = self._encode_batch(commands, "batch")
        for data in encoded:
            self._write(data)
        return self._record_batch(count)

    def transaction(self, commands: Sequence[Sequence[Any]]) -> int:
        """Send commands as one ``MULTI``/``EXEC`` transaction; return one request id for it.

        ``MULTI``, the commands and ``EXEC`` are encoded in full before
        anything is written, and are written together, so no failure can
        leave the connection inside ``MULTI``. One
        :class:`~tidewire_resp.Reply` with this id answers the whole
        transaction, once ``EXEC``'s reply is in. Its value is the list of
        every reply, as for :meth:`batch` of ``[("MULTI",), *commands,
        ("EXEC",)]``: ``MULTI``'s ``OK`` first, then each command's
        ``QUEUED`` (or the :class:`~tidewire_resp.ErrorReply` that refused
        it when queued), then ``EXEC``'s reply last. That last value is the
        list of the commands' results when the transaction ran, ``None``
        when a key under ``WATCH`` changed and it did not run, and an
        ``EXECABORT`` :class:`~tidewire_resp.ErrorReply` when a command was
        refused when queued (whose error is among the ``QUEUED`` replies).

        :meth:`cancel` abandons the whole transaction (it still runs on the
        server). ``CLIENT REPLY SKIP``/``OFF`` apply as for :meth:`batch`.

        Args:
            commands: The commands, as for :meth:`batch`: ordinary commands
                only (``WATCH`` belongs before, sent with :meth:`command`).

        Raises:
            LocalProtocolError: the connection is already inside ``MULTI``;
                or a command :meth:`batch` refuses. Nothing was sent or
                recorded.
        """
        if self._in_multi:
            raise LocalProtocolError(
                "a transaction cannot start inside MULTI: send EXEC or DISCARD first"
            )
        encoded, count = self._encode_batch(commands, "transaction")
        self._write(_MULTI)
        for data in encoded:
            self._write(data)
        self._write(_EXEC)
        return self._record_batch(count + 2)

    def _encode_batch(self, commands: Any, what: str) -> tuple[list[Any], int]:
        """The bytes of a batch's commands, all encoded before any is written.

        So a refused command leaves no trace. Large arguments are kept as
        they are, not copied into the joined bytes (as write_command() does).

        Raises:
            LocalProtocolError: as :meth:`batch` says, naming the command.
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
                    blob = self._batch_name(args)
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
                    if len(arg) < _QUICK_LIMIT:
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

    def _record_batch(self, replies: int) -> int:
        """Record a batch just written, answered by ``replies`` replies; return its id."""
        request_id = self._next_id
        self._next_id += 1
        if self._reply_off:
            return request_id
        request = _Request(request_id, _NORMAL, b"", None)
        request.plain = False
        request.batch = []
        request.left = replies
        if self._skip_next:
            self._skip_next = False
            request.batch.append(None)
            request.left -= 1
        if request.left:
            self._pending.append(request)
        return request_id

    @staticmethod
    def _batch_name(args: Sequence[Any]) -> bytes:
        """The encoded name of a command in a batch; LocalProtocolError if it cannot be one."""
        if not args:
            raise LocalProtocolError("a command needs at least one argument (its name)")
        name = bytes(command_arg(args[0]))
        upper = name.upper()
        if upper in _STATEFUL and (
            upper != b"CLIENT"
            or (len(args) > 1 and bytes(command_arg(args[1])).upper() == b"REPLY")
        ):
            what = upper.decode(errors="replace") + (" REPLY" if upper == b"CLIENT" else "")
            raise LocalProtocolError(
                f"{what} changes the state of the connection: send it with command(),"
                " not in a batch"
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

    def _send(self, event: Command) -> None:
        if type(event) is not Command:
            raise LocalProtocolError(
                f"a ClientConnection sends Command events, not {describe(event)}"
            )
        converted = convert_command(event.args)
        name = bytes(converted[0]).upper()
        family = _FAMILIES.get(name)
        if family is not None and self._in_multi:
            raise LocalProtocolError(
                f"{name.decode(errors='replace')} inside MULTI breaks the framing of EXEC;"
                " send it outside the transaction"
            )
        write_command(converted, self._write)
        self._account(name, converted, family)

    def _account(self, name: bytes, args: Sequence[Any], family: bytes | None) -> None:
        """Record what reply the request just written expects."""
        request_id = self._next_id
        self._next_id += 1
        expects = not self._reply_off
        if self._skip_next:
            expects = False
            self._skip_next = False
        if name == b"CLIENT" and len(args) == 3 and bytes(args[1]).upper() == b"REPLY":
            mode = bytes(args[2]).upper()
            if mode == b"ON":
                self._reply_off = False
                expects = True
            elif mode == b"OFF":
                self._reply_off = True
                expects = False
            elif mode == b"SKIP":
                self._skip_next = expects
                expects = False
        if self._in_multi:
            kind = _NORMAL
            if name in (b"EXEC", b"DISCARD"):
                self._in_multi = False
        elif family is not None:
            kind = _SUBSCRIBE
        else:
            kind = _KINDS.get(name, _NORMAL)
            if name == b"MULTI":
                self._in_multi = True
        if name == b"RESET":
            # RESET clears the reply mode before it answers, so it is always answered.
            self._in_multi = False
            self._reply_off = False
            self._skip_next = False
            expects = True
        if expects:
            expected = len(args) - 1 if family is not None and len(args) > 1 else None
            request = _Request(request_id, kind, family or b"", expected)
            self._pending.append(request)

    def cancel(self, request: int) -> bool:
        """Abandon request id ``request``: its reply will be read and dropped.

        The connection stays in sync: the reply is still consumed when it
        arrives, and the replies after it go to their own requests. A
        cancelled command may still have run on the server.

        Returns:
            ``True`` if the request was awaiting its reply, ``False`` if it
            had it already, expects none, or is unknown.

        Raises:
            LocalProtocolError: ``request`` is not an int; nothing changed.
        """
        entry = self._find(request)
        if entry is None:
            return False
        entry.cancelled = True
        entry.plain = False
        return True

    def setup(
        self,
        *,
        protocol: int = 3,
        username: str | bytes | None = None,
        password: str | bytes | None = None,
        client_name: str | bytes | None = None,
        db: int | None = None,
        lib_name: str | bytes | None = None,
        lib_version: str | bytes | None = None,
    ) -> list[int]:
        """Send the connection set-up commands in one write; return their request ids.

        In order: ``AUTH [username] password`` (if a password is given),
        ``HELLO 3`` (if ``protocol`` is 3), ``CLIENT SETNAME``, ``SELECT``,
        ``CLIENT SETINFO LIB-NAME`` and ``LIB-VER``, each only if asked for.
        Authenticating with ``AUTH`` rather than inside ``HELLO`` keeps the
        fall-back simple: a server that refuses ``HELLO`` (before Redis 6:
        unknown command; or ``NOPROTO``) just stays on RESP2, which
        :attr:`protocol` then says, and the other commands still work. Their
        replies arrive in order, as for any request; check each one.

        Raises:
            LocalProtocolError: a bad argument; nothing was sent.
        """
        if protocol not in (2, 3):
            raise LocalProtocolError(f"protocol must be 2 or 3, not {describe(protocol)}")
        commands: list[tuple[Any, ...]] = []
        if password is not None:
            commands.append(
                ("AUTH", password) if username is None else ("AUTH", username, password)
            )
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
        for args in commands:  # validate all before writing any
            try:
                convert_command(args)
            except LocalProtocolError as error:
                raise LocalProtocolError(f"setup(): {args[0]}: {error}") from None
        return [self.command(*args) for args in commands]

    # -- receiving ----------------------------------------------------------

    def _next_event(self) -> Reply | Push | MonitorOutput | NeedData:
        parser = self._parser
        ready = parser.ready
        pending = self._pending
        event: Reply | Push | MonitorOutput | None
        while True:
            if not ready and not parser.fill():
                return NEED_DATA
            head = pending[0] if pending else None
            if head is not None and head.batch is not None and self._gather(head, ready):
                if head.left:
                    continue
                event = self._complete(head)
                if event is not None:
                    return event
                continue
            item = ready.popleft()
            kind = type(item)
            if (
                head is not None
                and head.plain
                and kind not in _SPECIAL
                and (kind is not list or self._protocol == 3)
                and not self._monitor
            ):
                # The common case: a plain reply to an ordinary request.
                pending.popleft()
                return Reply(item, None, head.id)
            if kind is RemoteProtocolError:
                raise item
            event = self._route(item)
            if event is not None:
                return event

    def _gather(self, head: _Request, ready: deque[Any]) -> bool:
        """Move the plain values at the front of the queue into a batch; return whether any moved.

        They are checked and moved at C speed; the first item that needs
        routing (a push, attributes, in RESP2 an array) stops them.
        """
        if self._monitor:
            return False
        plain = _PLAIN3 if self._protocol == 3 else _PLAIN2
        wanted = min(head.left, len(ready))
        count = len(list(takewhile(plain.__contains__, map(type, islice(ready, wanted)))))
        if not count:
            return False
        batch: list[Any] = head.batch  # type: ignore[assignment]
        if count == len(ready):
            batch.extend(ready)
            ready.clear()
        else:
            take = ready.popleft
            batch.extend([take() for _ in range(count)])
        head.left -= count
        return True

    def _complete(self, head: _Request) -> Reply | None:
        """The reply to a batch whose last reply is in (None if it was cancelled)."""
        self._finish(head)
        if head.cancelled:
            return None
        return Reply(head.batch, None, head.id)

    def _route(self, item: Any) -> Reply | Push | MonitorOutput | None:
        pending = self._pending
        head = pending[0] if pending else None
        if type(item) is Push:
            kind = item.kind
            if kind in _CONFIRMATIONS:
                if head is not None and head.kind == _SUBSCRIBE and head.family == kind:
                    return self._confirm(head, item.data)
                self._track(item.data)  # the server unsubscribed us on its own
            return item
        attributes = None
        value = item
        if type(item) is Attributed:
            value = item.value
            attributes = item.attributes
        if self._monitor and type(value) is SimpleString and not self._ends_monitor(head, value):
            return MonitorOutput(bytes(value))
        if self._protocol == 2 and type(value) is list and value and type(value[0]) is bytes:
            first = value[0]
            if first in _MESSAGES and self._subscribed():
                return Push(value, attributes)
            if first in _CONFIRMATIONS:
                if head is not None and head.kind == _SUBSCRIBE and head.family == first:
                    return self._confirm(head, value)
                if self._subscribed():
                    self._track(value)
                    return Push(value, attributes)
        if head is None:
            raise RemoteProtocolError(
                "a reply arrived with no request waiting for it", offset=self._buffer.offset
            )
        if head.batch is not None:
            head.batch.append(item)  # with its attributes, if any: Attributed
            head.left -= 1
            return self._complete(head) if not head.left else None
        self._finish(head)
        self._effects(head, value)
        if head.cancelled:
            return None
        return Reply(value, attributes, head.id)

    def _end_of_stream(self) -> ConnectionClosed:
        return _end_of_stream(self._parser, self._buffer)

    def _find(self, request: int) -> _Request | None:
        if type(request) is not int:
            raise LocalProtocolError(f"a request id is an int, not {describe(request)}")
        # The queue is in id order: a binary search, no per-request index to keep.
        pending = self._pending
        if pending and pending[-1].id == request:
            # The request just sent, the usual question: no search (indexing
            # into the middle of a long deque is not O(1)).
            return pending[-1]
        index = bisect.bisect_left(pending, request, key=_request_id)
        if index < len(pending) and pending[index].id == request:
            return pending[index]
        return None

    def _finish(self, head: _Request) -> None:
        self._pending.popleft()

    @staticmethod
    def _ends_monitor(head: _Request | None, value: bytes) -> bool:
        return head is not None and (
            (head.kind == _RESET and value == b"RESET") or (head.kind == _QUIT and value == b"OK")
        )

    def _subscribed(self) -> bool:
        return bool(self._channels or self._patterns or self._shard_channels)

    def _confirm(self, head: _Request, data: list[Any]) -> Reply | None:
        if head.expected is None:
            # UNSUBSCRIBE with no channel: one confirmation per subscription
            # of its kind, as they stand now that the requests before it are done.
            head.expected = max(1, len(self._family_set(head.family)))
        self._track(data)
        head.confirmations.append(data)
        if len(head.confirmations) < head.expected:
            return None
        self._finish(head)
        if head.cancelled:
            return None
        return Reply(head.confirmations, None, head.id)

    def _family_set(self, kind: bytes) -> set[bytes]:
        if kind in (b"psubscribe", b"punsubscribe"):
            return self._patterns
        if kind in (b"ssubscribe", b"sunsubscribe"):
            return self._shard_channels
        return self._channels

    def _track(self, data: list[Any]) -> None:
        channel = data[1] if len(data) > 1 else None
        if type(channel) is not bytes:
            return
        target = self._family_set(data[0])
        if data[0] in _SUBSCRIBING:
            target.add(channel)
        else:
            target.discard(channel)

    def _effects(self, head: _Request, value: Any) -> None:
        """Apply what a successful reply to a state-changing command means."""
        if type(value) is ErrorReply:
            return
        if head.kind == _HELLO:
            proto = None
            if type(value) is dict:
                proto = value.get(b"proto")
            elif type(value) is list:
                for index in range(0, len(value) - 1, 2):
                    if value[index] == b"proto":
                        proto = value[index + 1]
            if proto in (2, 3):
                self._protocol = proto
        elif head.kind == _MONITOR:
            self._monitor = True
        elif head.kind == _RESET:
            self._protocol = 2
            self._monitor = False
            self._channels.clear()
            self._patterns.clear()
            self._shard_channels.clear()
