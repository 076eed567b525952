"""The client endpoint for a host and port, shared by the WebSocket and Redis clients."""

from __future__ import annotations

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
