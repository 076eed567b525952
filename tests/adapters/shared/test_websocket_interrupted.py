"""The WebSocket layer when a receive or a send is interrupted, and what send() accepts.

Cancelled receives lose nothing; an interrupted fragmented send fails the
connection with 1011 instead of wedging it; a sender woken after another task
closed gets the documented error; send() refuses what is not a message before
sending anything. Our client against our server on loopback, real sockets;
no asyncio in the bodies (the type hints' check is in test_asyncio_websocket.py).
"""

import importlib
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.anyio

# The adapter under test's WebSocket module and its closed error, bound by the
# autouse fixture below from the shared `adapter` fixture.
ws_adapter: Any = None
Closed: Any = None


@pytest.fixture(autouse=True)
def websocket_module(adapter):
    """Run every test against the WebSocket module of the adapter under test."""
    global ws_adapter, Closed
    ws_adapter = importlib.import_module(f"{adapter.__name__}.websocket")
    Closed = ws_adapter.WebSocketClosedError


def serve_ours(handler, **options):
    options.setdefault("ping_interval", None)
    return ws_adapter.serve(handler, "127.0.0.1", 0, **options)


def uri(server):
    return f"ws://127.0.0.1:{server.port}/"


def connect(server, **options):
    options.setdefault("ping_interval", None)
    return ws_adapter.connect(uri(server), **options)


# -- item 5: a cancelled receive loses nothing ------------------------------------------


class Fragmenter:
    """Sends "Hello, " and "world!" as one message of two fragments, pausing in between.

    The pause lasts until ``resume`` is set; ``first_arrived`` is set once the
    server has parsed the first fragment (a ping after it came back).
    """

    def __init__(self):
        self.first_arrived = anyio.Event()
        self.resume = anyio.Event()

    async def pieces(self, client):
        yield "Hello, "
        await client.ping()  # the pong comes after the server parsed the fragment
        self.first_arrived.set()
        await self.resume.wait()
        yield "world!"


async def run_interrupted_receive(interrupted, then, *, streaming=True):
    """The handler runs ``interrupted(ws)`` and cancels it between the fragments.

    Then ``then(ws)`` is what the handler returns; a second, whole message
    ("next") follows the fragmented one.
    """
    fragmenter = Fragmenter()
    outcome = {}
    done = anyio.Event()

    async def handler(websocket):
        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()

            async def first():
                with scope:
                    outcome["interrupted"] = await interrupted(websocket)

            tg.start_soon(first)
            await fragmenter.first_arrived.wait()
            scope.cancel()
        fragmenter.resume.set()
        outcome["then"] = await then(websocket)
        outcome["next"] = await websocket.receive()
        done.set()

    # fail_after: a bound, so that a regression fails instead of hanging.
    with anyio.fail_after(10):
        async with (
            serve_ours(handler, streaming=streaming) as server,
            connect(server, compression=None) as client,
        ):
            await client.send(fragmenter.pieces(client))
            await client.send("next")
            await done.wait()
    return outcome


async def test_a_cancelled_receive_between_fragments_loses_nothing():
    outcome = await run_interrupted_receive(lambda ws: ws.receive(), lambda ws: ws.receive())
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_a_cancelled_async_for_between_fragments_loses_nothing():
    async def first_message(ws):
        async for message in ws:
            return message
        raise AssertionError("no message")

    outcome = await run_interrupted_receive(first_message, first_message)
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_a_cancelled_receive_hands_its_pieces_to_receive_stream():
    async def stream(ws):
        return [piece async for piece in ws.receive_stream()]

    outcome = await run_interrupted_receive(lambda ws: ws.receive(), stream)
    assert outcome == {"then": ["Hello, ", "world!", ""], "next": "next"}  # "": our last frame


async def test_an_interrupted_receive_stream_is_continued_by_the_next_one():
    taken = []

    async def interrupted(ws):
        async for piece in ws.receive_stream():
            taken.append(piece)

    async def rest(ws):
        with pytest.raises(RuntimeError, match="receive_stream"):
            await ws.receive()  # would return the tail as if it were a message
        return [piece async for piece in ws.receive_stream()]

    outcome = await run_interrupted_receive(interrupted, rest)
    assert taken == ["Hello, "]
    assert outcome == {"then": ["world!", ""], "next": "next"}


async def test_a_cancelled_receive_of_whole_messages_loses_nothing():
    outcome = await run_interrupted_receive(
        lambda ws: ws.receive(), lambda ws: ws.receive(), streaming=False
    )
    assert outcome == {"then": "Hello, world!", "next": "next"}


async def test_receives_cancelled_before_the_first_fragment_take_nothing():
    """Cancelled at their first await, receive(), async for and receive_stream() take nothing."""
    outcome = []
    done = anyio.Event()

    async def handler(websocket):
        with anyio.move_on_after(0.01):
            await websocket.receive()
        with anyio.move_on_after(0.01):
            async for _ in websocket:
                pass
        with anyio.move_on_after(0.01):
            async for _ in websocket.receive_stream():
                pass
        outcome.append(await websocket.receive())
        done.set()

    with anyio.fail_after(10):
        async with (
            serve_ours(handler, streaming=True) as server,
            connect(server, compression=None) as client,
        ):
            await anyio.sleep(0.1)  # the three receives wait, and are cancelled
            await client.send(["Hello, ", "world!"])
            await done.wait()
    assert outcome == ["Hello, world!"]


