"""The memcached-shaped example of the line how-to: it works, and bad input gets ERROR."""

import asyncio
import importlib.util
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "memcached_lines.py"
spec = importlib.util.spec_from_file_location("memcached_lines", EXAMPLE)
assert spec
assert spec.loader
memcached = importlib.util.module_from_spec(spec)
sys.modules["memcached_lines"] = memcached
spec.loader.exec_module(memcached)


def test_a_value_with_line_breaks_is_stored_and_read_back():
    assert asyncio.run(memcached.main()) == b"hello\r\nworld!"


def test_bad_commands_get_error_and_the_connection_carries_on():
    async def main():
        server = memcached.lines.serve(memcached.handle, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            bad = [b"", b"   ", b"get", b"set k", b"set k x", b"set k -1", b"set k 9999999"]
            bad.append(b"quit")
            writer.write(b"".join(line + b"\r\n" for line in bad) + b"get nothing\r\n")
            replies = [await asyncio.wait_for(reader.readline(), 10) for _ in range(len(bad) + 2)]
            writer.close()
            await writer.wait_closed()
        return replies

    assert asyncio.run(main()) == [b"ERROR\r\n"] * 8 + [b"VALUE 0\r\n", b"\r\n"]
