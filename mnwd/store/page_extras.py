"""What the discovery and social parts add to the catalog's public pages: the project's platform labels, the
item's tags, follow buttons for the creator and the project, and the signed-in viewer's collections.

``profile_extras``, ``project_extras`` and ``item_extras`` return the template context for
``store/_extras.html``. For a visitor who is not signed in, nothing here depends on who they are, so the
catalog may keep the rendered page for every such visitor (`mnwd.store.pages_catalog.RenderedPages`).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from mnwd.store import collections, follows, labels, tags
from mnwd.store.follows import Target

__all__ = ["item_extras", "profile_extras", "project_extras"]


async def _following(pool: asyncpg.Pool, viewer_id: uuid.UUID | None, target: Target) -> bool:
    return viewer_id is not None and await follows.is_following(pool, viewer_id, target)


async def profile_extras(pool: asyncpg.Pool, creator_id: uuid.UUID, viewer_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "follow_creator": viewer_id != creator_id,
        "following_creator": await _following(pool, viewer_id, Target("user", creator_id)),
        "project_labels": [],
        "following_project": False,
        "item_tags": [],
        "collections": [],
        "report": None,
    }


async def project_extras(
    pool: asyncpg.Pool, project_id: uuid.UUID, creator_id: uuid.UUID, viewer_id: uuid.UUID | None
) -> dict[str, Any]:
    found = await labels.labels_for_projects(pool, [project_id])
    return {
        **await profile_extras(pool, creator_id, viewer_id),
        "project_labels": found.get(project_id, []),
        "following_project": await _following(pool, viewer_id, Target("project", project_id)),
        "report": {"target_type": "project", "target_id": project_id},
    }


async def item_extras(
    pool: asyncpg.Pool, item_id: uuid.UUID, project_id: uuid.UUID, creator_id: uuid.UUID, viewer_id: uuid.UUID | None
) -> dict[str, Any]:
    return {
        **await project_extras(pool, project_id, creator_id, viewer_id),
        "item_tags": await tags.item_tags(pool, item_id),
        "collections": [] if viewer_id is None else await collections.list_collections(pool, viewer_id, item_id),
        "report": {"target_type": "item", "target_id": item_id},
    }
