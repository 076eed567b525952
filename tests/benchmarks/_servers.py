"""The echo servers the framework benchmarks measure, one per child process.

``python tests/benchmarks/_servers.py KIND`` starts the server ``KIND`` on a
free loopback port, prints the port and serves until killed. Every server
echoes what it gets: WebSocket messages (up to 16 MiB, keepalive off), or
lines of at most 64 KiB ending in ``b"\\n"``. Each runs on its own
framework's loop, so one client in the parent measures them all the same way.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
MAX_MESSAGE = 16 * 2**20
MAX_LINE = 64 * 1024


def _announce(port: int) -> None:
    print(port, flush=True)


async def _ws_echo(websocket: Any) -> None:  # the same body on every tidewire adapter
    async for message in websocket:
        await websocket.send(message)


async def _line_echo(stream: Any) -> None:
    async for line in stream:
        await stream.send_line(line)


# -- asyncio ---------------------------------------------------------------------------------


async def tidewire_asyncio_ws() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    import websocket_echo  # the conformance testee: echo, deflate on, 16 MiB messages

    from tidewire_asyncio.websocket import serve

    options: Any = {"max_message_size": websocket_echo.MAX_MESSAGE_SIZE, "ping_interval": None}
    async with serve(websocket_echo.echo, "127.0.0.1", 0, **options) as server:
        _announce(server.port)
        await server.serve_forever()


async def websockets_asyncio_ws() -> None:
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, max_size=MAX_MESSAGE, ping_interval=None) as server:
        _announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()


async def tidewire_asyncio_lines() -> None:
    from tidewire_asyncio import lines

    async with lines.serve(_line_echo, "127.0.0.1", 0, delimiter=b"\n") as server:
        _announce(server.port)
        await server.serve_forever()


class _SplitEcho(asyncio.Protocol):
    """The floor: split on b"\\n" and echo, no limits, no events, no backpressure."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        if lines:
            self.transport.write(b"".join(line + b"\n" for line in lines))


async def split_asyncio_lines() -> None:
    server = await asyncio.get_running_loop().create_server(_SplitEcho, "127.0.0.1", 0)
    async with server:
        _announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()


async def readline_asyncio_lines() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, limit=MAX_LINE)
    async with server:
        _announce(server.sockets[0].getsockname()[1])
        await server.serve_forever()


# -- trio ------------------------------------------------------------------------------------


async def tidewire_trio_ws() -> None:
    import trio

    from tidewire_trio.websocket import serve

    options: Any = {"max_message_size": MAX_MESSAGE, "ping_interval": None}
    async with serve(_ws_echo, "127.0.0.1", 0, **options) as server:
        _announce(server.port)
        await trio.sleep_forever()


async def websockets_trio_ws() -> None:
    import trio
    from websockets.trio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve(
                echo, 0, host="127.0.0.1", max_size=MAX_MESSAGE, ping_interval=None,
                task_status=task_status,
            )
        )  # fmt: skip
        _announce(server.listeners[0].socket.getsockname()[1])


async def trio_websocket_ws() -> None:
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    async def echo(request: Any) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_websocket(
                echo, "127.0.0.1", 0, None, max_message_size=MAX_MESSAGE, task_status=task_status
            )
        )
        _announce(server.port)


async def tidewire_trio_lines() -> None:
    import trio

    from tidewire_trio import lines

    async with lines.serve(_line_echo, "127.0.0.1", 0, delimiter=b"\n") as server:
        _announce(server.port)
        await trio.sleep_forever()


async def split_trio_lines() -> None:
    """What trio users write today (trio has no readline): ``receive_some``, split, a line each."""
    import trio

    async def lines_of(stream: trio.SocketStream) -> AsyncIterator[bytes]:
        buffer = b""
        while data := await stream.receive_some(MAX_LINE):
            *lines, buffer = (buffer + data).split(b"\n")
            for line in lines:
                yield line

    async def echo(stream: trio.SocketStream) -> None:
        async for line in lines_of(stream):
            await stream.send_all(line + b"\n")

    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        _announce(listeners[0].socket.getsockname()[1])


