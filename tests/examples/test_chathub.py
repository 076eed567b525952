"""The chat-hub demo (docs/examples/chathub), end to end.

In one process: a WebSocket client and a line client chat, join, rename,
leave, and hit the limits. Then the real command: two hub processes share a
room through a real redis-server, and SIGINT closes WebSocket clients with
1001. Last, headless Chromium loads the page and chats through it. The Twisted
hub (a process: Twisted's reactor cannot share this asyncio loop) runs the
same checks, shares rooms with the other hubs (asyncio, trio and Twisted in
one), and its outbox gets the same fuzzing on a ``task.Clock``. A missing
redis-server or chromium fails these tests; they never skip.
"""

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import task
from twisted.internet.defer import Deferred, DeferredList
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tidewire_asyncio import resp
from tidewire_asyncio import websocket as ws_adapter

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))
from chathub import asyncio_hub, room  # noqa: E402
from chathub import web as site  # noqa: E402
from chathub.outbox import Outbox  # noqa: E402
from chathub.twisted_outbox import Event  # noqa: E402
from chathub.twisted_outbox import Outbox as TwistedOutbox  # noqa: E402
from chathub.web import MAX_PENDING, STALL_TIMEOUT  # noqa: E402


def _load(name, path):
    """The adapter tests' helpers, by file path (tests run with --import-mode=importlib)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELPERS = ROOT / "tests" / "adapters"
redis_server = _load("redis_server", HELPERS / "redis_server.py")
chromium = _load("chromium", HELPERS / "peers" / "chromium.py")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def closing():
    """Clients entered here are closed after the test, however it ends."""
    async with contextlib.AsyncExitStack() as stack:
        yield stack


class LineClient:
    """An nc user: a plain asyncio socket, one line per message."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port):
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def say(self, text):
        self.writer.write(text.encode() + b"\n")
        await self.writer.drain()

    async def expect(self, wanted):
        """Read lines until one contains ``wanted``; return it (fails after 10 s)."""
        with anyio.fail_after(10):
            while True:
                line = await self.reader.readline()
                assert line, f"the hub closed the connection before {wanted!r}"
                if wanted in line.decode():
                    return line.decode().rstrip("\r\n")

    async def expect_eof(self):
        with anyio.fail_after(10):
            while await self.reader.readline():
                pass

    async def aclose(self):
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.aclose()


async def web_client(closing, port):
    """A WebSocket client of the hub on ``port``, closed when the test ends."""
    uri = f"ws://127.0.0.1:{port}/chat"
    return await closing.enter_async_context(await ws_adapter.connect(uri))


async def line_client(closing, port):
    """An nc user of the hub's line ``port``, closed when the test ends."""
    return await closing.enter_async_context(await LineClient.connect(port))


async def expect(websocket, wanted):
    """Receive messages until one contains ``wanted``; return it (fails after 10 s)."""
    with anyio.fail_after(10):
        while True:
            message = await websocket.receive()
            if wanted in message:
                return message


async def http_get(port, target, headers=""):
    """Send a plain GET; return the whole response (head and Content-Length body)."""
    host = "127.0.0.1"
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n".encode())
    with anyio.fail_after(10):
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
    writer.close()
    await writer.wait_closed()
    return head + body


