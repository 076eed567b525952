"""The command line: ``python docs/examples/chathub [--framework asyncio] ...``."""

from __future__ import annotations

import argparse
import importlib
import sys
import urllib.parse
from pathlib import Path

if not __package__:  # run as a path (python docs/examples/chathub): make the package importable
    sys.path.insert(0, str(Path(__file__).parent.parent))
    __package__ = "chathub"

# --framework -> (the hub's module, the arguments before its main()'s host, ports and redis):
# trio and anyio share one module, as their adapters share every name; twisted runs
# its hub under the global reactor.
FRAMEWORKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "asyncio": ("chathub.asyncio_hub", ()),
    "trio": ("chathub.anyio_hub", ("trio",)),
    "anyio": ("chathub.anyio_hub", ("anyio",)),
    "twisted": ("chathub.twisted_hub", ()),
}


def redis_url(text: str) -> str:
    """Check that ``--redis`` names a Redis server the way the adapters take it."""
    if urllib.parse.urlsplit(text).scheme not in ("redis", "rediss", "unix"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Redis URL: write redis://HOST:PORT, rediss://... or unix:///PATH"
        )
    return text


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line (``sys.argv`` when ``argv`` is None)."""
    parser = argparse.ArgumentParser(
        prog="chathub",
        description="A chat room for browsers (WebSocket) and nc/telnet users (lines).",
    )
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS), default="asyncio")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--http-port", type=int, default=8765, help="the page and the WebSocket (0: any free port)"
    )
    parser.add_argument(
        "--line-port",
        type=int,
        default=8766,
        help="the line protocol, for nc/telnet (0: any free port)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        type=redis_url,
        help="share the room with other hubs through Redis pub/sub"
        " (redis://host:6379); default: in memory, this process only",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the hub on the chosen framework until Ctrl-C."""
    args = parse(argv)
    module, first = FRAMEWORKS[args.framework]
    hub = importlib.import_module(module)
    sys.exit(hub.main(*first, args.host, args.http_port, args.line_port, args.redis))


if __name__ == "__main__":
    main()
