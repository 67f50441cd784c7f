"""The scopes a personal access token can carry: the one catalog, shown on the tokens page, checked by
``mnwd token create`` and by every ``/api/v1`` endpoint (docs/tokens.md lists them).

A scope is added here together with the endpoint that checks it, never ahead of it.
"""

from __future__ import annotations

__all__ = ["TOKEN_SCOPES", "unknown_scopes"]

TOKEN_SCOPES: dict[str, str] = {
    "user:read": "read your profile (GET /api/v1/me)",
    "apps:read": "list the apps you registered (GET /api/v1/apps)",
    "store:write": "manage your store: projects, items, versions, tags and labels (/api/v1/projects, /api/v1/items)",
}


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in TOKEN_SCOPES]
