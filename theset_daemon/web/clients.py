"""Who a request comes from, for the per-client limits (CONTRACT.md section 2).

A client is its address: IPv4 by address, IPv6 by its /64 (one subscriber usually holds a whole
/64, so keying by address would give each of them 2^64 allowances). ``X-Forwarded-For`` is
believed only when the peer is one of ``server.trusted_proxies``, and then only as far as the
proxies go: walking the hops from the right (each appended by the proxy in front of it), the
client is the first hop that is not a trusted proxy. Whatever a client writes into the header
itself sits left of that hop and is never read.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from aiohttp import web

from theset_daemon.appkeys import SETTINGS

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR = "X-Forwarded-For"
IPV6_CLIENT_PREFIX = 64
#: The key of a peer with no usable address (a Unix socket): every such request shares one.
UNKNOWN = "unknown"


def request_client(request: web.Request) -> str:
    """The client key of ``request``, under the settings in force now (a reload applies)."""
    trusted = request.app[SETTINGS].current.server.trusted_proxies
    forwarded = request.headers.getall(FORWARDED_FOR, []) if trusted else []
    return client_key(request.remote, forwarded, trusted)


def client_key(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[str]) -> str:
    """The client key of a request from ``peer`` carrying these ``X-Forwarded-For`` headers."""
    address = parse_address(peer or "")
    if address is None:
        return UNKNOWN
    networks = _networks(tuple(trusted))
    if networks and forwarded_for:
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            if not _within(address, networks):
                break
            parsed = parse_address(hop)
            if parsed is None:
                break  # a hop our own proxy cannot have written: the proxy is the client we know
            address = parsed
    return key_of(address)


def key_of(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)


def parse_address(text: str) -> Address | None:
    """An address as a peer or a proxy writes it: bare, ``[v6]``, with a port (``1.2.3.4:80``,
    ``[v6]:80``); an IPv4-mapped IPv6 address is its IPv4 address. None when it is none of these
    (``unknown``, an obfuscated identifier, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    # The settings validated these; parsed once per distinct list, not per request.
    return tuple(ipaddress.ip_network(network, strict=False) for network in trusted)


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)
