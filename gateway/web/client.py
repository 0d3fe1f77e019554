"""The client address a request is counted under, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: web.Request, trusted_proxies: Sequence[Network]) -> str:
    """Return the address of the party that sent the request.

    When the TCP peer is a trusted proxy, X-Forwarded-For is read from the
    right: each proxy appends the address it received from, so the first
    entry that is not itself a trusted proxy is the client. Entries left of
    it were written by the client and are ignored.
    """
    peer = _parse_ip(request.remote or "")
    if peer is None:
        return request.remote or "unknown"
    if not _is_trusted(peer, trusted_proxies):
        return str(peer)
    hops = [item.strip() for header in request.headers.getall("X-Forwarded-For", []) for item in header.split(",")]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            # A malformed entry ends the trusted chain; the last good hop is the best guess.
            break
        peer = address
        if not _is_trusted(address, trusted_proxies):
            break
    return str(peer)


def _parse_ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is counted as its IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, trusted_proxies: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted_proxies)
