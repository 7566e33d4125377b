"""The client's address, believing forwarded-for headers only from the proxies named in the settings.

Behind a reverse proxy every request comes from the proxy's address, so the proxy says whose
request it passes on (``X-Forwarded-For``, or RFC 7239 ``Forwarded``). Anyone can send those
headers, so they are read only when the socket's peer is a proxy named in
``ACCORD_TRUSTED_PROXIES``. The chain is read from the right, skipping trusted proxies: the
first address that is not one is the client (the left-most entries are whatever the client sent).
"""

from __future__ import annotations

import ipaddress
import re

from starlette.requests import HTTPConnection

from accord.config import Settings

UNKNOWN = "unknown"
_FOR = re.compile(r'(?:^|[;,\s])for=("?)(\[?[^;,"\]]+\]?)(?::\d+)?\1', re.IGNORECASE)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"').strip("[]")
    if text.count(":") == 1 and "." in text:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_chain(connection: HTTPConnection) -> list[str]:
    """The addresses the proxies say the request passed through, client first (RFC 7239 preferred)."""
    forwarded = connection.headers.getlist("forwarded")
    if forwarded:
        return [match.group(2) for value in forwarded for match in _FOR.finditer(value)]
    return [part.strip() for value in connection.headers.getlist("x-forwarded-for") for part in value.split(",")]


def client_address(connection: HTTPConnection, settings: Settings) -> str:
    """The address a request came from, as text (``unknown`` if the server was not told)."""
    peer = _ip(connection.client.host) if connection.client else None
    if peer is None:
        return connection.client.host if connection.client and connection.client.host else UNKNOWN
    trusted = settings.trusted_proxy_networks
    if not trusted or not any(peer in network for network in trusted):
        return str(peer)
    current = peer
    for hop in reversed(_forwarded_chain(connection)):
        address = _ip(hop)
        if address is None:  # an obfuscated or unknown hop: the nearest address we can trust is the client
            return str(current)
        current = address
        if not any(address in network for network in trusted):
            return str(address)
    return str(current)
