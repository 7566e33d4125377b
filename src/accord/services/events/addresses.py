"""Where a webhook may be sent: in production, only to public addresses, checked where the call really goes.

``refusal`` is the one rule: an address is refused if it is loopback, link-local, private,
multicast, unspecified, reserved, carrier-grade NAT or otherwise not globally routable
(an IPv4 address inside IPv6, as ``::ffff:127.0.0.1``, NAT64 or 6to4, is judged as the IPv4
address it carries). It is applied twice:

- when a subscription is made (``check_webhook_url``): to the host as written, in every
  spelling a resolver accepts (``2130706433``, ``127.1`` and ``0x7f000001`` are all 127.0.0.1),
  and to every address a name resolves to; ``localhost`` and its subdomains are refused unresolved;
- at every connection a delivery makes (``PinnedTransport``): the name is resolved once,
  every address it gave is checked, and the connection goes to the address that was checked.
  A name whose answer changes between the check and the connection (DNS rebinding) therefore
  cannot slip through. TLS still sends the name (SNI) and verifies the certificate against it.

Outside production the rule is off (the demo and the tests deliver to 127.0.0.1), but
deliveries take the same pinned path. See docs/adr/0015-webhook-addresses-pinned.md.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Iterable

import httpcore
import httpx

from accord.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _carried(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address`` in production (None: it may): the one rule."""
    carried = _carried(address)
    for candidate in dict.fromkeys((carried, address)):
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_multicast:
            return "a multicast address"
        if isinstance(candidate, ipaddress.IPv4Address) and candidate in CARRIER_GRADE_NAT:
            return "a carrier-grade NAT address"
        if candidate.is_private:
            return "a private address"
        if candidate.is_reserved:
            return "a reserved address"
        if not candidate.is_global:
            return "an address that is not public"
    return None


class AddressRefused(InvalidInput):
    """A webhook address the rule refuses (or a name that resolves to nothing)."""


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling a resolver accepts (None: it is a name)."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if bare and all(c in "0123456789abcdefABCDEFxX." for c in bare) and bare[0].isdigit():
        try:  # the classic inet_aton forms: 2130706433, 127.1, 0x7f000001, 0177.0.0.1
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a name resolves to (the system resolver; tests replace this function)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    addresses = []
    for _family, _type, _proto, _name, sockaddr in found:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        addresses.append(ipaddress.ip_address(text))
    return list(dict.fromkeys(addresses))


def _standard_spelling(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def permitted_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` stands for, every one checked by ``refusal``; refused (naming the host and
    address) if any is not allowed, or if the name resolves to nothing."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    elif _is_localhost(host):
        raise AddressRefused(f"url host '{host}' is this machine (a loopback address); in production a webhook "
                             "must go to a public address")
    else:
        addresses = resolve(host, port)
        if not addresses:
            raise AddressRefused(f"url host '{host}' could not be resolved to an address")
    for address in addresses:
        why = refusal(address)
        if why is not None:
            if literal is None:
                named = f"'{host}' resolves to {address}, which"
            elif not _standard_spelling(host):
                named = f"'{host}' means {address}, which"
            else:
                named = f"'{host}'"
            raise AddressRefused(f"url host {named} is {why}; in production a webhook must go to a public address")
    return addresses


def check_webhook_url(url: str, *, production: bool) -> str:
    """http(s) with a host and no credentials; in production https, to public addresses only."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidInput("url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput("url must be an http or https URL with a host")
    if parsed.userinfo:
        raise InvalidInput("url must not contain a user name or password")
    if production:
        if parsed.scheme != "https":
            raise InvalidInput("url must use https in production")
        permitted_addresses(parsed.host, parsed.port or 443)
    return str(parsed)


# ------------------------------------------------------------------ connecting to the checked address


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to an address that was checked at the moment of connecting: resolves the name once,
    checks every address (in production), and connects to them in turn (no second lookup to rebind)."""

    def __init__(self, *, production: bool) -> None:
        self.production = production
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        try:
            if self.production:
                addresses = permitted_addresses(host, port)
            else:
                literal = literal_address(host)
                addresses = [literal] if literal is not None else resolve(host, port)
        except AddressRefused as refused:
            raise httpcore.ConnectError(f"refused before connecting: {refused.detail}") from None
        if not addresses:
            raise httpcore.ConnectError(f"url host '{host}' could not be resolved to an address")
        failed: Exception | None = None
        for address in addresses:  # each one checked above; the next is tried if one does not answer
            try:
                return self._inner.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None
        raise failed

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, with a connection pool whose every connection goes through ``PinnedBackend``.

    Only the pool's network backend differs, so TLS (the system's trusted roots, SNI and the
    certificate's name checked against the URL's host), keep-alive and error mapping are httpx's.
    """

    def __init__(self, *, production: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx builds its pool in __init__ with no way to name a network backend, so the pool is
        # replaced here: the same verifying TLS context httpx makes, the same limits, this backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(production=production),
        )
