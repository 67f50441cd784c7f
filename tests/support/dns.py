"""A fake authoritative DNS server on loopback (dnslib), for the custom domains' checks: `Zone` answers the TXT
records a test puts in ``zone.txt`` (NXDOMAIN for any other name); `serve_zone()` runs one on a free UDP port
and yields ``(zone, port)``; point ``MNWD_PLATFORM_DNS_NAMESERVER`` at ``127.0.0.1:<port>``."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from dnslib import QTYPE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSServer

__all__ = ["Zone", "free_udp_port", "serve_zone"]


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
