"""A WebSocket echo server: the standard testee a conformance suite drives.

Text comes back as text and binary as binary. Messages up to 16 MiB are
accepted and permessage-deflate is offered, as the Autobahn suite expects::

    python docs/examples/websocket_echo.py --port 9001
    python docs/examples/websocket_echo.py --port 9001 --framework trio
    python docs/examples/websocket_echo.py --port 9001 --framework twisted

It runs until interrupted (Ctrl-C), on asyncio or, with ``--framework trio``,
on trio (tidewire-trio, the same options), or with ``--framework twisted``
under Twisted's reactor (tidewire-twisted, the same options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from tidewire_asyncio.websocket import WebSocket, serve

MAX_MESSAGE_SIZE = 16 * 1024 * 1024


async def echo(websocket: WebSocket) -> None:
    """Send every message back as it came, until the client closes."""
    async for message in websocket:
        await websocket.send(message)


async def main(host: str, port: int) -> None:
    """Serve the echo handler on ``host``:``port`` until cancelled."""
    server = serve(
        echo,
        host,
        port,
        compression="deflate",
        max_message_size=MAX_MESSAGE_SIZE,
        ping_interval=None,  # the test suite times its own pings
    )
    async with server:
        print(f"echo server listening on ws://{host}:{server.port}", flush=True)
        await server.serve_forever()


async def main_on_trio(host: str, port: int) -> None:
    """The same server on trio, until cancelled."""
    import trio

    from tidewire_trio.websocket import WebSocket as TrioWebSocket
    from tidewire_trio.websocket import serve as serve_on_trio

    async def echo_on_trio(websocket: TrioWebSocket) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with serve_on_trio(
        echo_on_trio,
        host,
        port,
        compression="deflate",
        max_message_size=MAX_MESSAGE_SIZE,
        ping_interval=None,
    ) as server:
        print(f"echo server listening on ws://{host}:{server.port}", flush=True)
        await trio.sleep_forever()


def main_on_twisted(host: str, port: int) -> int:
    """The same server under Twisted's reactor, until Ctrl-C; the exit status (1: no port)."""
    from twisted.internet import reactor as global_reactor
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    from tidewire_twisted.websocket import WebSocket as TwistedWebSocket
    from tidewire_twisted.websocket import serve as serve_on_twisted

    async def echo_on_twisted(websocket: TwistedWebSocket) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def listen() -> None:
        server = await serve_on_twisted(
            echo_on_twisted,
            f"tcp:{port}:interface={host}",
            compression="deflate",
            max_message_size=MAX_MESSAGE_SIZE,
            ping_interval=None,
        )
        print(f"echo server listening on ws://{host}:{server.port}", flush=True)

    reactor: Any = global_reactor  # zope interfaces' methods do not type-check as methods
    failed: list[Failure] = []

    def cannot_listen(failure: Failure) -> None:
        failed.append(failure)
        reactor.stop()

    # The reactor stops on SIGINT by itself: Ctrl-C needs nothing more.
    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(listen()).addErrback(cannot_listen))
    reactor.run()
    for failure in failed:
        print(f"echo server: cannot listen: {failure.value}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--framework", choices=("asyncio", "trio", "twisted"), default="asyncio")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.framework == "trio":
            import trio

            trio.run(main_on_trio, args.host, args.port)
        elif args.framework == "twisted":
            sys.exit(main_on_twisted(args.host, args.port))
        else:
            asyncio.run(main(args.host, args.port))
