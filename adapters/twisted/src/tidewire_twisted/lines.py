"""Line protocols (SMTP, IRC, memcached, NDJSON ...) on Twisted, over the ``tidewire-lines`` core.

Two ways in: :class:`LineProtocol`, a drop-in for ``LineReceiver`` subclasses
(``lineReceived``, ``sendLine``, ``setRawMode`` ...) that is linear, keeps one
line limit however the bytes are split, says why it closed on an over-long
line and hands over an unterminated last line; and :class:`LineStream`, made
by :func:`connect` and :func:`serve`, whose waiting methods return Deferreds
(the asyncio adapter's ``LineStream``, method for method). Install with
``pip install "tidewire-twisted[lines]"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self, TypeVar, Unpack, cast, overload

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint, IStreamServerEndpoint

try:
    from tidewire_lines.adapting import (
        LineStreamBase,
        check_line_mode,
        connection_factory,
        receive_block,
    )
except ImportError as exc:  # the core is an optional extra
    raise ImportError(
        "tidewire_twisted.lines needs the line protocol core:"
        ' pip install "tidewire-twisted[lines]" (or tidewire-lines)'
    ) from exc

from tidewire import DEFAULT_MAX_BUFFER_SIZE as _MAX_RAW  # the core's default
from tidewire import Delimiter

from ._line_protocol import LineProtocol
from .network import ConnectOptions, ServeOptions, Server
from .network import connect as _connect
from .network import serve as _serve
from .stream import EventStream

__all__ = ["LineProtocol", "LineStream", "connect", "serve"]

T = TypeVar("T", bytes, str)
_DRAIN_EVERY = 64 * 1024


class LineStream(LineStreamBase[T, EventStream[Any, Any]]):
    """Lines over a connection: ``bytes`` lines, or ``str`` over a ``TextLineConnection``.

    The Twisted twin of :class:`tidewire_asyncio.lines.LineStream`: every
    method that waits returns a Deferred (``await`` it in an ``async def``
    run by ``Deferred.fromCoroutine``). Lines that arrive together are split
    in bulk and returned without waiting; switching to raw bytes between
    lines never loses or reorders a byte; a cancelled Deferred consumed
    nothing. Besides the errors listed, every call may fail with
    :class:`~tidewire.ConnectionLostError` (the connection broke) or
    :class:`~tidewire.StreamClosedError` (closed on this side), and a
    receiving one with :class:`~tidewire.EndOfStream` (the peer closed its
    side first: its ``event`` holds the ``leftover`` and ``missing`` bytes).

    Args:
        stream: The event stream to read and write lines on.

    Raises:
        TypeError: the stream's core is not a line connection.
    """

    def __init__(self, stream: EventStream[Any, Any]) -> None:
        super().__init__(stream)
        self._flushing: Any = None  # the IDelayedCall writing what a burst's answers queued

    # -- receiving ----------------------------------------------------------

    def receive_line(self) -> Deferred[T]:
        """Return a Deferred for the next line, without its delimiter.

        Cancelling it consumed nothing: the line is there for the next call.

        Raises:
            RemoteProtocolError: the line is too long, or in text mode does
                not decode; the stream is then failed.
            RuntimeError: the core is in raw mode.
        """
        for line in self._batch:  # the hot path: no event, no wait
            return succeed(line)
        try:
            check_line_mode(self._core)
        except RuntimeError:
            return fail()
        receiving: Deferred[Any] = self._stream.receive()
        # Called as the receive fires: nothing can cancel between the event
        # leaving the core and its line reaching the caller.
        return receiving.addCallback(self._line_of)

    def receive_exactly(self, size: int) -> Deferred[bytes]:
        """Return a Deferred for the next ``size`` bytes verbatim; then lines resume.

        The block is buffered until complete, so ``size`` may be at most the
        core's ``max_raw_size``; :meth:`receive_chunks` takes any size. If
        cancelled, nothing was consumed and the stream still reads lines.

        Raises:
            LocalProtocolError: ``size`` is negative or above ``max_raw_size``.
            RemoteProtocolError: the stream had failed.
        """
        block = receive_block(self._core, self._stream, size, self._block_ended(size))
        return Deferred.fromCoroutine(block)

    # -- sending ------------------------------------------------------------

    def send_line(self, line: T) -> Deferred[None]:
        """Send ``line`` and the first delimiter; the answers to a burst of lines leave together.

        Fires at once while the connection keeps up; every 64 KiB or so it
        waits while the transport's buffer is full. While more received
        lines wait in the burst being read, the bytes stay queued until the
        burst's last line is answered, or the end of this reactor turn.

        Raises:
            LocalProtocolError: ``line`` contains a delimiter, or is ``str``
                in bytes mode or ``bytes`` in text mode; nothing was sent.
        """
        stream = self._stream
        if stream.closed:
            return stream.drain()  # fails with why: closed on this side, or the connection broke
        core = self._core
        try:
            core.send_line(line)
        except Exception:
            return fail()
        self._unchecked += len(line)
        if self._unchecked > _DRAIN_EVERY:
            self._unchecked = 0
            self._flush()
            return stream.drain()
        if not core.lines_ready:
            self._flush()
        elif self._flushing is None:  # answered together, but never left waiting
            clock: Any = stream._clock()
            self._flushing = clock.callLater(0, self._flush)
        return succeed(None)

    def _flush(self) -> None:
        flushing, self._flushing = self._flushing, None
        if flushing is not None and flushing.active():
            flushing.cancel()
        self._stream.write_pending()

    # The base's calls, typed as the Deferreds they return here.
    def send_raw(self, data: bytes) -> Deferred[None]:
        """Send ``data`` verbatim; fails as :meth:`send_line`."""
        return cast("Deferred[None]", super().send_raw(data))

    def send_eof(self) -> Deferred[None]:
        """Close our sending side; see :meth:`tidewire_twisted.EventStream.send_eof`."""
        return cast("Deferred[None]", super().send_eof())

    def aclose(self) -> Deferred[None]:
        """Close the connection; see :meth:`tidewire_twisted.EventStream.aclose`."""
        return cast("Deferred[None]", super().aclose())

    async def __aenter__(self) -> Self:
        """``async with stream:`` (in ``async def`` run by ``Deferred.fromCoroutine``)."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Await :meth:`aclose` on the way out."""
        await self.aclose()