async def receive_until_lines() -> None:
    """anyio's ``BufferedByteReceiveStream.receive_until`` (run on trio)."""
    import anyio
    from anyio.streams.buffered import BufferedByteReceiveStream

    async def echo(stream: Any) -> None:
        reader = BufferedByteReceiveStream(stream)
        try:
            while True:
                line = await reader.receive_until(b"\n", MAX_LINE)
                await stream.send(line + b"\n")
        except (anyio.EndOfStream, anyio.IncompleteRead):
            pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    _announce(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.serve(echo)


# -- anyio -----------------------------------------------------------------------------------


async def tidewire_anyio_ws() -> None:
    import anyio

    from tidewire_anyio.websocket import serve

    options: Any = {"max_message_size": MAX_MESSAGE, "ping_interval": None}
    async with serve(_ws_echo, "127.0.0.1", 0, **options) as server:
        _announce(server.port)
        await anyio.sleep_forever()


async def tidewire_anyio_lines() -> None:
    import anyio

    from tidewire_anyio import lines

    async with lines.serve(_line_echo, "127.0.0.1", 0, delimiter=b"\n") as server:
        _announce(server.port)
        await anyio.sleep_forever()


async def split_anyio_lines() -> None:
    """The floor under any adapter built on anyio: its byte stream, ``split``, one write a read.

    No limits, no events, no backpressure, one task: what anyio itself costs
    a line echo on the backend it runs on.
    """
    import anyio

    async def echo(stream: Any) -> None:
        buffer = b""
        async with stream:
            while True:
                try:
                    data = await stream.receive(MAX_LINE)
                except anyio.EndOfStream:
                    return
                *lines, buffer = (buffer + data).split(b"\n")
                if lines:
                    await stream.send(b"".join(line + b"\n" for line in lines))

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    _announce(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.serve(echo)


# -- Twisted (each on Twisted's default reactor) ---------------------------------------------


def _run_reactor(listen: Callable[[Any], Any]) -> None:
    from twisted.internet import reactor

    port = listen(reactor)
    _announce(port.getHost().port)
    reactor.run()  # type: ignore[attr-defined]


def tidewire_twisted_ws() -> None:
    from twisted.internet import defer, reactor

    from tidewire_twisted.websocket import serve

    def started(server: Any) -> None:
        _announce(server.port)

    options: Any = {"max_message_size": MAX_MESSAGE, "ping_interval": None}
    handler = lambda ws: defer.Deferred.fromCoroutine(_ws_echo(ws))  # noqa: E731
    serve(handler, "tcp:0:interface=127.0.0.1", **options).addCallback(started)
    reactor.run()  # type: ignore[attr-defined]


def tidewire_twisted_lines() -> None:
    from twisted.internet import defer, reactor

    from tidewire_twisted import lines

    def started(server: Any) -> None:
        _announce(server.port)

    handler = lambda stream: defer.Deferred.fromCoroutine(_line_echo(stream))  # noqa: E731
    lines.serve(handler, "tcp:0:interface=127.0.0.1", delimiter=b"\n").addCallback(started)
    reactor.run()  # type: ignore[attr-defined]


def line_only_receiver_lines() -> None:
    from twisted.internet import protocol
    from twisted.protocols.basic import LineOnlyReceiver

    class Echo(LineOnlyReceiver):
        delimiter = b"\n"
        MAX_LENGTH = MAX_LINE

        def lineReceived(self, line: bytes) -> None:
            self.sendLine(line)

    factory = protocol.Factory.forProtocol(Echo)
    _run_reactor(lambda reactor: reactor.listenTCP(0, factory, interface="127.0.0.1"))


def tidewire_line_protocol_lines() -> None:
    from twisted.internet import protocol

    from tidewire_twisted.lines import LineProtocol

    class Echo(LineProtocol):
        delimiter = b"\n"
        MAX_LENGTH = MAX_LINE

        def lineReceived(self, line: bytes) -> None:
            self.sendLine(line)

    factory = protocol.Factory.forProtocol(Echo)
    _run_reactor(lambda reactor: reactor.listenTCP(0, factory, interface="127.0.0.1"))


def twisted_web_ws() -> None:
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.websocket import WebSocketResource

    class Echo:
        def negotiationStarted(self, transport: Any) -> None:
            self.transport = transport

        def negotiationFinished(self) -> None:
            pass

        def pongReceived(self, payload: bytes) -> None:
            pass

        def textMessageReceived(self, message: str) -> None:
            self.transport.sendTextMessage(message)

        def bytesMessageReceived(self, data: bytes) -> None:
            self.transport.sendBytesMessage(bytes(data))

        def connectionLost(self, reason: Any) -> None:
            pass

    class Factory:
        def buildProtocol(self, request: Any) -> Echo:
            return Echo()

    root = Resource()
    root.putChild(b"", WebSocketResource(Factory()))
    _run_reactor(lambda reactor: reactor.listenTCP(0, Site(root), interface="127.0.0.1"))


def autobahn_ws() -> None:
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

    class Echo(WebSocketServerProtocol):  # type: ignore[misc]
        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            self.sendMessage(payload, isBinary)

    factory = WebSocketServerFactory()
    factory.protocol = Echo
    factory.setProtocolOptions(
        maxMessagePayloadSize=MAX_MESSAGE, maxFramePayloadSize=MAX_MESSAGE, autoPingInterval=0
    )
    _run_reactor(lambda reactor: reactor.listenTCP(0, factory, interface="127.0.0.1"))


# kind -> (the function, the framework that runs it)
SERVERS: dict[str, tuple[Callable[[], Any], str]] = {
    "tidewire-asyncio-ws": (tidewire_asyncio_ws, "asyncio"),
    "websockets-asyncio-ws": (websockets_asyncio_ws, "asyncio"),
    "tidewire-asyncio-lines": (tidewire_asyncio_lines, "asyncio"),
    "split-asyncio-lines": (split_asyncio_lines, "asyncio"),
    "readline-asyncio-lines": (readline_asyncio_lines, "asyncio"),
    "tidewire-trio-ws": (tidewire_trio_ws, "trio"),
    "websockets-trio-ws": (websockets_trio_ws, "trio"),
    "trio-websocket-ws": (trio_websocket_ws, "trio"),
    "tidewire-trio-lines": (tidewire_trio_lines, "trio"),
    "split-trio-lines": (split_trio_lines, "trio"),
    "receive-until-trio-lines": (receive_until_lines, "trio"),
    "tidewire-anyio-asyncio-ws": (tidewire_anyio_ws, "asyncio"),
    "tidewire-anyio-trio-ws": (tidewire_anyio_ws, "trio"),
    "tidewire-anyio-asyncio-lines": (tidewire_anyio_lines, "asyncio"),
    "tidewire-anyio-trio-lines": (tidewire_anyio_lines, "trio"),
    "split-anyio-asyncio-lines": (split_anyio_lines, "asyncio"),
    "split-anyio-trio-lines": (split_anyio_lines, "trio"),
    "tidewire-twisted-ws": (tidewire_twisted_ws, "twisted"),
    "twisted-web-ws": (twisted_web_ws, "twisted"),
    "autobahn-ws": (autobahn_ws, "twisted"),
    "tidewire-twisted-lines": (tidewire_twisted_lines, "twisted"),
    "line-only-receiver-lines": (line_only_receiver_lines, "twisted"),
    "tidewire-line-protocol-lines": (tidewire_line_protocol_lines, "twisted"),
}


# The servers written for anyio: on trio, anyio.run() starts them.
ON_ANYIO = (tidewire_anyio_ws, tidewire_anyio_lines, receive_until_lines, split_anyio_lines)


def main(kind: str) -> None:
    serve, framework = SERVERS[kind]
    if framework == "asyncio":
        asyncio.run(serve())
    elif framework == "trio":
        if serve in (
            tidewire_anyio_ws,
            tidewire_anyio_lines,
            receive_until_lines,
            split_anyio_lines,
        ):
            import anyio

            anyio.run(serve, backend="trio")
        else:
            import trio

            trio.run(serve)
    else:
        serve()  # Twisted runs its own reactor


if __name__ == "__main__":
    main(sys.argv[1])
