"""The generic binding: any :class:`tidewire.Connection` over a Twisted transport.

The decisions (when to read, when to parse, what to feed the core, when its
timer is due) are :class:`tidewire.flow.FlowControl`'s, shared by every
adapter; this module is the Twisted glue: the Protocol, Deferreds, the
producer/consumer flow, and one ``callLater`` on the reactor's clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, Self, TypeVar, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IAddress, IReactorTime, ITransport
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from tidewire import NEED_DATA, Connection, ConnectionClosed, Event, NeedData, ReceiveState
from tidewire.flow import DEFAULT_READ_HIGH_WATER, FlowControl

from ._protocol import Alarm, StreamProtocol, Turns, abort_transport, is_tls
from .errors import ConnectionLostError, StreamClosedError

__all__ = ["DEFAULT_READ_HIGH_WATER", "EventStream"]


ReceivedT = TypeVar("ReceivedT", bound=Event)
SentT = TypeVar("SentT", bound=Event)


def default_reactor() -> IReactorTime:
    """The global reactor, imported only when needed (so it can be chosen first)."""
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


class EventStream(Generic[ReceivedT, SentT]):
    """A tidewire core running over a Twisted transport; every wait is a Deferred.

    Made by :func:`~tidewire_twisted.connect` or handed to a
    :func:`~tidewire_twisted.serve` handler; or build one and give
    :attr:`protocol` to an endpoint or ``reactor.connectTCP``. Receiving is
    lazy, backpressure holds both ways (the transport is paused while
    received bytes wait; senders wait while the transport's buffer is
    full), a cancelled Deferred changed nothing, and the core's timer runs
    on the reactor's clock: see the adapter's guide for the whole contract.

    Args:
        connection: The core; the stream feeds it and drains its output.
        read_high_water: Pause the transport when more received bytes wait unparsed.
        read_low_water: Resume it at this many; a quarter of the high mark by default.
        write_high_water: The transport's ``bufferSize``, above which
            :meth:`send` waits; ``None`` keeps Twisted's (64 KiB).
        write_low_water: Accepted for symmetry with the other adapters:
            Twisted resumes its producer once the buffer is empty.
        reactor: The :class:`~twisted.internet.interfaces.IReactorTime`
            for the core's timer (a ``task.Clock`` in tests); the global
            reactor by default.

    Raises:
        ValueError: a negative mark, or ``read_low_water > read_high_water``.
    """

    def __init__(
        self,
        connection: Connection[ReceivedT, SentT],
        *,
        read_high_water: int = DEFAULT_READ_HIGH_WATER,
        read_low_water: int | None = None,
        write_high_water: int | None = None,
        write_low_water: int | None = None,
        reactor: IReactorTime | None = None,
    ) -> None:
        if min(write_high_water or 0, write_low_water or 0) < 0:
            raise ValueError("write water marks must not be negative")
        self._flow = FlowControl(
            connection, read_high_water=read_high_water, read_low_water=read_low_water
        )
        self._connection = connection
        self._write_high_water = write_high_water
        self._reactor = reactor
        self._protocol = StreamProtocol(self)
        self._turns = Turns()
        self._alarm = Alarm(self._flow, self._clock, self._on_timer)
        self._transport: Any = None
        self._lost = False
        self._lost_reason: Failure | None = None  # None: the peer closed cleanly
        self._closed = False  # closed on this side
        self._read_paused = False
        self._read_waiter: Deferred[Any] | None = None
        self._lost_waiters: list[Deferred[None]] = []
        self._ready: bool | Failure = False  # usable (TLS: handshake done), or why never
        self._ready_waiters: list[Deferred[EventStream[ReceivedT, SentT]]] = []

    def _clock(self) -> IReactorTime:
        return self._reactor if self._reactor is not None else default_reactor()

    # -- state ----------------------------------------------------------------

    @property
    def connection(self) -> Connection[ReceivedT, SentT]:
        """The core. Call its methods between events, then :meth:`write_pending`."""
        return self._connection

    @property
    def protocol(self) -> Protocol:
        """The Protocol to connect to a transport; a stream takes one transport."""
        return self._protocol

    @property
    def transport(self) -> ITransport | None:
        """The transport, or ``None`` before one is attached."""
        return cast(ITransport | None, self._transport)

    @property
    def closed(self) -> bool:
        """Whether the stream is unusable (closed on this side, or the connection is gone)."""
        return self._closed or self._lost

    @property
    def read_backlog(self) -> int:
        """Bytes received and not yet handed to the core."""
        return self._flow.backlog

    @property
    def reading_paused(self) -> bool:
        """True while the transport is paused because received bytes wait (backpressure)."""
        return self._read_paused

    @property
    def write_backlog(self) -> int:
        """Bytes written and not yet sent, as far as the transport's buffer tells."""
        transport = None if self._lost else self._transport  # lost: nothing more leaves
        while transport is not None:
            if hasattr(transport, "dataBuffer"):  # a FileDescriptor: TCP, Unix
                size: int = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
                return size
            transport = getattr(transport, "transport", None)  # under TLS
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return ``name`` about the transport, or ``default``.

        Names: ``peername`` and ``sockname`` (as asyncio gives them: a
        ``(host, port)`` tuple or a Unix path), ``peer`` and ``host`` (the
        :class:`~twisted.internet.interfaces.IAddress` objects), ``socket``,
        and over TLS ``ssl_object`` (the ``OpenSSL.SSL.Connection``) and
        ``peercert``.
        """
        transport = self._transport
        if transport is None:
            return default
        tls = is_tls(transport)
        getters: dict[str, Callable[[], Any]] = {
            "peer": transport.getPeer,
            "host": transport.getHost,
            "peername": lambda: _address(transport.getPeer()),
            "sockname": lambda: _address(transport.getHost()),
            "socket": lambda: _socket(transport),
        }
        if tls:
            getters["ssl_object"] = transport.getHandle
            getters["peercert"] = transport.getPeerCertificate
        getter = getters.get(name)
        value = None if getter is None else getter()
        return default if value is None else value

    # -- transport callbacks --------------------------------------------------

    def _attach(self, transport: Any) -> None:
        if self._transport is not None:
            transport.abortConnection()
            raise RuntimeError("an EventStream accepts only one transport")
        self._transport = transport
        inner = transport  # the socket's own transport, under TLS if any
        while inner is not None and not hasattr(inner, "bufferSize"):
            inner = getattr(inner, "transport", None)
        if inner is not None and self._write_high_water is not None:
            inner.bufferSize = self._write_high_water
        if hasattr(inner, "setTcpNoDelay"):
            # As asyncio and trio do: a small answer leaves at once instead of
            # waiting, under Nagle's algorithm, for the peer's delayed ACK.
            with contextlib.suppress(OSError):  # a Unix socket has no such option
                inner.setTcpNoDelay(True)
        transport.registerProducer(self._protocol, True)
        self._write(self._connection.data_to_send())  # a core may speak first
        self._alarm.check()
        if not is_tls(transport):
            self._on_ready()  # over TLS: once the handshake is done

    def _when_ready(self) -> Deferred[EventStream[ReceivedT, SentT]]:
        """A Deferred firing with the stream once usable (TLS: after the handshake)."""
        if self._ready is True:
            return succeed(self)
        if isinstance(self._ready, Failure):
            return fail(self._ready)
        waiter: Deferred[EventStream[ReceivedT, SentT]] = Deferred(lambda _: self.abort())
        self._ready_waiters.append(waiter)
        return waiter

    def _on_ready(self, outcome: bool | Failure = True) -> None:
        if self._ready is not False:
            return
        self._ready = outcome
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            if waiter.called:  # cancelled
                continue
            if isinstance(outcome, Failure):
                waiter.errback(outcome)
            else:
                waiter.callback(self)

    def _on_data(self, data: bytes) -> None:
        if self._closed:
            return  # TLS may deliver data while it flushes our close: nobody will read it
        flow = self._flow
        flow.data_received(data)
        if not flow.reading and not self._read_paused:
            self._set_reading(False)
        self._deliver()

    def _on_eof(self) -> None:
        self._flow.eof_received()
        self._deliver()

    def _on_resume_writing(self) -> None:
        self._flow.resume_writing()
        self._turns.run(lambda: self._flow.writing_paused)
        self._deliver()

    def _on_lost(self, reason: Failure) -> None:
        self._lost = True
        clean = isinstance(reason.value, ConnectionDone)
        self._lost_reason = None if clean else reason
        self._alarm.stop()
        self._flow.resume_writing()  # nothing will drain any more
        self._on_ready(reason)  # if never usable: a refused TLS handshake, say
        self._turns.fail_all(self._broken())
        waiters, self._lost_waiters = self._lost_waiters, []
        for waiter in waiters:
            if not waiter.called:
                waiter.callback(None)
        self._deliver()

    def _set_reading(self, reading: bool) -> None:
        transport = self._transport
        if transport is not None and not self._lost:
            self._read_paused = not reading
            transport.resumeProducing() if reading else transport.pauseProducing()

    def _broken(self) -> Exception:
        connection = self._connection
        # The peer's clean end, if the core saw it (it repeats its closing event).
        ended = connection.receive_state is ReceiveState.CLOSED
        event = cast(ConnectionClosed, connection.next_event()) if ended else None
        if self._closed:
            return StreamClosedError("the stream was closed on this side", event)
        reason = self._lost_reason
        if reason is None:
            return ConnectionLostError("the connection was closed before the peer finished", event)
        cause = reason.value
        error = ConnectionLostError(
            f"the connection was lost: {cause or type(cause).__name__}", event
        )
        error.__cause__ = cause
        return error

    def _check_usable(self) -> Any:
        if self._closed or self._lost:
            raise self._broken()
        if self._transport is None:
            raise RuntimeError("the stream has no transport yet")
        return self._transport

    # -- receiving ------------------------------------------------------------

    def receive(self) -> Deferred[ReceivedT | ConnectionClosed]:
        """Return a Deferred for the next event (after the peer's clean end: its closing event).

        One receive may wait at a time; cancelling it consumed nothing.

        Raises:
            RemoteProtocolError: the peer broke the protocol or a limit (what
                the core owed the peer was written first); raised again later.
            ConnectionLostError: the connection broke, after every complete
                event received before it.
            StreamClosedError: the stream was closed on this side.
            RuntimeError: another receive is waiting.
        """
        if self._read_waiter is not None:
            return fail(RuntimeError("another receive() is already waiting on this stream"))
        try:
            event = self._try_pull()
        except Exception:
            return fail()
        if event is not NEED_DATA:
            return succeed(event)
        waiter: Deferred[Any] = Deferred(self._stop_waiting)
        self._read_waiter = waiter
        return waiter

    def _stop_waiting(self, waiter: Deferred[Any]) -> None:
        if self._read_waiter is waiter:
            self._read_waiter = None  # nothing was parsed for it

    def receive_nowait(self) -> ReceivedT | ConnectionClosed | NeedData:
        """Return the next event already received, or :data:`~tidewire.NEED_DATA`; never waits.

        Raises:
            RemoteProtocolError: as :meth:`receive`.
            ConnectionLostError: as :meth:`receive`.
            StreamClosedError: as :meth:`receive`.
            RuntimeError: a :meth:`receive` is waiting.
        """
        if self._read_waiter is not None:
            raise RuntimeError("another receive() is already waiting on this stream")
        return self._try_pull()

    def _try_pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        if self._flow.output_blocked and not self._closed:
            return NEED_DATA  # our replies must leave before we parse on
        return self._pull()

    def _deliver(self) -> None:
        waiter = self._read_waiter
        if waiter is None:
            return
        try:
            event = self._try_pull()
        except Exception:
            self._read_waiter = None
            waiter.errback()
            return
        if event is not NEED_DATA:
            self._read_waiter = None
            waiter.callback(event)

    def _pull(self) -> ReceivedT | ConnectionClosed | NeedData:
        if self._closed:
            raise self._broken()
        flow = self._flow
        try:
            event = flow.next_event()
        except BaseException:
            self._write(flow.replies())  # what the core owes the peer on error
            raise
        data = flow.replies()
        if data:
            self._write(data)
        if flow.timed:
            self._alarm.check()
        if self._read_paused and flow.reading:
            self._set_reading(True)
        if event is not NEED_DATA:
            return event
        if self._lost:
            raise self._broken()
        return NEED_DATA

    def __aiter__(self) -> EventStream[ReceivedT, SentT]:
        """Iterate over received events until the peer closes cleanly (in ``async def``)."""
        return self

    async def __anext__(self) -> ReceivedT:
        """Return the next event; stop (without yielding it) at the closing event."""
        event = await self.receive()
        if isinstance(event, ConnectionClosed):
            raise StopAsyncIteration
        return event

    # -- sending --------------------------------------------------------------

    def send(self, event: SentT) -> Deferred[None]:
        """Serialise ``event`` and write it whole, first waiting while the transport is full.

        Waiting senders go one at a time, in order; a cancelled one sent nothing.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        return self._turns.now_or_later(self._flow.writing_paused, partial(self._send_now, event))

    def send_nowait(self, event: SentT) -> None:
        """Serialise ``event`` and write it now, without waiting (ahead of waiting senders).

        Twisted gathers what is written in one reactor turn into one system
        call; bound a loop of these with :meth:`drain`.

        Raises:
            LocalProtocolError: the core refused the event; nothing changed.
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        self._send_now(event)

    def _send_now(self, event: SentT) -> None:
        self._check_usable()
        connection = self._connection
        connection.send(event)
        self._write(connection.data_to_send())
        if self._flow.timed:
            self._alarm.check()

    def _write(self, data: bytes) -> None:
        if data and self._transport is not None and not self._lost:
            self._transport.write(data)

    def write_pending(self) -> None:
        """Write what the core queued by itself (after calling one of its methods)."""
        if not self._closed:
            self._write(self._flow.replies())
            self._alarm.check()

    def drain(self) -> Deferred[None]:
        """Return a Deferred firing once the transport wants more (after earlier waiting senders).

        Raises:
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        return self._turns.now_or_later(self._flow.writing_paused, self._check_drained)

    def _check_drained(self) -> None:
        self._check_usable()

    def send_eof(self) -> Deferred[None]:
        """Close our sending side (a TCP half-close), after earlier sends.

        Raises:
            NotImplementedError: the transport cannot half-close (TLS).
            ConnectionLostError: the connection is broken.
            StreamClosedError: the stream was closed on this side.
        """
        return self._turns.now_or_later(self._flow.writing_paused, self._send_eof_now)

    def _send_eof_now(self) -> None:
        transport = self._check_usable()
        if is_tls(transport) or not hasattr(transport, "loseWriteConnection"):
            raise NotImplementedError(
                f"{type(transport).__name__} cannot close only its sending side"
            )
        self.write_pending()
        transport.loseWriteConnection()

    def _on_timer(self) -> None:
        self.write_pending()
        self._deliver()  # the core may have events now

    # -- closing --------------------------------------------------------------

    def aclose(self) -> Deferred[None]:
        """Write what is left, close the transport; the Deferred fires once it is closed.

        Others waiting on the stream get :class:`~tidewire.StreamClosedError`;
        cancelling the Deferred aborts the connection. Calling it again is harmless.
        """
        self.close_nowait()
        transport = self._transport
        if transport is None or self._lost:
            return succeed(None)
        waiter: Deferred[None] = Deferred(lambda _: abort_transport(transport))
        self._lost_waiters.append(waiter)
        return waiter

    def close_nowait(self) -> None:
        """Begin :meth:`aclose` from anywhere: write what is left, close the transport."""
        if self._closed:
            return
        self.write_pending()
        self._shut()
        transport = self._transport
        if transport is not None and not self._lost:
            transport.unregisterProducer()  # or a paused producer would hold the close
            transport.loseConnection()

    def abort(self) -> None:
        """Close the connection at once, dropping unsent bytes (a TCP reset where possible)."""
        self._shut()
        transport = self._transport
        if transport is not None and not self._lost:
            abort_transport(transport)

    def _shut(self) -> None:
        self._closed = True
        self._alarm.stop()
        self._flow.discard_input()
        self._turns.fail_all(self._broken())
        self._deliver()

    async def __aenter__(self) -> Self:
        """``async with stream:`` (in ``async def`` run by ``Deferred.fromCoroutine``)."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Await :meth:`aclose` on the way out."""
        await self.aclose()

    def __repr__(self) -> str:
        if self._closed or self._lost:
            state = "closed" if self._closed else "lost"
        elif self._transport is None:
            state = "unattached"
        else:
            state = f"peer={self.get_extra_info('peername')!r}"
        return f"<{type(self).__name__} {type(self._connection).__name__} {state}>"


def _address(address: IAddress) -> Any:
    host, port, name = (getattr(address, key, None) for key in ("host", "port", "name"))
    if host is not None and port is not None:
        return (host, port)
    return name.decode() if isinstance(name, bytes) else name


def _socket(transport: Any) -> Any:
    import socket

    while transport is not None:
        handle = transport.getHandle() if hasattr(transport, "getHandle") else None
        if isinstance(handle, socket.socket):
            return handle
        transport = getattr(transport, "transport", None)
    return None