# -- item 6: an interrupted fragmented send fails the connection with 1011 -------------


def raising_pieces():
    yield "one"
    yield "two"
    raise ValueError("the source broke")


async def raising_async_pieces():
    yield b"one"
    raise ValueError("the source broke")


async def never_ending_pieces():
    yield "one"
    await anyio.sleep_forever()


async def expect_failed_fragmented_send(send, error):
    codes = []
    done = anyio.Event()

    async def handler(websocket):
        try:
            received = await websocket.receive()
            codes.append(("message", received))
        except Closed as exc:
            codes.append(exc.code)
        done.set()

    async with serve_ours(handler) as server, connect(server) as client:
        with pytest.raises(error):
            await send(client)
        # Never wedged: the connection was failed, and says so.
        assert client.closed and client.close_code == 1006
        with pytest.raises(Closed):
            await client.send("after")
        with pytest.raises(Closed):
            await client.send(["after"])
        with pytest.raises(Closed):
            await client.ping()
        await client.close()
        await done.wait()
    assert codes == [1011]  # the peer never sees the truncated message as whole


@pytest.mark.parametrize("pieces", [raising_pieces, raising_async_pieces])
async def test_a_raising_iterator_fails_the_connection_with_1011(pieces):
    await expect_failed_fragmented_send(lambda client: client.send(pieces()), ValueError)


async def test_a_piece_of_the_wrong_kind_fails_the_connection_with_1011():
    await expect_failed_fragmented_send(lambda client: client.send(["text", b"bytes"]), TypeError)


async def test_a_cancelled_fragmented_send_fails_the_connection_with_1011():
    async def cancelled_send(client):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, never_ending_pieces())
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
        raise RuntimeError("cancelled") if scope.cancelled_caught else AssertionError

    await expect_failed_fragmented_send(cancelled_send, RuntimeError)


async def test_a_fragmented_send_cancelled_on_a_full_buffer_fails_the_connection():
    release = anyio.Event()

    async def slow_reader(websocket):
        await release.wait()

    # Streaming, so that the server holds one chunk and then stops reading.
    options = {"streaming": True, "max_message_size": None}
    async with (
        serve_ours(slow_reader, max_queue=1, read_high_water=1024, **options) as server,
        connect(server, compression=None, write_high_water=1024) as client,
    ):
        big = [b"q" * 100_000] * 1000  # far more than the buffers hold
        with anyio.move_on_after(0.3) as scope:
            await client.send(big)
        assert scope.cancelled_caught
        assert client.closed
        with pytest.raises(Closed):
            await client.send("after")
        release.set()


async def test_an_empty_or_refused_first_piece_sends_nothing_and_keeps_the_connection():
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    async with serve_ours(echo) as server, connect(server) as client:
        with pytest.raises(TypeError, match="at least one piece"):
            await client.send([])
        with pytest.raises(TypeError, match="str or bytes-like"):
            await client.send([1, 2])
        await client.send("still fine")
        assert await client.receive() == "still fine"


# -- item 7: a sender woken after another task closed gets WebSocketClosedError --------


@pytest.mark.parametrize("kind", ["send", "fragments", "ping"])
async def test_a_blocked_sender_gets_the_closed_error_when_another_task_closes(kind):
    release = anyio.Event()

    async def slow_reader(websocket):
        await release.wait()
        async for _ in websocket:
            pass

    async with (
        serve_ours(slow_reader, max_queue=1, read_high_water=1024) as server,
        connect(server, compression=None, write_high_water=1024) as client,
    ):
        big = b"q" * 100_000
        with anyio.move_on_after(0.3):
            while True:  # the server does not read yet: our buffer fills
                await client.send(big)
        errors = []

        async def blocked_sender():
            try:
                if kind == "send":
                    await client.send(big)
                elif kind == "fragments":
                    await client.send([big, big])
                else:
                    await client.ping()
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked_sender)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(client.close)
            await anyio.wait_all_tasks_blocked()
            release.set()  # the buffer drains: the sender wakes after the close began
        assert [type(error) for error in errors] == [Closed]


# -- item 16: what send() accepts ------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"a": 1, "bb": 2}, "mapping"),
        (123, r"str, bytes-like, or an iterable or async iterable of them, not int"),
        (None, "not NoneType"),
        ([1, 2], r"str or bytes-like, not int"),
        (lambda: (piece for piece in [None]), "not NoneType"),  # a new generator per run
    ],
)
async def test_send_refuses_what_is_not_a_message_before_sending_anything(message, match):
    if callable(message):
        message = message()

    async def echo(websocket):
        async for received in websocket:
            await websocket.send(received)

    async with serve_ours(echo) as server, connect(server) as client:
        with pytest.raises(TypeError, match=match):
            await client.send(message)
        await client.send("ok")
        assert await client.receive() == "ok"  # nothing was sent before it


async def test_send_accepts_bytes_like_pieces():
    async def echo(websocket):
        async for received in websocket:
            await websocket.send(received)

    async with serve_ours(echo) as server, connect(server) as client:
        await client.send(iter([bytearray(b"ab"), memoryview(b"cd"), b"ef"]))
        assert await client.receive() == b"abcdef"
        await client.send(memoryview(b"whole"))
        assert await client.receive() == b"whole"
