"""Looking up a custom domain's challenge: the TXT records of ``_mnwd-challenge.<host>``, through dnspython's
asyncio resolver, asking the system's nameservers or the one of ``MNWD_PLATFORM_DNS_NAMESERVER``.

- ``lookup_txt(name, nameserver, seconds)`` → the TXT values, each record's character-strings joined (a long
  value is split into strings of at most 255 bytes by DNS; we join them as RFC 7208 does for SPF). A name
  that does not exist or has no TXT records gives ``[]``; a resolver failure (timeout, SERVFAIL) raises
  `DnsUnavailable` with what went wrong.

dnspython is imported by the first lookup, not at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dns.asyncresolver

__all__ = ["DnsUnavailable", "lookup_txt"]


class DnsUnavailable(Exception):
    """The resolver could not be asked (timeout, no nameserver answered): not an answer about the record."""


def _resolver(nameserver: str, timeout: float) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver

    if not nameserver:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        address, port = nameserver, 53
        if nameserver.startswith("["):
            address, _, rest = nameserver[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif nameserver.count(":") == 1:
            address, raw_port = nameserver.split(":")
            port = int(raw_port)
        resolver.nameservers = [address]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    resolver.cache = None
    return resolver


async def lookup_txt(name: str, nameserver: str, seconds: float) -> list[str]:
    import dns.exception
    import dns.resolver

    try:
        answer = await _resolver(nameserver, seconds).resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.exception.Timeout:
        raise DnsUnavailable(f"No answer from DNS within {seconds:g} s.") from None
    except dns.exception.DNSException as error:
        raise DnsUnavailable(f"DNS lookup failed: {error}") from None
    if answer.rrset is None:
        return []
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]
