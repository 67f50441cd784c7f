"""A fake authoritative DNS server on loopback (dnslib), for the custom domains' checks: `Zone` answers the TXT
records a test puts in ``zone.txt`` (NXDOMAIN for any other name); `serve_zone()` runs one on a free UDP port
and yields ``(zone, port)``; point ``MNWD_PLATFORM_DNS_NAMESERVER`` at ``127.0.0.1:<port>`` (a daemon), or use
the fixtures ``zone`` (the served pair) and ``dns`` (the test's `Services` asking it; its `Zone`), which a
test module imports and names in its ``__all__``. `verify_domain` adds a domain through the settings page,
publishes its TXT record and checks it, as its creator would."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import QTYPE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services
from tests.support.browser import Browser

__all__ = ["Zone", "dns", "free_udp_port", "serve_zone", "verify_domain", "zone"]


class Zone(BaseResolver):  # type: ignore[misc]
    """An authoritative server for whatever names ``txt`` holds; anything else is NXDOMAIN."""

    def __init__(self) -> None:
        self.txt: dict[str, list[list[str]]] = {}

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name not in self.txt:
            reply.header.rcode = 3
        elif request.q.qtype == QTYPE.TXT:
            for strings in self.txt[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(strings), ttl=1))
        return reply


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_zone() -> Iterator[tuple[Zone, int]]:
    """A `Zone` served on ``127.0.0.1:<port>`` (UDP) until the block ends."""
    resolver = Zone()
    port = free_udp_port()
    server = DNSServer(resolver, port=port, address="127.0.0.1")
    server.start_thread()
    try:
        yield resolver, port
    finally:
        server.stop()
        server.server.server_close()


@pytest.fixture
def zone() -> Iterator[tuple[Zone, int]]:
    with serve_zone() as served:
        yield served


@pytest.fixture
def dns(services: Services, zone: tuple[Zone, int]) -> Zone:
    resolver, port = zone
    settings = services.config.section(PlatformSettings)
    services.config = services.config.with_section(
        dataclasses.replace(settings, dns_nameserver=f"127.0.0.1:{port}", dns_timeout=2.0)
    )
    return resolver


async def verify_domain(browser: Browser, dns: Zone, host: str) -> None:
    """The signed-in creator of ``browser`` adds ``host`` on /settings/domains, publishes the TXT record the page
    shows in the fake zone, and checks it: verified."""
    page = await browser.submit("/settings/domains", "/settings/domains", {"domain": host})
    assert page.status == 303, page.text
    assert page.location is not None
    records = await browser.get(page.location)
    value = re.search(r"mnwd-verify=[A-Za-z0-9_-]+", records.text)
    assert value, records.text
    dns.txt[f"_mnwd-challenge.{host}"] = [[value.group(0)]]
    checked = await browser.submit(page.location, page.location + "/check", {})
    assert checked.status in (200, 303), checked.text
    state = await browser.get(page.location)
    assert "Verified" in state.text, state.text
