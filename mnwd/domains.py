"""DOMAINS: the one list of the daemon's domains, in dependency order (a domain comes after those it uses).

Everything that names every domain reads this list: the web application (`mnwd.app`), the command line
(`mnwd.cli`), the daemon's start-up and housekeeping (`mnwd.daemon`), ``mnwd config`` and the docs tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mnwd import accounts, apps, commerce, git, licensing, mailing, oauth, ota, outbound, platform, store, sync
from mnwd.config import SETTINGS as CORE_SETTINGS
from mnwd.config import Config, Setting
from mnwd.domain import Domain, Listener, Periodic
from mnwd.maintenance import CORE_TASKS
from mnwd.services import Services, open_services

__all__ = [
    "DOMAINS",
    "all_settings",
    "check_settings",
    "domain_listeners",
    "domain_ports",
    "open_all_services",
    "periodic_tasks",
    "sql_dirs",
]

DOMAINS: tuple[Domain, ...] = (
    outbound.DOMAIN,
    accounts.DOMAIN,
    apps.DOMAIN,
    oauth.DOMAIN,
    sync.DOMAIN,
    git.DOMAIN,
    store.DOMAIN,
    ota.DOMAIN,
    commerce.DOMAIN,
    licensing.DOMAIN,
    mailing.DOMAIN,
    platform.DOMAIN,
)


def all_settings() -> tuple[Setting, ...]:
    """The core settings, then each domain's section."""
    return CORE_SETTINGS + tuple(s for d in DOMAINS if d.settings is not None for s in d.settings.SETTINGS)


def check_settings(config: Config) -> None:
    """Read every domain's settings now, so that a bad value stops start-up (`ConfigError`)."""
    for domain in DOMAINS:
        if domain.settings is not None:
            config.section(domain.settings)


def sql_dirs() -> list[Path]:
    """The domains' directories of repeatable SQL function files, in the order they are applied."""
    return [d.sql for d in DOMAINS if d.sql is not None]


def domain_listeners(services: Services) -> list[Listener]:
    """The domains' servers beside HTTP, in list order."""
    return [listener for d in DOMAINS if d.listeners is not None for listener in d.listeners(services)]


def domain_ports(config: Config) -> list[tuple[str, int, str]]:
    """``(host, port, setting)`` of each address the domains' listeners will bind."""
    return [address for d in DOMAINS if d.ports is not None for address in d.ports(config)]


def periodic_tasks() -> tuple[Periodic, ...]:
    return CORE_TASKS + tuple(task for d in DOMAINS for task in d.periodic)


@asynccontextmanager
async def open_all_services(
    config: Config, *, run_migrations: bool = True, share_running: bool = False
) -> AsyncIterator[Services]:
    """`open_services` with every domain started."""
    async with open_services(config, DOMAINS, run_migrations=run_migrations, share_running=share_running) as services:
        yield services
