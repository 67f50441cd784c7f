"""Settings of the platform (``config.section(PlatformSettings)``): custom domains' DNS checks and targets,
the prices of creator tiers and Fan+, the grace period of a failed payment, the cap on creators' invite codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_float, text
from mnwd.tiers import TIERS

__all__ = ["PlatformSettings"]

MAX_PRICE_CENTS = 1_000_000


def _cents(raw: str) -> int:
    if not raw.isdigit() or not 50 <= int(raw) <= MAX_PRICE_CENTS:
        raise ValueError(f"is not a price in cents from 50 to {MAX_PRICE_CENTS}")
    return int(raw)


def _tier_prices(raw: str) -> tuple[tuple[str, int], ...]:
    """``tier=cents,...``: the monthly price of each tier sold; a tier left out is not sold."""
    prices: dict[str, int] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        tier, _, cents = part.partition("=")
        if tier.strip() not in TIERS or tier.strip() in prices:
            raise ValueError(f"names {tier.strip()!r}, not one of {', '.join(TIERS)} (each once)")
        prices[tier.strip()] = _cents(cents.strip())
    return tuple((tier, prices[tier]) for tier in TIERS if tier in prices)


def _count(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 100_000:
        raise ValueError("is not a whole number from 0 to 100000")
    return int(raw)


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
    tier_prices: tuple[tuple[str, int], ...]
    fan_plus_price_cents: int
    billing_grace_days: float
    creator_invite_codes: int

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
        Setting(
            "tier_prices",
            "MNWD_PLATFORM_TIER_PRICES",
            "basic=1600,small_files=2400,big_files=3600,everything=6000",
            "Monthly price in cents of each creator tier sold through Stripe (tier=cents, comma-separated).",
            _tier_prices,
        ),
        Setting(
            "fan_plus_price_cents",
            "MNWD_PLATFORM_FAN_PLUS_PRICE",
            "400",
            "Monthly price in cents of Fan+, the visitors' supporter subscription.",
            _cents,
        ),
        Setting(
            "billing_grace_days",
            "MNWD_PLATFORM_BILLING_GRACE_DAYS",
            "7",
            "Days a creator whose tier payment failed keeps the tier's limits before falling back to basic.",
            positive_float,
        ),
        Setting(
            "creator_invite_codes",
            "MNWD_PLATFORM_CREATOR_INVITE_CODES",
            "20",
            "Invite codes one creator may issue in all (admins are not capped); 0: creators issue none.",
            _count,
        ),
    )
