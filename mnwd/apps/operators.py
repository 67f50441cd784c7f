"""What operators do from the command line: list apps, register apps for a creator, rotate keys,
(de)activate apps."""

from __future__ import annotations

from collections.abc import Sequence

from mnwd.apps import queries
from mnwd.apps import registry as apps
from mnwd.errors import NotFound
from mnwd.services import Services

__all__ = ["create_app_for", "list_apps", "rotate_key", "set_app_active"]


async def create_app_for(
    services: Services,
    owner: str,
    *,
    name: str,
    slug: str,
    redirect_uris: Sequence[str],
    project_id: str | None = None,
    item_id: str | None = None,
) -> apps.IssuedKey:
    """Operators are trusted: no creator check, but the owner must exist."""
    creator_id = await queries.get_user_id_by_username(services.pool, owner.strip().lower())
    if creator_id is None:
        raise NotFound(f"There is no user named {owner!r}.")
    return await apps.create_app(
        services.pool,
        creator_id=creator_id,
        name=name,
        slug=slug,
        redirect_uris=redirect_uris,
        project_id=project_id,
        item_id=item_id,
    )


async def list_apps(services: Services) -> list[apps.AppDetails]:
    return [apps.AppDetails.from_record(r) for r in await queries.list_all_apps(services.pool)]


async def _app_by_slug(services: Services, slug: str) -> apps.App:
    app = await apps.get_app_by_slug(services.pool, slug)
    if app is None:
        raise NotFound(f"There is no app with the slug {slug!r}.")
    return app


async def rotate_key(services: Services, slug: str) -> apps.IssuedKey:
    app = await _app_by_slug(services, slug)
    return await apps.rotate_api_key(services.pool, app.id)


async def set_app_active(services: Services, slug: str, active: bool) -> apps.App:
    app = await _app_by_slug(services, slug)
    return await apps.change_active(services, app.id, active)
