"""Who a request comes from (``web.clients``): the peer, unless a trusted proxy says otherwise."""

from __future__ import annotations

import pytest

from theset_daemon.web.clients import client_key, parse_address

PROXIES = ("10.0.0.0/8", "2001:db8:ffff::/48")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "key"),
    [
        # No proxy trusted: the header is never read.
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),
        # An untrusted peer's header is ignored even when proxies are configured.
        ("203.0.113.9", ["198.51.100.1"], PROXIES, "203.0.113.9"),
        # A trusted proxy: the hop it appended is the client.
        ("10.1.2.3", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        # Whatever the client wrote itself sits left of that hop and is not believed.
        ("10.1.2.3", ["1.1.1.1, 198.51.100.1"], PROXIES, "198.51.100.1"),
        # Two trusted proxies in a row, the hops spread over two headers.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1", "10.9.9.9"], PROXIES, "198.51.100.1"),
        # Every hop trusted: the left-most is the client.
        ("10.1.2.3", ["10.4.4.4, 10.5.5.5"], PROXIES, "10.4.4.4"),
        # A hop no proxy of ours writes: the proxy is the client we know.
        ("10.1.2.3", ["unknown"], PROXIES, "10.1.2.3"),
        ("10.1.2.3", ["", ""], PROXIES, "10.1.2.3"),
        # Ports and brackets as proxies write them.
        ("10.1.2.3", ["198.51.100.1:4711"], PROXIES, "198.51.100.1"),
        ("10.1.2.3", ["[2001:db8:1:2::7]:443"], PROXIES, "2001:db8:1:2::/64"),
        # IPv6 clients by /64; an IPv4-mapped address is its IPv4 address.
        ("2001:db8:1:2::1", [], (), "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", [], (), "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", [], (), "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", [], (), "203.0.113.9"),
        ("2001:db8:ffff:1::1", ["2001:db8:5:6::1"], PROXIES, "2001:db8:5:6::/64"),
        # No usable peer address (a Unix socket).
        (None, ["198.51.100.1"], PROXIES, "unknown"),
    ],
)
def test_client_key(
    peer: str | None, forwarded: list[str], trusted: tuple[str, ...], key: str
) -> None:
    assert client_key(peer, forwarded, trusted) == key


@pytest.mark.parametrize("text", ["", "unknown", "_hidden", "1.2.3", "[::1", "999.1.1.1"])
def test_what_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None
