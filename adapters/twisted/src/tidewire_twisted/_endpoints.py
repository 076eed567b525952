"""Endpoints and TLS, shared by the stream, WebSocket and Redis layers."""

from __future__ import annotations

import importlib
from typing import Any, cast

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint


def endpoint_for(reactor: Any, host: str, port: int) -> IStreamClientEndpoint:
    """TCP to an IP address directly, else through the reactor's resolver (happy eyeballs)."""
    endpoint: Any
    if isIPAddress(host):
        endpoint = TCP4ClientEndpoint(reactor, host, port)
    elif isIPv6Address(host):
        endpoint = TCP6ClientEndpoint(reactor, host, port)  # type: ignore[no-untyped-call]
    else:
        endpoint = HostnameEndpoint(reactor, host, port)
    return cast(IStreamClientEndpoint, endpoint)


def tls_module(name: str) -> Any:
    """Import one of Twisted's TLS modules, which need pyOpenSSL, on first use.

    Plain TCP never needs it, so it is an extra (``tidewire-twisted[tls]``,
    which is ``twisted[tls]``), and its absence is said plainly.
    """
    try:
        return importlib.import_module(name)
    except ImportError as missing:
        raise ImportError(
            "TLS on Twisted needs pyOpenSSL: pip install 'tidewire-twisted[tls]'"
        ) from missing
