"""The scopes a personal access token can carry: the one catalog, shown on the tokens page, checked by
``mnwd token create`` and by every ``/api/v1`` endpoint (docs/tokens.md lists them).

A scope is added here together with the endpoint that checks it, never ahead of it.
"""

from __future__ import annotations

__all__ = ["TOKEN_SCOPES", "unknown_scopes"]

TOKEN_SCOPES: dict[str, str] = {
    "user:read": "read your profile (GET /api/v1/me)",
    "apps:read": "list the apps you registered (GET /api/v1/apps)",
    "media:read": "list your media library (GET /api/v1/media)",
    "media:write": "upload and delete images in your media library (POST, DELETE /api/v1/media)",
    "follows:read": "list what you follow and read your feed (GET /api/v1/follows, GET /api/v1/feed)",
    "follows:write": "follow and unfollow users, projects and tags (POST, DELETE /api/v1/follows)",
    "collections:read": "list your collections and read them (GET /api/v1/collections)",
    "collections:write": "create, change, reorder and delete your collections (writes to /api/v1/collections)",
    "issues:read": "read issues, comments and labels of repositories you can read (GET /api/v1/repos/…/issues)",
    "issues:write": "open, comment on, close and label issues (POST/PATCH /api/v1/repos/…/issues)",
    "keys:read": "list your SSH keys (GET /api/v1/user/keys)",
    "keys:write": "add and delete your SSH keys (POST, DELETE /api/v1/user/keys)",
    "store:read": "read your store's projects, items and file versions (GET /api/v1/projects, /api/v1/items)",
    "store:write": "change your projects and items, upload files, set tags and labels (/api/v1/projects, …/items)",
    "purchases:read": "list what you bought and your subscriptions (GET /api/v1/purchases)",
    "purchases:write": "start a checkout for an item or a subscription tier (POST /api/v1/checkout)",
    "licenses:write": "issue license keys for your items (POST /api/v1/items/{id}/licenses)",
    "lists:read": "list your projects' mailing lists and their counts (GET /api/v1/projects/{id}/lists)",
    "lists:write": "create mailing lists in your projects (POST /api/v1/projects/{id}/lists)",
}


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in TOKEN_SCOPES]
