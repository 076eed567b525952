"""A memcached-shaped server on the asyncio line adapter, and a client of it.

Commands are lines; a value is a counted raw block that may hold line breaks.
Run it (``python docs/examples/memcached_lines.py``): it serves on a free
port, stores and fetches one value from a client, and prints the reply.
"""

from __future__ import annotations

import asyncio

from tidewire_asyncio import lines

MAX_VALUE = 1024 * 1024
"""The largest value stored, in bytes."""

store: dict[bytes, bytes] = {}


async def handle(stream: lines.LineStream[bytes]) -> None:
    """Answer ``set <key> <length>`` (then the value) and ``get <key>``; ``ERROR`` otherwise."""
    async for line in stream:  # bytes, without the delimiter
        match line.split():
            case [b"set", key, length] if length.isdigit() and int(length) <= MAX_VALUE:
                store[key] = await stream.receive_exactly(int(length))
                await stream.receive_line()  # the CRLF after the value
                await stream.send_line(b"STORED")
            case [b"get", key]:
                value = store.get(key, b"")
                await stream.send_line(b"VALUE %d" % len(value))
                await stream.send_raw(value + b"\r\n")
            case _:  # an empty line, an unknown command, a bad length
                await stream.send_line(b"ERROR")


async def ask(port: int) -> bytes:
    """Store a two-line value, fetch it back, and return it."""
    async with lines.connect("127.0.0.1", port) as stream:
        await stream.send_line(b"set greeting 13")
        await stream.send_raw(b"hello\r\nworld!\r\n")
        assert await stream.receive_line() == b"STORED"
        await stream.send_line(b"get greeting")
        header = await stream.receive_line()  # VALUE <length>
        value = await stream.receive_exactly(int(header.split()[1]))
        await stream.receive_line()
        return value


async def main() -> bytes:
    """Serve on a free port, ask once, and return the value read back."""
    server = lines.serve(handle, "127.0.0.1", 0, max_line_length=1024, max_raw_size=MAX_VALUE)
    async with server:
        return await ask(server.port)


if __name__ == "__main__":
    print(asyncio.run(main()))
