""":class:`LineProtocol`: what ``LineReceiver`` users write, dispatched from the line core."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

from tidewire import NEED_DATA, Delimiter, LocalProtocolError, ReceiveState, RemoteProtocolError
from tidewire_lines import LineConnection, LinesClosed, Mode, RawData

__all__ = ["LineProtocol"]

# The callbacks the transport calls at the end, which subclasses override
# (LineReceiver users rarely call super() in them): see __init_subclass__.
_ENDINGS = ("readConnectionLost", "connectionLost")


@implementer(IHalfCloseableProtocol)
class LineProtocol(Protocol):
    r"""A ``LineReceiver`` drop-in: subclass it the same way, get linear parsing and one limit.

    Override :meth:`lineReceived` (and :meth:`rawDataReceived` if you use
    :meth:`setRawMode`); send with :meth:`sendLine`. The splitting, the
    limit and the delimiters are the ``tidewire-lines`` core's, so:

    - Lines that arrive together cost the same per line however many there
      are (``LineReceiver`` re-copies its buffer per line: quadratic).
    - One limit however the bytes are split: a line longer than
      :attr:`MAX_LENGTH` bytes (without the delimiter) calls
      :meth:`lineLengthExceeded` after every complete line before it, as
      soon as it can no longer fit; after that nothing more is parsed (the
      stream never resynchronises on the tail of the long line).
    - The default :meth:`lineLengthExceeded` closes the connection with a
      reason: ``connectionLost(reason)`` gets a ``Failure`` of
      :class:`~tidewire.RemoteProtocolError` saying how long the line was,
      not a clean ``ConnectionDone``.
    - An unterminated last line is handed over: when the peer closes its
      side, :meth:`partialLineReceived` gets it, before ``connectionLost``.
    - Once the protocol called ``transport.loseConnection()``, no more lines
      are delivered (as ``LineReceiver``).

    It is half-closeable: when the peer closes its sending side, the rest is
    delivered, then the default :meth:`readConnectionLost` closes the
    connection (writing what is buffered first); override it to go on
    sending. :attr:`delimiter` and :attr:`MAX_LENGTH` are read when the
    first bytes arrive or the first line is sent.
    """

    delimiter: Delimiter = b"\r\n"
    """The bytes that end a line; a tuple accepts any of them and sends with the first."""

    MAX_LENGTH: int = 16384
    """The longest line accepted, in bytes, without the delimiter."""

    paused: bool = False
    """True between :meth:`pauseProducing` and :meth:`resumeProducing`: nothing is delivered."""

    _core: LineConnection | None = None
    _failure: Failure | None = None  # why the receiving side failed: connectionLost's reason
    _dispatching = False
    _ended = False  # the end of input was handled (the tail handed over)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The transport calls these on the subclass; LineReceiver users override
        # them (in the class or a mixin) without calling super(). Wrapping each
        # override makes the end of input (the last lines, the tail, the
        # overflow's reason) come first anyway.
        super().__init_subclass__(**kwargs)
        for name in _ENDINGS:
            method = getattr(cls, name)
            if not getattr(method, "_tidewire_end_first", False):
                setattr(cls, name, _end_first(method))

    # -- the callbacks to override ------------------------------------------

    def lineReceived(self, line: bytes) -> None:
        """A line arrived, without its delimiter. Override this."""
        raise NotImplementedError("override lineReceived() in a LineProtocol subclass")

    def rawDataReceived(self, data: bytes) -> None:
        """Bytes arrived in raw mode (see :meth:`setRawMode`). Override this if you use it."""
        raise NotImplementedError("override rawDataReceived() to use setRawMode()")

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line is longer than :attr:`MAX_LENGTH`; by default, close the connection.

        ``line`` is its first ``MAX_LENGTH + 1`` bytes, which prove it too
        long, whatever the split. ``connectionLost`` then gets a ``Failure`` of
        :class:`~tidewire.RemoteProtocolError` as its reason, even if an
        override closes the connection its own way. Nothing more is parsed.
        """
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def partialLineReceived(self, line: bytes) -> None:
        """The peer closed its side after ``line``, a last line without a delimiter.

        Called once, before ``connectionLost``, and never with an empty
        line. It may end with part of a multi-byte delimiter. The default
        ignores it (``LineReceiver`` always drops it); call
        ``self.lineReceived(line)`` here to treat it as a line.
        """

    # -- what the transport calls ---------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Hand ``data`` to the core and deliver what it completes; not to be overridden."""
        core = self._core or self._make_core()
        if self._failure is None:  # a failed core discards input anyway: skip the call
            core.receive_data(data)
            self._deliver()

    def readConnectionLost(self) -> None:
        """The peer closed its side: after the last lines and the tail, close the connection."""
        self._end_of_input()
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    readConnectionLost._tidewire_end_first = True  # type: ignore[attr-defined]

    def writeConnectionLost(self) -> None:
        """Our sending side closed (``loseWriteConnection``); nothing to do."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """The connection is gone: the last lines and the tail were delivered just before."""
        self._end_of_input()

    connectionLost._tidewire_end_first = True  # type: ignore[attr-defined]

    # -- what the protocol calls ----------------------------------------------

    def sendLine(self, line: bytes) -> None:
        """Write ``line`` and the (first) delimiter.

        Raises:
            LocalProtocolError: ``line`` contains a delimiter, so the peer
                would read more than one line (``LineReceiver`` sends it anyway).
        """
        data = (self._core or self._make_core()).line_bytes(line)
        transport: Any = self.transport
        if transport is not None:
            transport.write(data)

    def setRawMode(self) -> None:
        """Deliver the following bytes to :meth:`rawDataReceived`, as they come.

        Called in :meth:`lineReceived`, the rest of the current chunk is the
        first raw data: no byte is lost or parsed as a line.
        """
        (self._core or self._make_core()).set_raw_mode()

    def setLineMode(self, extra: bytes = b"") -> None:
        """Go back to lines; ``extra`` (bytes the raw handler did not use) is read first.

        ``extra`` goes after whatever is still buffered (nothing, when
        called in :meth:`rawDataReceived`, which gets every byte buffered).

        Raises:
            LocalProtocolError: ``extra`` is given after the peer's end.
        """
        core = self._core or self._make_core()
        if extra and core.receive_state is not ReceiveState.OPEN:
            raise LocalProtocolError(
                "setLineMode(extra) after the peer's end: nothing more is read"
            )
        if core.receive_state is ReceiveState.OPEN or core.receive_state is ReceiveState.EOF:
            core.set_line_mode()
            if extra:
                core.receive_data(extra)
            self._deliver()  # inside a callback, the loop already running goes on

    def clearLineBuffer(self) -> bytes:
        """Drop and return every byte received and not yet delivered (the rest of the chunk)."""
        core = self._core
        if core is None or core.receive_state in (ReceiveState.CLOSED, ReceiveState.ERROR):
            return b""
        raw = core.mode is Mode.RAW
        # Raw mode gives back the lines split but not yet delivered, so one
        # raw event holds every byte left, in order.
        core.set_raw_mode()
        event = core.next_event()
        if not raw and not isinstance(event, LinesClosed):  # nothing was left: the end
            core.set_line_mode()
        return event.data if isinstance(event, RawData) else b""

    def pauseProducing(self) -> None:
        """Deliver nothing more, and stop reading, until :meth:`resumeProducing`."""
        self.paused = True
        transport: Any = self.transport
        if transport is not None:
            transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Deliver what was held back, and read again."""
        self.paused = False
        transport: Any = self.transport
        if transport is not None:
            transport.resumeProducing()
        self._deliver()

    def stopProducing(self) -> None:
        """Deliver nothing more and stop the transport (``LineReceiver``'s behaviour)."""
        self.paused = True
        transport: Any = self.transport
        if transport is not None:
            transport.stopProducing()

    # -- the dispatch loop --------------------------------------------------

    def _make_core(self) -> LineConnection:
        self._core = LineConnection(self.delimiter, max_line_length=self.MAX_LENGTH)
        return self._core

    def _deliver(self) -> None:
        if self._dispatching or self._failure is not None:
            return  # called from a callback: the running loop picks the change up
        self._dispatching = True
        try:
            self._dispatch()
        except RemoteProtocolError as error:
            self._overflow(error)
        finally:
            self._dispatching = False

    def _dispatch(self) -> None:
        core: Any = self._core
        transport: Any = self.transport
        # Stop at a pause (except at the end: nothing could come later), or
        # once this side is closing (LineReceiver's rule).
        while not (
            (self.paused and not self._ended) or (transport is not None and transport.disconnecting)
        ):
            for line in core.lines():  # the hot path: no event per line
                self.lineReceived(line)
                if (self.paused and not self._ended) or (
                    transport is not None and transport.disconnecting
                ):
                    return
            event = core.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, LinesClosed):
                if event.leftover:
                    self.partialLineReceived(event.leftover)
                return
            if isinstance(event, RawData):
                self.rawDataReceived(event.data)
            else:  # a Line: lines() stops only at raw mode, so only a mode switch back gets here
                self.lineReceived(event.line)

    def _overflow(self, error: RemoteProtocolError) -> None:
        self._failure = Failure(error)  # type: ignore[no-untyped-call]
        self.lineLengthExceeded(self._long_line())

    def _long_line(self) -> bytes:
        # The core keeps the long line at the front of what it has not parsed;
        # its first MAX_LENGTH + 1 bytes are all line, whatever the split.
        core = cast(LineConnection, self._core)
        return core.peek_unparsed(core.max_line_length + 1)

    def _end_of_input(self) -> None:
        """Deliver the rest and the tail (once), whatever paused the protocol."""
        if self._ended:
            return
        self._ended = True
        core = self._core
        if core is None or self._failure is not None:
            return
        core.receive_eof()
        self._deliver()


def _end_first(method: Callable[..., None]) -> Callable[..., None]:
    """Wrap an override of an ending callback: the end of input is handled first."""

    @functools.wraps(method)
    def ending(self: LineProtocol, *args: Any, **kwargs: Any) -> None:
        self._end_of_input()
        failure = self._failure
        if failure is not None and method.__name__ == "connectionLost":
            reason = args[0] if args else kwargs.pop("reason", connectionDone)
            if isinstance(reason, Failure) and reason.check(ConnectionDone):  # type: ignore[no-untyped-call]
                reason = failure  # say why we closed: the line was too long
            args = (reason, *args[1:])
        method(self, *args, **kwargs)

    ending._tidewire_end_first = True  # type: ignore[attr-defined]
    return ending