@overload
def connect(
    endpoint: IStreamClientEndpoint | str,
    *,
    delimiter: Delimiter = ...,
    encoding: None = ...,
    max_line_length: int = ...,
    max_raw_size: int = ...,
    reactor: IReactorTime | None = ...,
    **options: Unpack[ConnectOptions],
) -> Deferred[LineStream[bytes]]: ...
@overload
def connect(
    endpoint: IStreamClientEndpoint | str,
    *,
    delimiter: Delimiter = ...,
    encoding: str,
    max_line_length: int = ...,
    max_raw_size: int = ...,
    reactor: IReactorTime | None = ...,
    **options: Unpack[ConnectOptions],
) -> Deferred[LineStream[str]]: ...
def connect(
    endpoint: IStreamClientEndpoint | str,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = _MAX_RAW,
    reactor: IReactorTime | None = None,
    **options: Unpack[ConnectOptions],
) -> Deferred[LineStream[bytes]] | Deferred[LineStream[str]]:
    r"""Connect ``endpoint``; the Deferred fires with a :class:`LineStream`.

    ``endpoint`` is an ``IStreamClientEndpoint`` or a description string
    (``"tcp:host=example.com:port=25"``, ``"unix:path=/run/app.sock"``).
    ``delimiter`` ends a line (with a tuple, any of them: ``(b"\r\n",
    b"\n")``; sending uses the first); an ``encoding`` gives ``str`` lines;
    ``max_line_length`` and ``max_raw_size`` (the largest block
    :meth:`LineStream.receive_exactly` takes) are the core's limits;
    ``reactor`` and ``**options`` (``ssl``, water marks) go to
    :func:`tidewire_twisted.connect`. Close the stream with ``aclose()``,
    or use it with ``async with``.

    Raises:
        ValueError: an empty delimiter, a negative limit, an unknown encoding
            or bad water marks (at once).
        TypeError: an unknown option (at once).

    The Deferred fails with the endpoint's error (``ConnectionRefusedError``
    ...) if the connection could not be made.
    """
    factory: Any  # a LineConnection or TextLineConnection factory, as encoding says
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)
    connecting = _connect(factory, endpoint, reactor=reactor, **options)
    return connecting.addCallback(_line_stream)


def _line_stream(stream: EventStream[Any, Any]) -> LineStream[Any]:
    return LineStream(stream)


def serve(
    handler: Callable[[LineStream[Any]], Any],
    endpoint: IStreamServerEndpoint | str,
    *,
    delimiter: Delimiter = b"\r\n",
    encoding: str | None = None,
    max_line_length: int = 65536,
    max_raw_size: int = _MAX_RAW,
    reactor: IReactorTime | None = None,
    **options: Unpack[ServeOptions],
) -> Deferred[Server]:
    """Serve a line protocol: ``handler(line_stream)`` runs once per connection.

    ``handler`` may be an ``async def`` or return a Deferred; the connection
    closes when it finishes (see :func:`tidewire_twisted.serve`).
    ``endpoint`` is an ``IStreamServerEndpoint`` or a description string
    (``"tcp:0:interface=127.0.0.1"`` for any free port, ``"unix:/path"``).
    ``delimiter``, ``encoding`` and the limits are as for :func:`connect`;
    ``reactor`` and ``**options`` (``ssl``, water marks) go to
    :func:`tidewire_twisted.serve`.

    Returns:
        A Deferred firing with the listening :class:`~tidewire_twisted.Server`.

    Raises:
        ValueError: an empty delimiter, a negative limit, an unknown encoding
            or bad water marks (at once).
        TypeError: an unknown option (at once).
    """
    factory: Any  # a LineConnection or TextLineConnection factory, as encoding says
    factory = connection_factory(delimiter, encoding, max_line_length, max_raw_size)
    return _serve(
        factory, lambda stream: handler(LineStream(stream)), endpoint, reactor=reactor, **options
    )
