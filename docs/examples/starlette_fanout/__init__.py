"""Pub/sub fan-out for a Starlette application, through Redis, on asyncio or trio.

Every WebSocket client of ``/ws/{room}`` gets every message published to
the Redis channel ``room:{room}``, whichever process published it; what a
client sends is published there. One Redis subscription per process
(``PSUBSCRIBE room:*``) feeds every local client through anyio memory
streams, and one shared :class:`tidewire_anyio.resp.Client` publishes.
Starlette runs on anyio, and so does tidewire-anyio: the same code serves
on asyncio (uvicorn, hypercorn) and on trio (hypercorn's trio worker).

Run: ``python -m starlette_fanout --backend trio --port 8000`` from
docs/examples, with a redis-server on localhost.
"""

from .app import create_app

__all__ = ["create_app"]
