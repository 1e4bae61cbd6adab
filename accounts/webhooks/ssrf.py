"""Keeping webhook requests away from the server's own network (SSRF).

A destination is checked by resolving its host name once, refusing it unless every address is
public (or inside ``WEBHOOK_ALLOWED_PRIVATE_NETWORKS``), and then connecting to that same
address: no second lookup, so a name cannot resolve to a public address for the check and a
private one for the connection (DNS rebinding). Redirects are never followed (delivery.py).
The check runs when an endpoint is saved, for a clear error, and again before every request.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from asterweb.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The one resolver call (tests replace it to point names at chosen addresses).
_getaddrinfo = socket.getaddrinfo


class UnsafeDestination(ApplicationError):
    """The URL may not receive webhooks; the message says why, for the person who entered it."""

    code = "unsafe_webhook_url"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, fields={"url": [detail]})


@dataclass(frozen=True)
class Destination:
    """Where to send: the URL's parts plus the one address checked and to connect to."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    address: str


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a literal address resolves to itself)."""
    infos = _getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64 or 6to4), which is where it leads."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return None


def address_is_allowed(address: str) -> bool:
    """True for public unicast addresses, and for any address inside an allow-listed network."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip.version == network.version and ip in network for network in _allowed_networks()):
        return True
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_is_allowed(str(embedded))
    forbidden = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
    return not forbidden


def url_check(url: str) -> tuple[str, str, int, str]:
    """The (scheme, host, port, target) of a URL webhooks may be sent to, without resolving it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination("Enter a valid URL.") from exc
    scheme = parts.scheme.lower()
    allowed_schemes = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if scheme not in allowed_schemes:
        raise UnsafeDestination("Webhook URLs must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestination("Leave credentials out of the URL: verify requests with the signing secret instead.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeDestination("Enter a URL with a host name.")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise UnsafeDestination("The host name is not valid.") from exc
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), target


def destination_resolve(url: str) -> Destination:
    """Check ``url`` and resolve its host; UnsafeDestination if it may not receive webhooks."""
    scheme, host, port, target = url_check(url)
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestination(f"The host name {host} could not be resolved.") from exc
    if not addresses:
        raise UnsafeDestination(f"The host name {host} could not be resolved.")
    refused = [address for address in addresses if not address_is_allowed(address)]
    if refused:
        subject = host if host == refused[0] else f"{host} resolves to {refused[0]}, which"
        raise UnsafeDestination(
            f"{subject} is a private, loopback or otherwise reserved address: "
            "webhooks can only be sent to public addresses."
        )
    return Destination(scheme=scheme, host=host, port=port, target=target, address=addresses[0])
