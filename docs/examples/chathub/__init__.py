"""A chat hub: one room, joined from a browser (WebSocket) or from ``nc`` (lines).

Run it with ``python docs/examples/chathub`` (see ``--help``). The package is
split by concern so that each file stays short:

- :mod:`chathub.room`: the chat itself (nicknames, commands, notices, limits),
  with no I/O, so every framework shares it;
- :mod:`chathub.web`: what every hub serves alike (the page, the paths,
  the limits), with no framework;
- :mod:`chathub.redis_bus`: the room shared through Redis pub/sub, over any
  adapter's Redis client (they share every name);
- :mod:`chathub.outbox`: one client's bounded outbox on asyncio, and what
  happens to a client that reads nothing;
- :mod:`chathub.asyncio_hub`: serving the room on asyncio with
  ``tidewire_asyncio`` (WebSocket + page, line port, Redis pub/sub);
- :mod:`chathub.anyio_outbox` and :mod:`chathub.anyio_hub`: the same on trio
  (``tidewire_trio``) or anyio (``tidewire_anyio``), with structured concurrency;
- :mod:`chathub.twisted_outbox` and :mod:`chathub.twisted_hub`: the same under
  Twisted's reactor (``tidewire_twisted``), the page and the WebSocket in one
  ``twisted.web`` site, every wait a Deferred;
- ``page.html``: the browser client;
- :mod:`chathub.__main__`: the command line.
"""
