"""Settings of the platform (``config.section(PlatformSettings)``): custom domains' DNS checks and targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_float, text

__all__ = ["PlatformSettings"]


def _yes_no(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("is not true or false")


def _nameserver(raw: str) -> str:
    """Empty, or ``address`` or ``address:port`` (an IPv6 address in brackets with a port)."""
    if raw and (any(c.isspace() for c in raw) or (raw.count(":") == 1 and not raw.rsplit(":", 1)[1].isdigit())):
        raise ValueError("is not an address or address:port")
    return raw


@dataclass(frozen=True)
class PlatformSettings(Section):
    dns_nameserver: str
    dns_timeout: float
    domain_cname_target: str
    domain_a_record: str
    domain_recheck_hours: float
    domain_grace_hours: float
    host_routing: bool

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "dns_nameserver",
            "MNWD_PLATFORM_DNS_NAMESERVER",
            "",
            "Nameserver (address or address:port) asked for custom domains' TXT records; empty: the system's.",
            _nameserver,
        ),
        Setting(
            "dns_timeout",
            "MNWD_PLATFORM_DNS_TIMEOUT",
            "5",
            "Seconds a custom domain's DNS check may take.",
            positive_float,
        ),
        Setting(
            "domain_cname_target",
            "MNWD_PLATFORM_DOMAIN_CNAME",
            "",
            "Host name creators point their domain's CNAME at; empty: the host of MNWD_PUBLIC_URL.",
            text,
        ),
        Setting(
            "domain_a_record",
            "MNWD_PLATFORM_DOMAIN_A",
            "",
            "IP address shown for an apex domain's A record (which cannot be a CNAME); empty: not shown.",
            text,
        ),
        Setting(
            "domain_recheck_hours",
            "MNWD_PLATFORM_DOMAIN_RECHECK_HOURS",
            "24",
            "Hours between the re-checks of a verified custom domain's TXT record.",
            positive_float,
        ),
        Setting(
            "domain_grace_hours",
            "MNWD_PLATFORM_DOMAIN_GRACE_HOURS",
            "72",
            "Hours a verified custom domain may fail its re-checks before it is unverified and stops being served.",
            positive_float,
        ),
        Setting(
            "host_routing",
            "MNWD_PLATFORM_HOST_ROUTING",
            "true",
            "Serve verified custom domains by the Host header (other unknown host names get a 404 page).",
            _yes_no,
        ),
    )
