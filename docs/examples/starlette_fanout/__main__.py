"""Serve the fan-out application with hypercorn, on asyncio or trio."""

from __future__ import annotations

import argparse
import functools
from typing import Any

import anyio
from hypercorn.config import Config

from . import create_app


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", default="redis://localhost:6379")
    args = parser.parse_args()
    config = Config()
    config.bind = [f"127.0.0.1:{args.port}"]
    app: Any = create_app(args.redis)  # an ASGI application, as hypercorn types it
    if args.backend == "trio":
        from hypercorn.trio import serve as trio_serve

        anyio.run(functools.partial(trio_serve, app, config), backend="trio")
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        anyio.run(functools.partial(asyncio_serve, app, config))


if __name__ == "__main__":
    main()
