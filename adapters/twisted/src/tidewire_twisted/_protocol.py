"""The Twisted end of an EventStream: the Protocol, the senders' queue and the timer."""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import alsoProvides, implementer  # type: ignore[import-untyped]

from tidewire.flow import FlowControl

if TYPE_CHECKING:
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    from .stream import EventStream

_LINGER_ZERO = struct.pack("ii", 1, 0)


def is_tls(transport: object) -> TypeGuard[TLSMemoryBIOProtocol]:
    """Whether Twisted's TLS wraps the transport, without importing pyOpenSSL.

    A TLS transport exists only once ``twisted.protocols.tls`` was imported,
    and plain TCP must not need pyOpenSSL (the ``tls`` extra).
    """
    tls = sys.modules.get("twisted.protocols.tls")
    return tls is not None and isinstance(transport, tls.TLSMemoryBIOProtocol)


@implementer(IPushProducer, IHalfCloseableProtocol)
class StreamProtocol(Protocol):
    """The transport's callbacks for one stream; they only record and wake.

    It is also the streaming producer registered on the transport, so the
    transport's ``pauseProducing``/``resumeProducing`` tell the stream when
    its write buffer is full and when it drained. Over TLS it also listens
    for the end of the handshake: it says so only then, because a client
    endpoint's wrapper passes on one of these interfaces only.
    """

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        self._stream = stream

    def connectionMade(self) -> None:
        transport = self.transport
        if is_tls(transport):
            alsoProvides(self, IHandshakeListener)  # asked for when the handshake is done
            between = transport.wrappedProtocol
            if between is not self and hasattr(between, "handshakeCompleted"):
                # An "ssl:" client endpoint puts its wrapper between TLS and us;
                # it passes the call on, but said it would not when it was made.
                alsoProvides(between, IHandshakeListener)
        self._stream._attach(transport)

    def dataReceived(self, data: bytes) -> None:
        self._stream._on_data(data)

    def readConnectionLost(self) -> None:
        self._stream._on_eof()

    def writeConnectionLost(self) -> None:
        pass

    def handshakeCompleted(self) -> None:
        self._stream._on_ready()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stream._on_lost(reason)

    # IPushProducer: the transport's write buffer crossed its marks.
    def pauseProducing(self) -> None:
        self._stream._flow.pause_writing()

    def resumeProducing(self) -> None:
        self._stream._on_resume_writing()

    def stopProducing(self) -> None:
        pass


class Turns:
    """Waiting senders, first come first served; a cancelled one leaves the line.

    Each turn is an action run when writing is not paused: sending an
    event, or nothing (``drain()``). A turn's Deferred fires with what the
    action returned, or fails with what it raised.
    """

    def __init__(self) -> None:
        self._queue: collections.deque[tuple[Deferred[Any], Callable[[], Any]]] = (
            collections.deque()
        )

    def __len__(self) -> int:
        return len(self._queue)

    def now_or_later(self, paused: bool, action: Callable[[], Any]) -> Deferred[Any]:
        """Run ``action`` now if nobody waits and writing is not paused, else queue it."""
        if not paused and not self._queue:
            try:
                return succeed(action())
            except Exception:
                return fail()
        waiter: Deferred[Any] = Deferred(self._leave)
        self._queue.append((waiter, action))
        return waiter

    def _leave(self, waiter: Deferred[Any]) -> None:
        for entry in self._queue:
            if entry[0] is waiter:
                self._queue.remove(entry)  # it sent nothing: the others keep their order
                return

    def run(self, paused: Callable[[], bool]) -> None:
        """Run waiting actions in order while writing is not paused."""
        while self._queue and not paused():
            waiter, action = self._queue.popleft()
            try:
                result = action()
            except Exception:
                waiter.errback()
            else:
                waiter.callback(result)

    def fail_all(self, exc: Exception) -> None:
        """Fail every waiting sender with ``exc``; nothing of theirs was written."""
        queue, self._queue = self._queue, collections.deque()
        for waiter, _action in queue:
            waiter.errback(exc)


class Alarm:
    """One ``callLater`` at the deadline of a :class:`~tidewire.flow.FlowControl`."""

    def __init__(
        self,
        flow: FlowControl[Any, Any],
        clock: Callable[[], IReactorTime],
        fired: Callable[[], None],
    ) -> None:
        self._flow = flow
        self._clock = clock  # the reactor, looked up only when a core has a timer
        self._fired = fired
        self._call: Any = None  # an IDelayedCall

    def check(self) -> None:
        """Ask the core for its deadline; move the wake-up if it changed."""
        if self._flow.timer_changed():
            self._reschedule()

    def _reschedule(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        deadline = self._flow.timer
        if deadline is not None:
            clock: Any = self._clock()
            self._call = clock.callLater(max(0.0, deadline - clock.seconds()), self._fire)

    def _fire(self) -> None:
        self._call = None
        clock: Any = self._clock()
        self._flow.fire_timer(clock.seconds())
        self._fired()

    def stop(self) -> None:
        """No wake-up any more."""
        self._flow.stop_timer()
        self._reschedule()


def abort_transport(transport: Any) -> None:
    """Close ``transport`` at once, with a TCP reset where the socket allows it."""
    handle = transport.getHandle() if hasattr(transport, "getHandle") else None
    if isinstance(handle, socket.socket) and handle.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abortConnection()
