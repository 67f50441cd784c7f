"""Creators' own domains: a creator claims a host name, proves it with a DNS TXT record, and the host then
serves their pages (`host_routing`), with TLS through a reverse proxy that asks us first (`may_serve`).

- ``normalize(host)`` → the lower-case host name without a trailing dot, or `ValidationFailed`.
- ``add_domain(services, viewer, host)`` → `CustomDomain`. A domain verified by someone else is `Conflict`
  (409); an unverified claim by someone else is replaced (its token no longer counts), so squatting a name
  blocks no one: whoever publishes the TXT record first wins.
- ``check_now(services, domain)`` → `Check`: looks up ``_mnwd-challenge.<host>`` TXT and compares with
  ``mnwd-verify=<token>``; says what it saw. The outcome is written only if the claim's token is unchanged
  (an UPDATE ... WHERE verification_token = $2), so a check racing a new claim cannot verify the new owner.
- ``recheck_verified(services)`` — the periodic task: each verified domain not checked for
  ``MNWD_PLATFORM_DOMAIN_RECHECK_HOURS`` is checked again; one that fails keeps serving through
  ``MNWD_PLATFORM_DOMAIN_GRACE_HOURS`` (``failing_since``), then is unverified.
- ``owner_of_host(pool, host)`` → the username a verified domain serves, or None.
- ``may_serve(pool, host)`` → whether TLS may be issued for it (verified only).
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from mnwd.accounts import Viewer
from mnwd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mnwd.platform import queries
from mnwd.platform.dns_check import DnsUnavailable, lookup_txt
from mnwd.platform.settings import PlatformSettings
from mnwd.services import Services

__all__ = [
    "CHALLENGE_PREFIX",
    "Check",
    "CustomDomain",
    "add_domain",
    "check_now",
    "delete_domain",
    "get_domain",
    "list_domains",
    "may_serve",
    "normalize",
    "owner_of_host",
    "recheck_verified",
    "targets",
]

log = logging.getLogger(__name__)
CHALLENGE_PREFIX = "_mnwd-challenge."
VALUE_PREFIX = "mnwd-verify="
HOST = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
RECHECK_BATCH = 100


@dataclass(frozen=True)
class CustomDomain:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    domain: str
    verified: bool
    verified_at: datetime | None
    verification_token: str
    checked_at: datetime | None
    last_seen: str
    failing_since: datetime | None
    created_at: datetime

    @property
    def challenge_name(self) -> str:
        return CHALLENGE_PREFIX + self.domain

    @property
    def challenge_value(self) -> str:
        return VALUE_PREFIX + self.verification_token

    @property
    def is_apex(self) -> bool:
        return self.domain.count(".") == 1


@dataclass(frozen=True)
class Check:
    passed: bool
    message: str
    seen: list[str]


def normalize(host: str) -> str:
    name = host.strip().lower().rstrip(".")
    if name.startswith(("http://", "https://")):
        name = urlsplit(name).hostname or ""
    if not HOST.fullmatch(name) or len(name) > 253:
        raise ValidationFailed(
            "The domain was not added.",
            errors=[{"field": "domain", "message": "Give a host name such as shop.example.com (no path, no port)."}],
        )
    return name


def targets(services: Services) -> tuple[str, str]:
    """(CNAME target, A record address or '') that creators point their domain at."""
    settings = services.config.section(PlatformSettings)
    cname = settings.domain_cname_target or (urlsplit(services.config.base_url).hostname or "")
    return cname, settings.domain_a_record


def _from_row(row: asyncpg.Record) -> CustomDomain:
    return CustomDomain(**dict(row))


async def list_domains(pool: asyncpg.Pool, user_id: uuid.UUID | None) -> list[CustomDomain]:
    return [_from_row(r) for r in await queries.list_domains(pool, user_id)]


async def get_domain(pool: asyncpg.Pool, viewer: Viewer, domain_id: uuid.UUID) -> CustomDomain:
    """The viewer's domain (an admin may see any); anyone else's is not found."""
    row = await queries.get_domain(pool, domain_id)
    if row is None or (row["user_id"] != viewer.user_id and not viewer.is_admin):
        raise NotFound("There is no such domain.")
    return _from_row(row)


async def add_domain(services: Services, viewer: Viewer, host: str) -> CustomDomain:
    if not viewer.can_create_projects:
        raise Forbidden("Only creators add custom domains.")
    name = normalize(host)
    public = urlsplit(services.config.base_url).hostname
    if name == public or (public and name.endswith("." + public)):
        raise ValidationFailed(
            "The domain was not added.", errors=[{"field": "domain", "message": "That is this site's own domain."}]
        )
    domain_id = await queries.claim_domain(services.pool, viewer.user_id, name, secrets.token_urlsafe(24))
    if domain_id is None:
        raise Conflict(f"{name} is already claimed and verified by another account, or already yours.")
    return await get_domain(services.pool, viewer, domain_id)


async def _check(services: Services, domain_id: uuid.UUID, domain: str, token: str) -> Check:
    settings = services.config.section(PlatformSettings)
    expected = VALUE_PREFIX + token
    try:
        seen = await lookup_txt(CHALLENGE_PREFIX + domain, settings.dns_nameserver, settings.dns_timeout)
    except DnsUnavailable as error:
        return Check(False, f"{error} Nothing changed; try again later.", [])
    passed = expected in seen
    if passed:
        message = f"Found {expected} at {CHALLENGE_PREFIX}{domain}: the domain is verified."
    elif seen:
        shown = "; ".join(f'"{value}"' for value in seen)
        message = f"{CHALLENGE_PREFIX}{domain} has TXT {shown}, not {expected}."
    else:
        message = f"{CHALLENGE_PREFIX}{domain} has no TXT record (yet: DNS changes can take a while to show)."
    await queries.record_check(
        services.pool,
        domain_id,
        token,
        passed=passed,
        seen="\n".join(seen)[:2000],
        grace_hours=settings.domain_grace_hours,
    )
    return Check(passed, message, seen)


async def check_now(services: Services, domain: CustomDomain) -> Check:
    return await _check(services, domain.id, domain.domain, domain.verification_token)


async def delete_domain(pool: asyncpg.Pool, viewer: Viewer, domain_id: uuid.UUID) -> None:
    if not await queries.delete_domain(pool, domain_id, viewer.user_id):
        raise NotFound("There is no such domain.")


async def recheck_verified(services: Services) -> int:
    settings = services.config.section(PlatformSettings)
    rows = await queries.list_domains_to_recheck(services.pool, settings.domain_recheck_hours, RECHECK_BATCH)
    for row in rows:
        check = await _check(services, row["id"], row["domain"], row["verification_token"])
        if not check.passed:
            log.warning("custom domain %s failed its re-check: %s", row["domain"], check.message)
    return len(rows)


async def owner_of_host(pool: asyncpg.Pool, host: str) -> str | None:
    return await queries.get_verified_domain_owner(pool, host)


async def may_serve(pool: asyncpg.Pool, host: str) -> bool:
    try:
        name = normalize(host)
    except ValidationFailed:
        return False
    return await owner_of_host(pool, name) is not None
