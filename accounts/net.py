"""Is an address on the public internet? (pure: no Django import)

Used wherever a URL that staff or a trader typed is asked by the server — a language model's base URL, a Slack
webhook, a push service — so that production settings can refuse the internal network, loopback and the cloud's
metadata address (server-side request forgery).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import cast
from urllib.parse import urlsplit


def private_host(url: str) -> bool:
    """True when the URL's host is, or resolves to, an address that is not public: loopback, private, link-local
    (cloud metadata), reserved, multicast or unspecified. A host that does not resolve is not private (asking it
    fails as unreachable)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        # TCP over IPv4/IPv6: the address is a string (an int only for AF_CAN-like families, never asked for here).
        addresses = [ipaddress.ip_address(cast(str, info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            return True
    return False
