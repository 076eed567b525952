"""Redis URLs (``redis://``, ``rediss://``, ``unix://``) read as redis-py does, and options."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["OPTIONS", "connection_options", "parse_url"]

OPTIONS = frozenset(
    ("host", "port", "path", "ssl", "server_hostname", "db", "username", "password")
) | frozenset(("client_name", "protocol"))
"""The connection options a Redis client takes, from a URL or as keywords."""


def parse_url(url: str) -> dict[str, Any]:
    """Turn a Redis URL into connection options, as redis-py's ``from_url`` does.

    Accepted forms: ``redis://[[user]:password@]host[:port][/db]``,
    ``rediss://...`` (TLS: ``"ssl": True``) and
    ``unix://[[user]:password@]/path/to/socket``. Percent-escapes are
    decoded everywhere. Query options ``db``, ``protocol``, ``client_name``,
    ``username`` and ``password`` are taken (the first value of each;
    others are ignored); a ``db`` in the query wins over one in the path.
    The keys returned are those given: ``host``, ``port`` (6379 by default
    for ``redis``), ``path``, ``ssl``, ``db``, ``username``, ``password``,
    ``client_name``, ``protocol``.

    Raises:
        ValueError: another scheme, a bad port, or a database or protocol
            that is not a number.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options: dict[str, Any] = {}
    if scheme == "unix":
        options["path"] = unquote(parts.path)
    elif scheme in ("redis", "rediss"):
        options["host"] = unquote(parts.hostname or "localhost")
        options["port"] = parts.port or 6379  # ValueError for a bad port
        if scheme == "rediss":
            options["ssl"] = True
        path = unquote(parts.path).strip("/")
        if path:
            options["db"] = _number(path, "database")
    else:
        raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {url!r}")
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    for name, values in parse_qs(parts.query).items():
        if name in ("db", "protocol"):
            options[name] = _number(values[0], "database" if name == "db" else name)
        elif name in ("client_name", "username", "password"):
            options[name] = values[0]
    return options


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"the {what} in a Redis URL must be a number, not {text!r}")
    return int(text)


def connection_options(url: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The options of a connection: those of ``url``, then the ``overrides`` not ``None``.

    The names are those :func:`parse_url` returns (``host``, ``port``,
    ``path``, ``ssl``, ``db``, ``username``, ``password``, ``client_name``,
    ``protocol``) and ``server_hostname``.

    Raises:
        TypeError: an option of another name.
        ValueError: a bad URL, or a ``protocol`` other than 2 or 3.
    """
    options = parse_url(url) if url is not None else {}
    unknown = sorted(set(overrides) - OPTIONS)
    if unknown:
        raise TypeError(f"unexpected connection options: {', '.join(unknown)}")
    options.update((name, value) for name, value in overrides.items() if value is not None)
    if options.get("protocol", 3) not in (2, 3):
        raise ValueError(f"protocol must be 2 or 3, not {options['protocol']!r}")
    return options