@contextlib.asynccontextmanager
async def one_hub(framework):
    """An in-memory hub on free ports: asyncio's in this process, another one as the command.

    Yields the page's (and WebSocket's) port and the line port; the command
    must then stop cleanly on Ctrl-C.
    """
    if framework == "asyncio":
        hub = asyncio_hub.Hub("127.0.0.1", 0, 0, None)
        await hub.start()
        try:
            yield hub.http_port, hub.line_port
        finally:
            await hub.aclose()
        return
    process, http_port, line_port = await start_hub(framework=framework)
    try:
        yield http_port, line_port
        await stop_hub(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("framework", ["asyncio", "twisted"])
async def test_web_and_line_users_chat_in_one_process(closing, framework):
    async with one_hub(framework) as ports:
        hub = SimpleNamespace(http_port=ports[0], line_port=ports[1])
        # The page comes from the WebSocket's port; nothing else is there.
        page = await http_get(hub.http_port, "/")
        assert page.startswith(b"HTTP/1.1 200 OK\r\n")
        assert page.endswith(site.PAGE.body)
        assert (await http_get(hub.http_port, "/secret")).startswith(b"HTTP/1.1 404")
        # An upgrade request the WebSocket core refuses gets its HTTP error.
        broken = await http_get(hub.http_port, "/chat", "Upgrade: websocket\r\n")
        assert broken.startswith(b"HTTP/1.1 400")
        assert b"Connection header" in broken

        web = await web_client(closing, hub.http_port)
        await expect(web, "what is your nickname?")
        await web.send("alice")
        await expect(web, "* alice joined")

        nc = await line_client(closing, hub.line_port)
        await nc.expect("what is your nickname?")
        await nc.say("/who")  # not a nickname
        await nc.expect("! a nickname is 1 to 24 characters")
        await nc.say("alice")  # taken on this hub
        await nc.expect("! alice is taken here")
        await nc.say("")  # an empty line is no nickname, and no message
        await nc.say("bob")
        await nc.expect("* bob joined")
        await expect(web, "* bob joined")

        await web.send("hello from the web")
        assert await nc.expect("hello") == "<alice> hello from the web"
        await nc.say("hi from nc, été")
        assert await expect(web, "hi from") == "<bob> hi from nc, été"

        await nc.say("/nick bobby")
        await expect(web, "* bob is now bobby")
        await web.send("/who")
        assert await expect(web, "here on this hub") == (
            "* here on this hub: alice (web), bobby (line)"
        )
        await web.send("/nick two words")
        await expect(web, "! a nickname is 1 to 24 characters")
        await web.send("/dance")
        await expect(web, "! unknown command /dance")
        await web.send("/help")
        assert await expect(web, "/nick NEW") == f"* {room.HELP}"
        await web.send(b"binary")
        await expect(web, "! send text messages, not binary")

        # Over the room's limit: refused with a message, and the user stays.
        await nc.say("x" * (room.MAX_TEXT + 1))
        await nc.expect(f"! message too long ({room.MAX_TEXT + 1} characters")
        await nc.say("still here")
        assert await expect(web, "<bobby>") == "<bobby> still here"  # the long one never came

        # Over the line port's limit: the user is told, then disconnected.
        await nc.say("y" * (site.MAX_LINE + 10))
        await nc.expect("! line too long")
        await nc.expect_eof()
        await expect(web, "* bobby left")

        # A WebSocket message over the limit closes that connection with 1009.
        big = await web_client(closing, hub.http_port)
        await expect(big, "nickname")
        await big.send("z" * (site.MAX_MESSAGE + 1))
        with pytest.raises(ws_adapter.WebSocketClosedError) as closed:
            with anyio.fail_after(10):
                await big.receive()
        assert closed.value.code == 1009

        await web.send("/quit")
        await expect(web, "* bye")
        with anyio.fail_after(10):
            await web.wait_closed()
        assert web.close_code == 1000


async def start_hub(*options, framework="asyncio"):
    """Run the real command with free ports; return the process and its two ports."""
    return await started(
        str(EXAMPLES / "chathub"),
        "--framework",
        framework,
        "--http-port",
        "0",
        "--line-port",
        "0",
        *options,
    )


async def start_twisted_hub(redis, stall_timeout):
    """The Twisted hub's main() with a short ``stall_timeout``, which the command does not take."""
    code = (
        f"import sys; sys.path.insert(0, {str(EXAMPLES)!r}); from chathub import twisted_hub;"
        f" sys.exit(twisted_hub.main('127.0.0.1', 0, 0, {redis!r}, stall_timeout={stall_timeout}))"
    )
    return await started("-c", code)


async def started(*arguments):
    """Run Python with ``arguments`` until the hub prints where it is; the process and its ports."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *arguments,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed = ""
    with anyio.fail_after(15):
        while "chathub: room" not in printed:
            line = await process.stdout.readline()
            assert line, f"the hub exited: {printed}"
            printed += line.decode()
    http_port = int(re.search(r"ws://127\.0\.0\.1:(\d+)/chat", printed).group(1))
    line_port = int(re.search(r"nc 127\.0\.0\.1 (\d+)", printed).group(1))
    assert f"http://127.0.0.1:{http_port}/" in printed
    return process, http_port, line_port


async def stop_hub(process):
    """Ctrl-C: the hub must stop by itself, cleanly."""
    process.send_signal(signal.SIGINT)
    with anyio.fail_after(15):
        rest = await process.stdout.read()
        code = await process.wait()
    assert code == 0
    assert b"chathub: stopped" in rest


@pytest.mark.parametrize(
    ("framework_a", "framework_b"),
    [
        ("asyncio", "asyncio"),
        ("asyncio", "trio"),
        ("trio", "anyio"),
        ("asyncio", "twisted"),
        ("twisted", "trio"),
    ],
)
async def test_two_hubs_share_a_room_through_redis(closing, framework_a, framework_b):
    with redis_server.running_redis() as redis:
        hub_a, http_a, _ = await start_hub("--redis", redis.url, framework=framework_a)
        hub_b, _, line_b = await start_hub("--redis", redis.url, framework=framework_b)
        try:
            web = await web_client(closing, http_a)
            await expect(web, "nickname")
            await web.send("carol")
            await expect(web, "* carol joined")

            nc = await line_client(closing, line_b)
            await nc.expect("nickname")
            await nc.say("dave")
            await nc.expect("* dave joined")
            await expect(web, "* dave joined")  # hub B to hub A through Redis

            await web.send("hello hub B")
            assert await nc.expect("hello") == "<carol> hello hub B"
            await nc.say("hello hub A")
            assert await expect(web, "hello hub A") == "<dave> hello hub A"

            await nc.aclose()
            await expect(web, "* dave left")
            await stop_hub(hub_b)
            # Ctrl-C on hub A: its WebSocket client is told the server is going away.
            await stop_hub(hub_a)
            with anyio.fail_after(10):
                await web.wait_closed()
            assert web.close_code == 1001
        finally:
            for process in (hub_a, hub_b):
                if process.returncode is None:
                    process.kill()
                    await process.wait()


@pytest.mark.parametrize("framework", ["asyncio", "twisted"])
async def test_a_hub_that_loses_redis_stops_and_says_why(closing, framework):
    with redis_server.running_redis() as redis:
        process, http_port, _ = await start_hub("--redis", redis.url, framework=framework)
        try:
            web = await web_client(closing, http_port)
            await web.send("gina")
            await expect(web, "* gina joined")
            redis.stop()
            with anyio.fail_after(15):
                code = await process.wait()
            assert code == 1
            assert b"lost the Redis connection" in await process.stderr.read()
            with anyio.fail_after(10):
                await web.wait_closed()
            assert web.close_code == 1001
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("framework", ["asyncio", "twisted"])
async def test_a_hub_that_cannot_start_says_why(framework):
    # Nothing listens on a port we just closed: Redis is unreachable.
    port = redis_server.free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "chathub"),
        "--framework",
        framework,
        "--redis",
        f"redis://127.0.0.1:{port}",
        "--http-port",
        "0",
        "--line-port",
        "0",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with anyio.fail_after(15):
        out, err = await process.communicate()
    assert process.returncode == 1
    assert out == b""
    assert err.startswith(b"chathub: cannot start:")


@pytest.mark.parametrize("framework", ["asyncio", "twisted"])
async def test_the_page_is_at_slash_and_the_websocket_at_slash_chat_only(framework):
    async with one_hub(framework) as (port, _):
        assert (await http_get(port, "/?x=1")).startswith(b"HTTP/1.1 404")
        assert (await http_get(port, "/index.html")).startswith(b"HTTP/1.1 200")
        # /chat is the WebSocket: a plain GET is told to upgrade, not "not found".
        assert (await http_get(port, "/chat")).startswith(b"HTTP/1.1 426")
        for target in ("/", "/other", "/chat/x"):
            with pytest.raises(InvalidStatus) as refused:
                await websockets_connect(f"ws://127.0.0.1:{port}{target}")
            assert refused.value.response.status_code == 404
        async with websockets_connect(f"ws://127.0.0.1:{port}/chat?from=test") as web:
            assert "nickname" in await web.recv()


@pytest.mark.parametrize("url", ["localhost:6379", "http://localhost:6379", "6379"])
async def test_a_redis_option_that_is_not_a_redis_url_is_one_clear_line(url):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "chathub"),
        "--redis",
        url,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with anyio.fail_after(15):
        out, err = await process.communicate()
    assert process.returncode == 2  # argparse's status for a usage error
    assert out == b""
    assert b"Traceback" not in err
    assert (
        err.splitlines()[-1]
        == (
            f"chathub: error: argument --redis: {url!r} is not a Redis URL:"
            " write redis://HOST:PORT, rediss://... or unix:///PATH"
        ).encode()
    )


@pytest.mark.parametrize("framework", ["asyncio", "trio", "anyio", "twisted"])
async def test_ctrl_c_closes_websockets_with_1001_and_tells_line_users(closing, framework):
    process, http_port, line_port = await start_hub(framework=framework)
    try:
        web = await web_client(closing, http_port)
        await expect(web, "nickname")
        await web.send("frank")
        await expect(web, "* frank joined")
        nc = await line_client(closing, line_port)
        await nc.expect("nickname")
        await nc.say("erin")
        await expect(web, "* erin joined")  # the in-memory room works across both ports
        await stop_hub(process)
        await nc.expect("* the hub is shutting down")
        await nc.expect_eof()
        with anyio.fail_after(10):
            await web.wait_closed()
        assert web.close_code == 1001
        assert web.close_reason == "the hub is shutting down"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


class DevTools:
    """Drive a Chromium tab through its DevTools WebSocket, with our own client."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.calls = 0

    async def evaluate(self, expression):
        self.calls += 1
        await self.websocket.send(
            json.dumps(
                {
                    "id": self.calls,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        while True:
            answer = json.loads(await self.websocket.receive())
            if answer.get("id") == self.calls:
                return answer["result"]["result"].get("value")

    async def type_and_send(self, text):
        await self.evaluate(
            f"document.getElementById('text').value = {json.dumps(text)};"
            " document.getElementById('say').requestSubmit();"
        )

    async def wait_for_log(self, wanted):
        with anyio.fail_after(15):
            while True:
                log = await self.evaluate("document.getElementById('log').innerText")
                if log and wanted in log:
                    return log
                await anyio.sleep(0.05)


async def find_tab(profile, url):
    """The DevTools WebSocket URL of the tab showing ``url``."""
    with anyio.fail_after(30):
        while True:
            active = profile / "DevToolsActivePort"
            if active.exists() and active.read_text().strip():
                port = int(active.read_text().split()[0])
                response = await http_get(port, "/json/list")
                tabs = json.loads(response.partition(b"\r\n\r\n")[2])
                for tab in tabs:
                    if tab["type"] == "page" and tab["url"].startswith(url):
                        return tab["webSocketDebuggerUrl"]
            await anyio.sleep(0.1)


@pytest.mark.parametrize("framework", ["asyncio", "twisted"])
async def test_the_page_in_headless_chromium_sends_and_receives(tmp_path, closing, framework):
    async with one_hub(framework) as (http_port, line_port):
        url = f"http://127.0.0.1:{http_port}/"
        profile = tmp_path / "profile"
        with chromium.headless(url, profile):
            nc = await line_client(closing, line_port)
            await nc.expect("nickname")
            await nc.say("nc-user")
            devtools = DevTools(await ws_adapter.connect(await find_tab(profile, url)))
            await devtools.wait_for_log("what is your nickname?")
            await devtools.type_and_send("chromium")
            await nc.expect("* chromium joined")
            await devtools.type_and_send("hello from the page")
            assert await nc.expect("hello") == "<chromium> hello from the page"
            await nc.say("hello browser")
            await devtools.wait_for_log("<nc-user> hello browser")


async def test_three_hubs_on_asyncio_trio_and_twisted_share_one_room_in_order(closing):
    """A WebSocket user on asyncio, nc users on trio and Twisted: one Redis, one room.

    Everyone talks at once; Redis hands the hubs one order, so every user,
    whichever hub they are on, hears every message, each sender's in the
    order sent, and all in the same order.
    """
    said = {name: [f"{name} says {n:02}" for n in range(40)] for name in ("ann", "ben", "cat")}
    heard = {}
    with redis_server.running_redis() as redis:
        hubs = []
        try:
            for framework in ("asyncio", "trio", "twisted"):
                hubs.append(await start_hub("--redis", redis.url, framework=framework))
            web = await web_client(closing, hubs[0][1])
            on_trio = await line_client(closing, hubs[1][2])
            on_twisted = await line_client(closing, hubs[2][2])
            await expect(web, "nickname")
            await web.send("ann")
            await expect(web, "* ann joined")
            await on_trio.expect("nickname")
            await on_trio.say("ben")
            await expect(web, "* ben joined")  # trio -> asyncio
            await on_twisted.expect("nickname")
            await on_twisted.say("cat")
            assert await expect(web, "* cat") == "* cat joined"  # twisted -> asyncio
            assert await on_trio.expect("* cat") == "* cat joined"  # twisted -> trio

            async def listen(name, receive):
                heard[name] = []
                with anyio.fail_after(30):
                    while len(heard[name]) < 3 * 40:
                        text = await receive()
                        if text.startswith("<"):
                            heard[name].append(text)

            async def web_talks():
                for text in said["ann"]:
                    await web.send(text)

            async with anyio.create_task_group() as group:
                group.start_soon(listen, "ann", web.receive)
                group.start_soon(listen, "ben", partial(on_trio.expect, ""))  # any next line
                group.start_soon(listen, "cat", partial(on_twisted.expect, ""))
                group.start_soon(web_talks)
                group.start_soon(on_trio.say, "\n".join(said["ben"]))  # a paste: one write
                group.start_soon(on_twisted.say, "\n".join(said["cat"]))
            for name, texts in said.items():
                theirs = [text for text in heard["ann"] if text.startswith(f"<{name}> ")]
                assert theirs == [f"<{name}> {text}" for text in texts]
            assert heard["ben"] == heard["ann"]
            assert heard["cat"] == heard["ann"]
            for process, _, _ in hubs:
                await stop_hub(process)
        finally:
            for process, _, _ in hubs:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def test_a_browser_on_a_trio_hub_and_nc_on_an_asyncio_hub_share_a_room(tmp_path, closing):
    with redis_server.running_redis() as redis:
        trio_hub, http_port, _ = await start_hub("--redis", redis.url, framework="trio")
        asyncio_hub_process, _, line_port = await start_hub("--redis", redis.url)
        url = f"http://127.0.0.1:{http_port}/"
        profile = tmp_path / "profile"
        try:
            with chromium.headless(url, profile):
                devtools = DevTools(await ws_adapter.connect(await find_tab(profile, url)))
                await devtools.wait_for_log("what is your nickname?")
                await devtools.type_and_send("chromium")
                await devtools.wait_for_log("* chromium joined")
                nc = await line_client(closing, line_port)
                await nc.expect("nickname")
                await nc.say("nc-user")
                await devtools.wait_for_log("* nc-user joined")  # asyncio hub -> trio hub
                await devtools.type_and_send("hello from trio")
                assert await nc.expect("hello") == "<chromium> hello from trio"
                await nc.say("hello from asyncio")
                await devtools.wait_for_log("<nc-user> hello from asyncio")
            await stop_hub(trio_hub)
            await stop_hub(asyncio_hub_process)
        finally:
            for process in (trio_hub, asyncio_hub_process):
                if process.returncode is None:
                    process.kill()
                    await process.wait()


# -- bursts, slow readers and readers that read nothing (issue 12, item 15) --------------------
#
# Real clients: bare sockets for the line users, the websockets library for the
# WebSocket users. A burst from one user must reach every reader in order, with
# nobody dropped; only a user that reads nothing is dropped, with a goodbye.

SMALL_BUFFER = 4096
"""Kernel buffer size pinned on slow and deaf users' sockets, so their backlog shows at once."""


async def connected_socket(port, pinned):
    sock = socket.socket()
    if pinned:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, SMALL_BUFFER)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


class SocketUser:
    """An nc user on a bare socket, read only when the test asks (slowly, with ``pause``)."""

    def __init__(self, sock, pause):
        self.sock = sock
        self.pause = pause
        self.unread = bytearray()
        self.heard = []

    @classmethod
    async def connect(cls, port, pinned=False, pause=0.0):
        return cls(await connected_socket(port, pinned), pause)

    async def say(self, text):
        """Send ``text`` and a newline in one write (several lines if it holds newlines)."""
        await asyncio.get_running_loop().sock_sendall(self.sock, text.encode() + b"\n")

    async def receive(self):
        """The next line; EOFError when the hub closed the connection."""
        while (end := self.unread.find(b"\n")) < 0:
            if self.pause:
                await asyncio.sleep(self.pause)
            size = 256 if self.pause else 65536
            chunk = await asyncio.get_running_loop().sock_recv(self.sock, size)
            if not chunk:
                raise EOFError("the hub closed the connection")
            self.unread += chunk
        text = self.unread[:end].decode().rstrip("\r")
        del self.unread[: end + 1]
        self.heard.append(text)
        return text

    async def aclose(self):
        self.sock.close()


class WebUser:
    """A WebSocket user on the websockets library's client (slowly, with ``pause``)."""

    def __init__(self, websocket, pause):
        self.websocket = websocket
        self.pause = pause
        self.heard = []

    @classmethod
    async def connect(cls, port, pinned=False, pause=0.0):
        sock = await connected_socket(port, pinned)
        return cls(await websockets_connect(f"ws://127.0.0.1:{port}/chat", sock=sock), pause)

    async def say(self, text):
        await self.websocket.send(text)

    async def receive(self):
        if self.pause:
            await asyncio.sleep(self.pause)
        text = await self.websocket.recv()
        self.heard.append(text)
        return text

    async def aclose(self):
        await self.websocket.close()


async def user(closing, kind, port, **options):
    """A user of ``kind`` on ``port``, disconnected when the test ends."""
    joined = await kind.connect(port, **options)
    closing.push_async_callback(joined.aclose)
    return joined


async def until(user, wanted):
    """Receive until a text contains ``wanted``; return it (fails after 20 s)."""
    with anyio.fail_after(20):
        while wanted not in (text := await user.receive()):
            pass
    return text


async def join(user, name):
    await until(user, "nickname?")
    await user.say(name)
    await until(user, f"* {name} joined")


async def said_by(user, name, count):
    """The next ``count`` texts starting with ``<name>``, as ``user`` receives them."""
    said = []
    while len(said) < count:
        text = await user.receive()
        if text.startswith(f"<{name}> "):
            said.append(text)
    return said


@pytest.fixture(params=["memory", "redis", "twisted"])
def room_kind(request):
    return request.param


@contextlib.asynccontextmanager
async def two_hubs(kind, **options):
    """Two ways into one room, ``(a, b)``.

    ``memory``: one in-process hub, twice; ``redis``: two in-process hubs
    sharing a real Redis; ``twisted``: an in-process hub and, as ``b``, a
    Twisted hub process sharing it (its ports and Redis URL).
    """
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_server.running_redis()).url if kind != "memory" else None
        count = 2 if kind == "redis" else 1
        hubs = [asyncio_hub.Hub("127.0.0.1", 0, 0, url, **options) for _ in range(count)]
        waiting = []
        twisted = None
        try:
            for hub in hubs:
                await hub.start()
                waiting.append(asyncio.create_task(hub.wait()))  # the Redis listener
            if kind == "twisted":
                stall_timeout = options.get("stall_timeout", STALL_TIMEOUT)
                twisted, http_port, line_port = await start_twisted_hub(url, stall_timeout)
                yield hubs[0], SimpleNamespace(http_port=http_port, line_port=line_port, redis=url)
                await stop_hub(twisted)
            else:
                yield hubs[0], hubs[-1]
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            for hub in hubs:
                await hub.aclose()
            if twisted is not None and twisted.returncode is None:
                twisted.kill()
                await twisted.wait()


async def nobody_left(everyone):
    """Nobody was dropped: one more message reaches everyone, and nobody heard a leave."""
    await everyone[1].say("still here?")
    with anyio.fail_after(20):
        for someone in everyone:
            await until(someone, "still here?")
    assert not [text for someone in everyone for text in someone.heard if text.endswith(" left")]


async def test_a_300_line_burst_in_one_write_reaches_every_reader_in_order(closing, room_kind):
    async with two_hubs(room_kind) as (a, b):
        sender = await user(closing, SocketUser, a.line_port)
        everyone = [
            sender,
            await user(closing, WebUser, b.http_port),
            await user(closing, SocketUser, a.line_port),
            await user(closing, SocketUser, b.line_port, pinned=True, pause=0.01),  # slow
        ]
        for number, someone in enumerate(everyone):
            await join(someone, f"user{number}")
        burst = [f"line {number:03}" for number in range(300)]
        await sender.say("\n".join(burst))  # one write, as nc sends a pasted text
        with anyio.fail_after(60):
            received = await asyncio.gather(*(said_by(u, "user0", 300) for u in everyone))
        assert received == [[f"<user0> {text}" for text in burst]] * len(everyone)
        await nobody_left(everyone)


async def test_a_1000_message_loop_on_a_websocket_reaches_every_reader_in_order(closing, room_kind):
    async with two_hubs(room_kind) as (a, b):
        sender = await user(closing, WebUser, a.http_port)
        everyone = [
            sender,
            await user(closing, SocketUser, b.line_port),
            await user(closing, WebUser, a.http_port),
            await user(closing, WebUser, b.http_port, pinned=True, pause=0.001),  # slow
        ]
        for number, someone in enumerate(everyone):
            await join(someone, f"user{number}")
        burst = [f"message {number:04}" for number in range(1000)]

        async def send_burst():
            for text in burst:  # as a script does: all of it, reading nothing meanwhile
                await sender.say(text)
            return await said_by(sender, "user0", 1000)

        with anyio.fail_after(60):
            received = await asyncio.gather(
                send_burst(), *(said_by(u, "user0", 1000) for u in everyone[1:])
            )
        assert received == [[f"<user0> {text}" for text in burst]] * len(everyone)
        await nobody_left(everyone)


async def test_a_burst_published_on_the_room_channel_reaches_every_reader_in_order(closing):
    async with two_hubs("redis") as (a, b):
        everyone = [
            await user(closing, WebUser, a.http_port),
            await user(closing, SocketUser, a.line_port),
            await user(closing, WebUser, b.http_port),
            await user(closing, SocketUser, b.line_port, pinned=True, pause=0.01),  # slow
        ]
        for number, someone in enumerate(everyone):
            await join(someone, f"user{number}")
        # Anything published on the room's channel is said in the room: here a
        # thousand messages at once, as Redis sends a pipeline's worth.
        burst = [f"<bot> message {number:04}" for number in range(1000)]
        announcer = await resp.connect(a.redis)
        closing.push_async_callback(announcer.aclose)
        pipeline = announcer.pipeline()
        for text in burst:
            pipeline.add("PUBLISH", site.CHANNEL, text)
        await pipeline.execute()
        with anyio.fail_after(60):
            received = await asyncio.gather(*(said_by(u, "bot", 1000) for u in everyone))
        assert received == [burst] * len(everyone)
        await nobody_left(everyone)


async def drain(deaf):
    """Everything a deaf user was sent, read at last, and how its connection ended."""
    with anyio.fail_after(20):
        while True:
            try:
                await deaf.receive()
            except (EOFError, ConnectionResetError):
                return "end of file"
            except ConnectionClosed as closed:
                return closed.rcvd and (closed.rcvd.code, closed.rcvd.reason)


async def test_a_client_that_reads_nothing_is_dropped_and_the_room_carries_on(closing, room_kind):
    async with two_hubs(room_kind, stall_timeout=1.0) as (a, b):
        sender = await user(closing, SocketUser, a.line_port)
        readers = [
            await user(closing, WebUser, a.http_port),
            await user(closing, SocketUser, b.line_port),
        ]
        deaf_line = await user(closing, SocketUser, b.line_port, pinned=True)
        deaf_web = await user(closing, WebUser, b.http_port, pinned=True)
        for number, someone in enumerate([sender, *readers, deaf_line, deaf_web]):
            await join(someone, f"user{number}")
        # From here the deaf users read nothing, until the end of the test.
        noise = random.Random(12)  # texts that compress poorly: WebSockets deflate them
        burst = [f"{number:04} {noise.randbytes(450).hex()}" for number in range(1000)]
        with anyio.fail_after(60):
            _, *received = await asyncio.gather(
                sender.say("\n".join(burst)),  # it reads as it writes
                *(said_by(u, "user0", 1000) for u in [sender, *readers]),
            )
        expected = [f"<user0> {text}" for text in burst]
        assert received == [expected] * 3
        # The deaf were sent the start of the burst in order, then a goodbye.
        line_end, web_end = await asyncio.gather(drain(deaf_line), drain(deaf_web))
        assert line_end == "end of file"
        assert deaf_line.heard[-1] == f"! {site.NOT_READING}"
        assert web_end == (1008, site.NOT_READING)
        for deaf in (deaf_line, deaf_web):
            chat = [text for text in deaf.heard if text.startswith("<user0> ")]
            assert chat == expected[: len(chat)]
            assert len(chat) < len(expected)
        # The room is told, and carries on without them.
        for someone in [sender, *readers]:
            for name in ("user3", "user4"):
                with anyio.fail_after(20):
                    while f"* {name} left" not in someone.heard:
                        await someone.receive()
        await readers[0].say("after them")
        for someone in [sender, *readers]:
            assert await until(someone, "after them") == "<user1> after them"


# -- the same class of bug, without sockets: any bursts, any reading paces ---------------------


async def room_with_readers(bursts, paces, deaf):
    """Senders publish their bursts at once to readers of various paces (and maybe a deaf one).

    Returns what each reader got, and how many times the deaf one was dropped.
    """
    the_room = room.Room()
    received = [[] for _ in paces]
    dropped = []

    def reader(number, pace):
        async def send(text):
            for _ in range(pace):
                await asyncio.sleep(0)
            received[number].append(text)

        return send

    async def goodbye():
        dropped.append(True)

    deaf_until_the_end = asyncio.Event()

    async def taken_at_the_end(text):
        await deaf_until_the_end.wait()

    outboxes = [Outbox(reader(n, pace), goodbye, stall_timeout=60) for n, pace in enumerate(paces)]
    if deaf:
        outboxes.append(Outbox(taken_at_the_end, goodbye, stall_timeout=0.01))
    the_room.members.update(room.Member(outbox.deliver, "test") for outbox in outboxes)

    async def talk(sender, count):
        for number in range(count):
            await the_room.bus.publish(f"<{sender}> {number}")

    with anyio.fail_after(60):
        await asyncio.gather(*(talk(sender, count) for sender, count in enumerate(bursts)))
        deaf_until_the_end.set()
        for outbox in outboxes:
            await outbox.aclose()  # a reader's outbox is sent whole first
    return received, len(dropped)


@given(
    bursts=st.lists(st.integers(0, 400), min_size=1, max_size=3),
    paces=st.lists(st.integers(0, 2), min_size=1, max_size=3),
    deaf=st.booleans(),
)
def test_fuzz_bursts_reach_every_reader_in_order_and_only_the_deaf_are_dropped(bursts, paces, deaf):
    received, dropped = asyncio.run(room_with_readers(bursts, paces, deaf))
    for texts in received:
        for sender, count in enumerate(bursts):
            said = [text for text in texts if text.startswith(f"<{sender}> ")]
            assert said == [f"<{sender}> {number}" for number in range(count)]
    # The deaf one takes one text and finishes it only at the end: it holds
    # MAX_PENDING more, and is dropped (once) only when a text finds no room.
    assert dropped == (1 if deaf and sum(bursts) > MAX_PENDING + 1 else 0)


def twisted_room_with_readers(bursts, paces, deaf):
    """:func:`room_with_readers` with the Twisted hub's outbox, on a ``task.Clock``.

    No reactor: every wait is a Deferred of the clock, which the loop below
    moves on by a millisecond at a time. A reader's pace is how many
    milliseconds taking one text costs it.
    """
    clock = task.Clock()
    the_room = room.Room()
    received = [[] for _ in paces]
    dropped = []

    def reader(number, pace):
        async def send(text):
            if pace:
                await task.deferLater(clock, pace / 1000, lambda: None)
            received[number].append(text)

        return send

    async def goodbye():
        dropped.append(True)

    the_end = Event()

    async def taken_at_the_end(text):
        await the_end.wait()

    outboxes = [
        TwistedOutbox(clock, reader(n, pace), goodbye, stall_timeout=60)
        for n, pace in enumerate(paces)
    ]
    if deaf:
        outboxes.append(TwistedOutbox(clock, taken_at_the_end, goodbye, stall_timeout=0.01))
    the_room.members.update(room.Member(outbox.deliver, "test") for outbox in outboxes)

    async def talk(sender, count):
        for number in range(count):
            await the_room.bus.publish(f"<{sender}> {number}")

    async def scenario():
        talking = [Deferred.fromCoroutine(talk(s, count)) for s, count in enumerate(bursts)]
        await DeferredList(talking, fireOnOneErrback=True, consumeErrors=True)
        the_end.set()
        for outbox in outboxes:
            await outbox.aclose()  # a reader's outbox is sent whole first

    outcome = []
    Deferred.fromCoroutine(scenario()).addBoth(outcome.append)
    for _ in range(60_000):  # a minute of the clock
        if outcome:
            break
        clock.advance(0.001)
    assert outcome == [None], outcome
    return received, len(dropped)


@given(
    bursts=st.lists(st.integers(0, 400), min_size=1, max_size=3),
    paces=st.lists(st.integers(0, 2), min_size=1, max_size=3),
    deaf=st.booleans(),
)
def test_fuzz_the_twisted_outbox_keeps_order_and_drops_only_the_deaf(bursts, paces, deaf):
    received, dropped = twisted_room_with_readers(bursts, paces, deaf)
    for texts in received:
        for sender, count in enumerate(bursts):
            said = [text for text in texts if text.startswith(f"<{sender}> ")]
            assert said == [f"<{sender}> {number}" for number in range(count)]
    assert dropped == (1 if deaf and sum(bursts) > MAX_PENDING + 1 else 0)
