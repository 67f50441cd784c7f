"""The OAuth domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from mnwd.accounts import on_personal_token_revoked
from mnwd.apps import on_app_change
from mnwd.domain import Domain
from mnwd.oauth import queries
from mnwd.oauth.bearer_cache import BEARERS, CHANNEL, BearerCache
from mnwd.oauth.routes import TEMPLATES, setup_routes
from mnwd.oauth.settings import OAuthSettings
from mnwd.services import Services

__all__ = ["DOMAIN", "forget_cached_bearers", "has_heard_of_bearer_epoch", "on_bearers_forgotten"]


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    cache = BearerCache(services.config.section(OAuthSettings).bearer_cache_seconds, clock=services.clock)
    services[BEARERS] = cache
    services.listen.subscribe(CHANNEL, cache)
    services.listen.on_connect(queries.BEARER_EPOCH, cache.read_epoch)
    on_app_change(services, lambda _app_id: cache.forget_all())
    on_personal_token_revoked(services, cache.forget_all)
    yield


def forget_cached_bearers(services: Services) -> None:
    """After a change in this daemon that may make a remembered token check wrong (a device revoked or
    bound): forget at once, without waiting for the trigger's notification."""
    services[BEARERS].forget_all()


def has_heard_of_bearer_epoch(services: Services, epoch: int) -> bool:
    """Every change to access counted up to ``epoch`` (read in a transaction) has reached this daemon's
    remembered token checks (`BearerCache.has_heard_of`)."""
    return services[BEARERS].has_heard_of(epoch)


def on_bearers_forgotten(services: Services, listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever remembered token checks are forgotten: something may have been revoked (in
    any daemon), so a long-lived response should check its bearer again (`bearer_still_valid`)."""
    services[BEARERS].on_forget(listener)


DOMAIN = Domain(
    name="oauth",
    routes=setup_routes,
    templates=TEMPLATES,
    settings=OAuthSettings,
    start=start,
    sql=Path(__file__).resolve().parent / "sql",
)
