"""The client's address and scheme as this daemon should believe them, behind reverse proxies or not.

``MNWD_TRUSTED_PROXIES`` (`Config.trusted_proxies`, empty by default) lists the proxies' addresses and CIDRs.

- ``client_address(request) -> str | None``: the peer's address, unless the peer is a trusted proxy: then the
  right-most address of ``X-Forwarded-For`` (every such header, in order) that is not itself a trusted proxy.
  Every proxy appends the address it received the request from, so the addresses right of the first untrusted
  one were written by our proxies and the rest by whoever sent them: only that one address is believed. A list
  that is all trusted proxies gives its left-most address; an entry that is not an IP address stops the walk
  at the hop right of it (what it hides cannot be trusted); no header gives the peer itself. A peer that is
  not a trusted proxy is the client whatever headers it sends, so spoofing ``X-Forwarded-For`` gains nothing.
- ``client_scheme(request) -> str``: ``http`` or ``https`` as ``X-Forwarded-Proto`` says (its right-most
  value) when the peer is a trusted proxy, else the connection's own (`request.scheme`). The CSRF origin check
  compares it with the browser's ``Origin``; secure cookies and HSTS follow ``MNWD_PUBLIC_URL`` instead.
- ``trusts_peer(config, address)``: whether an address (the connection guard's peer) is a trusted proxy; the
  per-address connection cap does not count a trusted proxy's connections, which carry many clients (cap
  those at the proxy).

Every reader of a client's address (rate limits, sessions, access log, the loopback check of ``/metrics``)
goes through here; `tests/web/test_client_address.py` fails when code reads ``request.remote`` elsewhere.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from mnwd.config import AddressRanges, Config
from mnwd.web.keys import SERVICES

__all__ = ["client_address", "client_from", "client_scheme", "trusts_peer"]

FORWARDED_FOR = "X-Forwarded-For"
FORWARDED_PROTO = "X-Forwarded-Proto"


@lru_cache(maxsize=4096)
def _is_trusted(ranges: AddressRanges, address: str) -> bool | None:
    """Whether ``address`` is in ``ranges``; None when it is not an IP address."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in ranges)


def trusts_peer(config: Config, address: str | None) -> bool:
    ranges = config.trusted_proxies
    return bool(ranges) and address is not None and _is_trusted(ranges, address) is True


def client_from(ranges: AddressRanges, peer: str | None, forwarded_for: list[str]) -> str | None:
    """The client's address from the peer's and the ``X-Forwarded-For`` headers' values (see the module)."""
    if not ranges or peer is None or _is_trusted(ranges, peer) is not True:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    client = peer
    for hop in reversed(hops):
        if hop.startswith("[") and "]" in hop:
            hop = hop[1 : hop.index("]")]  # [v6]:port
        elif hop.count(":") == 1:
            hop = hop.split(":", 1)[0]  # v4:port
        trusted = _is_trusted(ranges, hop) if hop else None
        if trusted is None:
            return client
        client = str(ipaddress.ip_address(hop))
        if not trusted:
            return client
    return client


def client_address(request: web.Request) -> str | None:
    ranges = request.app[SERVICES].config.trusted_proxies
    if not ranges:
        return request.remote
    return client_from(ranges, request.remote, request.headers.getall(FORWARDED_FOR, []))


def client_scheme(request: web.Request) -> str:
    config = request.app[SERVICES].config
    if trusts_peer(config, request.remote):
        values = [v.strip().lower() for value in request.headers.getall(FORWARDED_PROTO, []) for v in value.split(",")]
        if values and values[-1] in ("http", "https"):
            return values[-1]
    return request.scheme
