"""The Starlette application: a fan-out hub per process, WebSocket endpoints per room."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tidewire_anyio import resp

_BUFFER = 100  # messages a slow WebSocket client may fall behind before it is dropped


class Hub:
    """The local clients of each room, fed from one Redis pattern subscription."""

    def __init__(self, client: resp.Client) -> None:
        self.client = client
        self.rooms: dict[str, set[MemoryObjectSendStream[str]]] = {}

    async def run(self, url: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Subscribe to every room and fan each message out; report once subscribed."""
        async with resp.connect(url, decode_responses=True) as subscriber:
            await subscriber.psubscribe("room:*")
            task_status.started()
            async for message in subscriber.messages():
                room = str(message.channel).removeprefix("room:")
                for local in list(self.rooms.get(room, ())):
                    try:
                        local.send_nowait(str(message.data))
                    except anyio.WouldBlock:  # too slow: it leaves, the others go on
                        await local.aclose()

    @contextlib.asynccontextmanager
    async def join(self, room: str) -> AsyncIterator[anyio.abc.ObjectReceiveStream[str]]:
        """The messages of ``room`` for one local client, while it stays."""
        send, receive = anyio.create_memory_object_stream[str](_BUFFER)
        self.rooms.setdefault(room, set()).add(send)
        try:
            async with send, receive:
                yield receive
        finally:
            self.rooms[room].discard(send)


async def _room(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    room = websocket.path_params["room"]
    await websocket.accept()
    async with hub.join(room) as messages, anyio.create_task_group() as tg:

        async def forward() -> None:
            async for text in messages:
                await websocket.send_text(text)
            tg.cancel_scope.cancel()  # dropped by the hub: close

        tg.start_soon(forward)
        try:
            while True:
                text = await websocket.receive_text()
                await hub.client.execute("PUBLISH", f"room:{room}", text)
        except WebSocketDisconnect:
            tg.cancel_scope.cancel()


def create_app(redis_url: str = "redis://localhost:6379") -> Starlette:
    """The application, publishing and subscribing through the Redis at ``redis_url``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with resp.Client(redis_url) as client, anyio.create_task_group() as tg:
            app.state.hub = hub = Hub(client)
            await tg.start(hub.run, redis_url)
            yield
            tg.cancel_scope.cancel()

    return Starlette(routes=[WebSocketRoute("/ws/{room}", _room)], lifespan=lifespan)
