"""A WebSocket echo server: the standard testee a conformance suite drives.

Text comes back as text and binary as binary. Messages up to 16 MiB are
accepted and permessage-deflate is offered, as the Autobahn suite expects::

    python docs/examples/websocket_echo.py --port 9001
    python docs/examples/websocket_echo.py --port 9001 --framework trio

It runs until interrupted (Ctrl-C), on asyncio or, with ``--framework trio``,
on trio (tidewire-trio, the same options).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--framework", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.framework == "trio":
            import trio

            trio.run(main_on_trio, args.host, args.port)
        else:
            asyncio.run(main(args.host, args.port))
