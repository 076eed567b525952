"""Client-side connections: a reply reader, and a pipelining client.

:class:`ReplyReader` turns a stream of replies into :class:`~tidewire_resp.Reply`
and :class:`~tidewire_resp.Push` events, matching them to nothing.
:class:`ClientConnection` also sends commands and matches every reply to the
request it answers, through pipelining, pushes, pub/sub in both protocols,
``MULTI``/``EXEC``, ``CLIENT REPLY`` and ``MONITOR``, and lets the
application abandon a request without losing sync.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import islice, takewhile
from typing import Any

from tidewire import NEED_DATA, LocalProtocolError, NeedData, RemoteProtocolError, describe

from .batching import QUICK_LIMIT, STATEFUL, encode_batch
from .encoding import convert_command, write_command
from .events import Command, Message, MonitorOutput, Push, Reply
from .pubsub import CONFIRMATIONS, FAMILIES, MESSAGES, Subscriptions
from .reader import SPECIAL, MiB, ReplyConnection
from .requests import (
    HELLO,
    KINDS,
    MONITOR,
    NORMAL,
    RESET,
    SUBSCRIBE,
    Request,
    ends_monitor,
    find_request,
    hello_protocol,
    in_multi_after,
    setup_commands,
)
from .values import Attributed, BigNumber, ErrorReply, MapPairs, SetMembers, SimpleString, Verbatim

__all__ = ["ClientConnection"]

# What a transaction writes around its commands.
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"
# The types of parsed items a batch takes as they are (in RESP2 a list may be
# a pub/sub message, so there it needs routing too).
_PLAIN3 = frozenset(
    (bytes, SimpleString, ErrorReply, int, BigNumber, float, bool, type(None), Verbatim)
) | frozenset((list, dict, set, MapPairs, SetMembers))
_PLAIN2 = _PLAIN3 - {list}
# A refused HELLO (a server before Redis 6, or NOPROTO) means: stay on RESP2.
_HELLO_REFUSALS = ("NOPROTO", "ERR unknown command")


class ClientConnection(ReplyConnection[Reply | Push | Message | MonitorOutput, Command]):
    """The client side of a Redis connection, with pipelining and request matching.

    Send :class:`~tidewire_resp.Command` events (or call :meth:`command`)
    as fast as you like; each gets a request id, and every reply comes back
    as a :class:`~tidewire_resp.Reply` whose ``request`` is that id, in
    order. Out-of-band data never disturbs the matching: pub/sub messages
    are :class:`~tidewire_resp.Message` events, other pushes
    :class:`~tidewire_resp.Push` events, ``MONITOR`` lines
    :class:`~tidewire_resp.MonitorOutput` events; a ``SUBSCRIBE``-family
    command's confirmations are gathered into its one reply; ``CLIENT
    REPLY OFF``/``SKIP``, ``HELLO`` and ``RESET`` are tracked (the
    package's guide says how).

    :meth:`cancel` abandons a request without losing sync. :meth:`batch`
    and :meth:`transaction` send many commands as one request answered by
    one reply; :meth:`send_all` sends any commands, checked as a whole;
    :meth:`setup` and :meth:`setup_error` open a connection.

    A ``SUBSCRIBE``-family command inside ``MULTI`` is refused (Redis
    breaks the framing of ``EXEC`` for it). A reply with no request
    awaiting it is a :class:`~tidewire.RemoteProtocolError`. Sending raises
    :class:`~tidewire.LocalProtocolError` (and nothing else) before anything
    is written or recorded.

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
        max_bulk_length: int = 512 * MiB,
        max_aggregate_length: int = 2**32 - 1,
        max_depth: int = 1024,
        max_line_length: int = 64 * 1024,
        max_buffer_size: int | None = 1024 * MiB,
    ) -> None:
        if protocol not in (2, 3):
            raise ValueError(f"protocol must be 2 or 3, not {describe(protocol)}")
        super().__init__(
            max_bulk_length=max_bulk_length,
            max_aggregate_length=max_aggregate_length,
            max_depth=max_depth,
            max_line_length=max_line_length,
            max_buffer_size=max_buffer_size,
        )
        self._protocol = protocol
        self._next_id = 0
        self._pending: deque[Request] = deque()
        self._reply_off = False
        self._skip_next = False
        self._in_multi = False
        self._monitor = False
        self._subs = Subscriptions()
        self._hello = -1  # the id of setup()'s HELLO

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
        subs = self._subs
        return frozenset(subs.channels), frozenset(subs.patterns), frozenset(subs.shard_channels)

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
        return find_request(self._pending, request) is not None

    # -- sending ------------------------------------------------------------

    def command(self, *args: Any) -> int:
        """Send a command built from ``args``; return its request id.

        The same as :meth:`~tidewire.Connection.send` of ``Command(args)``,
        which does not return the id, and quicker for the common case.

        Raises:
            LocalProtocolError: as :meth:`~tidewire.Connection.send`.
        """
        if not self._quick(args):
            self._send(Command(args))
        return self._next_id - 1

    @property
    def last_request(self) -> int:
        """The id of the request sent last (``-1`` before any): what ``send()`` gave it."""
        return self._next_id - 1

    def _quick(self, args: tuple[Any, ...]) -> bool:
        """Send the common command in one pass; return False (nothing done) for the others.

        Short bytes, str and int arguments, and a command that changes no
        state tracked here: the bytes and bookkeeping are those of _send().
        """
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
                if len(arg) >= QUICK_LIMIT:
                    break
                if len(parts) == 1:
                    name = arg.upper()
                append(b"$%d\r\n%b\r\n" % (len(arg), arg))
            else:
                if name and name not in STATEFUL:
                    self._write(b"".join(parts))
                    self._account(name, args, None)
                    return True
        except ValueError:
            pass  # a lone surrogate, a huge int: _send() refuses or converts it
        return False

    def batch(self, commands: Sequence[Sequence[Any]]) -> int:
        """Send many ordinary commands at once; return one request id for them all.

        Once the last reply is in, one :class:`~tidewire_resp.Reply` with
        this id comes, whose value is the list of the replies' values in
        order (errors as :class:`~tidewire_resp.ErrorReply`, values with
        attributes as :class:`~tidewire_resp.Attributed`). The bytes are
        those of :meth:`command` for each; the work per reply is less.
        :meth:`cancel` abandons the whole batch. After ``CLIENT REPLY
        SKIP`` the first place is ``None``; under ``OFF`` no reply comes.

        Args:
            commands: The commands, each a tuple (or list) of arguments as
                for :class:`~tidewire_resp.Command`, its name first.

        Raises:
            LocalProtocolError: no commands; a command that is not a tuple
                or list, or has an argument RESP cannot carry; a command that
                changes the state tracked here (``MULTI``, ``SUBSCRIBE``,
                ``CLIENT REPLY``...: send those with :meth:`send_all`).
                Nothing was sent or recorded.
        """
        encoded, count = encode_batch(commands, "batch")
        for data in encoded:
            self._write(data)
        return self._record_batch(count)

    def transaction(self, commands: Sequence[Sequence[Any]]) -> int:
        """Send commands as one ``MULTI``/``EXEC`` transaction; return one request id for it.

        All of it is encoded before anything is written, so no failure can
        leave the connection inside ``MULTI``. One
        :class:`~tidewire_resp.Reply` answers it, as :meth:`batch` of
        ``[("MULTI",), *commands, ("EXEC",)]`` would: ``OK``, each
        ``QUEUED`` (or error), then ``EXEC``'s reply;
        :func:`~tidewire_resp.transaction_result` reads it. :meth:`cancel`
        abandons it (it still runs on the server).

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
        encoded, count = encode_batch(commands, "transaction")
        self._write(_MULTI)
        for data in encoded:
            self._write(data)
        self._write(_EXEC)
        return self._record_batch(count + 2)

    def _record_batch(self, replies: int) -> int:
        """Record a batch just written, answered by ``replies`` replies; return its id."""
        request_id = self._next_id
        self._next_id += 1
        if self._reply_off:
            return request_id
        request = Request(request_id, NORMAL, b"", None)
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

    def _send(self, event: Command) -> None:
        if type(event) is not Command:
            raise LocalProtocolError(
                f"a ClientConnection sends Command events, not {describe(event)}"
            )
        if type(event.args) is tuple and self._quick(event.args):
            return
        converted = convert_command(event.args)
        name = bytes(converted[0]).upper()
        in_multi_after(name, self._in_multi)  # raises for SUBSCRIBE inside MULTI
        write_command(converted, self._write)
        self._account(name, converted, FAMILIES.get(name))

    def send_all(self, commands: Sequence[Sequence[Any]]) -> list[int]:
        """Send any commands back to back, checked as a whole first; return their ids.

        Unlike :meth:`batch`, any command may be among them (``MULTI``,
        ``WATCH``, the ``SUBSCRIBE`` family...), each a request of its own
        with its own reply. Nothing is written unless every one can be, so
        no refusal leaves a ``MULTI`` open behind it.

        Raises:
            LocalProtocolError: a command that is not a tuple or list, or
                that :meth:`~tidewire.Connection.send` would refuse where it
                stands (an argument RESP cannot carry, a ``SUBSCRIBE`` after
                a ``MULTI``); it is named, and nothing was sent or recorded.
        """
        checked = []
        in_multi = self._in_multi
        for index, args in enumerate(commands):
            try:
                if type(args) is not tuple and type(args) is not list:
                    raise LocalProtocolError(
                        f"a command is a tuple or list of arguments, not {describe(args)}"
                    )
                converted = convert_command(tuple(args))
                name = bytes(converted[0]).upper()
                in_multi = in_multi_after(name, in_multi)
            except LocalProtocolError as error:
                raise LocalProtocolError(f"command {index}: {error}") from None
            checked.append((name, converted))
        first = self._next_id
        for name, converted in checked:
            write_command(converted, self._write)
            self._account(name, converted, FAMILIES.get(name))
        return list(range(first, self._next_id))

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
            kind = NORMAL
        elif family is not None:
            kind = SUBSCRIBE
        else:
            kind = KINDS.get(name, NORMAL)
        self._in_multi = in_multi_after(name, self._in_multi)
        if name == b"RESET":
            # RESET clears the reply mode before it answers, so it is always answered.
            self._reply_off = False
            self._skip_next = False
            expects = True
        if expects:
            expected = len(args) - 1 if family is not None and len(args) > 1 else None
            request = Request(request_id, kind, family or b"", expected)
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
        entry = find_request(self._pending, request)
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
        replies arrive in order, as for any request; give them to
        :meth:`setup_error` for the outcome.

        Raises:
            LocalProtocolError: a bad argument; nothing was sent.
        """
        commands = setup_commands(
            protocol, username, password, client_name, db, lib_name, lib_version
        )
        try:
            ids = self.send_all(commands)
        except LocalProtocolError as error:
            raise LocalProtocolError(f"setup(): {error}") from None
        self._hello = ids[commands.index(("HELLO", 3))] if protocol == 3 else -1
        return ids

    def setup_error(self, replies: Sequence[Reply]) -> ErrorReply | None:
        """The error that failed the set-up, given the replies to :meth:`setup`'s requests.

        ``None`` when it succeeded. A refused ``HELLO`` (a server before
        Redis 6, or ``NOPROTO``) is no failure: the connection stays on
        RESP2, as :attr:`protocol` says. Otherwise the first error reply
        (a wrong password, a database out of range...).
        """
        for reply in replies:
            value = reply.value
            if type(value) is ErrorReply and not (
                reply.request == self._hello and value.message.startswith(_HELLO_REFUSALS)
            ):
                return value
        return None

    # -- receiving ----------------------------------------------------------

    def _next_event(self) -> Reply | Push | Message | MonitorOutput | NeedData:
        parser = self._parser
        ready = parser.ready
        pending = self._pending
        event: Reply | Push | Message | MonitorOutput | None
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
                and kind not in SPECIAL
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

    def _gather(self, head: Request, ready: deque[Any]) -> bool:
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

    def _complete(self, head: Request) -> Reply | None:
        """The reply to a batch whose last reply is in (None if it was cancelled)."""
        self._finish(head)
        if head.cancelled:
            return None
        return Reply(head.batch, None, head.id)

    def _route(self, item: Any) -> Reply | Push | Message | MonitorOutput | None:
        pending = self._pending
        head = pending[0] if pending else None
        if type(item) is Push:
            kind = item.kind
            if kind in CONFIRMATIONS:
                if head is not None and head.kind == SUBSCRIBE and head.family == kind:
                    return self._confirm(head, item.data)
                self._subs.track(item.data)  # the server unsubscribed us on its own
            elif kind in MESSAGES:
                return Message.from_data(item.data) or item
            return item
        attributes = None
        value = item
        if type(item) is Attributed:
            value = item.value
            attributes = item.attributes
        if self._monitor and type(value) is SimpleString and not ends_monitor(head, value):
            return MonitorOutput(bytes(value))
        if self._protocol == 2 and type(value) is list and value and type(value[0]) is bytes:
            first = value[0]
            if first in MESSAGES and self._subs:
                return Message.from_data(value) or Push(value, attributes)
            if first in CONFIRMATIONS:
                if head is not None and head.kind == SUBSCRIBE and head.family == first:
                    return self._confirm(head, value)
                if self._subs:
                    self._subs.track(value)
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

    def _finish(self, head: Request) -> None:
        self._pending.popleft()

    def _confirm(self, head: Request, data: list[Any]) -> Reply | None:
        if head.expected is None:
            # UNSUBSCRIBE with no channel: one confirmation per subscription
            # of its kind, as they stand now that the requests before it are done.
            head.expected = max(1, len(self._subs.of(head.family)))
        self._subs.track(data)
        head.confirmations.append(data)
        if len(head.confirmations) < head.expected:
            return None
        self._finish(head)
        if head.cancelled:
            return None
        return Reply(head.confirmations, None, head.id)

    def _effects(self, head: Request, value: Any) -> None:
        """Apply what a successful reply to a state-changing command means."""
        if type(value) is ErrorReply:
            return
        if head.kind == HELLO:
            self._protocol = hello_protocol(value) or self._protocol
        elif head.kind == MONITOR:
            self._monitor = True
        elif head.kind == RESET:
            self._protocol = 2
            self._monitor = False
            self._subs.clear()
