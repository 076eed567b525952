"""The netstring core of the tutorial, on asyncio, with no adapter code of its own.

Run it (``python docs/examples/netstring_asyncio.py``): it starts a server that
answers each netstring in upper case, sends it two from a client, and prints
the replies.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path

import tidewire_asyncio
from tidewire_asyncio import EventStream

sys.path.insert(0, str(Path(__file__).parent))  # the netstring example beside this file
from netstring import Netstring, NetstringConnection


async def shout(stream: EventStream[Netstring, Netstring]) -> None:
    """The server's handler: answer every netstring in upper case."""
    async for event in stream:  # ends when the client closes cleanly
        await stream.send(Netstring(event.payload.upper()))


async def main() -> list[bytes]:
    """Serve on a free port, talk to it once, and return the replies."""
    factory = functools.partial(NetstringConnection, max_length=64 * 1024)
    async with tidewire_asyncio.serve(factory, shout, "127.0.0.1", 0) as server:
        stream = await tidewire_asyncio.connect(NetstringConnection, "127.0.0.1", server.port)
        async with stream:
            replies = []
            for word in (b"hello", b"netstrings"):
                await stream.send(Netstring(word))
                reply = await stream.receive()
                assert isinstance(reply, Netstring)
                replies.append(reply.payload)
    return replies


if __name__ == "__main__":
    print(asyncio.run(main()))
