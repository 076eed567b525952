"""Start a real redis-server on a free port for the tests, and stop it.

The tests need Debian's ``redis-server`` (``apt-get install redis-server``);
when it is missing, :func:`redis_server_binary` raises, so the tests fail
rather than skip. Each server runs with no persistence, the ``DEBUG``
command enabled, a Unix socket in a temporary folder, and stops when the
context ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def redis_server_binary() -> str:
    """The path of ``redis-server``; raises if it is not installed."""
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed: the Redis client tests need a real server"
            " (apt-get install redis-server)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A running redis-server: its ``port``, ``unix_path``, ``url`` and process."""

    def __init__(self, port: int, unix_path: str, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.unix_path = unix_path
        self.process = process

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running_redis(*extra: str, port: int | None = None) -> Iterator[RedisServer]:
    """Run a redis-server for the duration of the ``with`` block.

    ``extra`` are more command-line options (``"--requirepass", "s"`` ...).
    """
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="tidewire-redis-") as folder:
        # Up to three attempts: another process may take the port first.
        for _attempt in range(3):
            chosen = port or free_port()
            unix_path = os.path.join(folder, "redis.sock")
            args = [
                binary,
                "--port",
                str(chosen),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
                "--unixsocket",
                unix_path,
                "--unixsocketperm",
                "700",
                "--dir",
                folder,
                "--logfile",
                os.path.join(folder, "redis.log"),
                *extra,
            ]
            process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server = RedisServer(chosen, unix_path, process)
            if _wait_ready(server):
                break
            server.stop()
        else:
            log = Path(folder, "redis.log")
            detail = log.read_text() if log.exists() else ""
            raise RuntimeError(f"redis-server did not start: {detail[-2000:]}")
        try:
            yield server
        finally:
            server.stop()


def _wait_ready(server: RedisServer) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
