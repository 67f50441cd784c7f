"""The scopes a personal access token can carry: the one catalog, shown on the tokens page, checked by
``mnwd token create`` and by every ``/api/v1`` endpoint (docs/tokens.md lists them).

A scope is added here together with the endpoint that checks it, never ahead of it.
"""

from __future__ import annotations

__all__ = ["TOKEN_SCOPES", "unknown_scopes"]

TOKEN_SCOPES: dict[str, str] = {
    "user:read": "read your profile (GET /api/v1/me)",
    "apps:read": "list the apps you registered (GET /api/v1/apps)",
    "keys:read": "list your SSH keys (GET /api/v1/user/keys)",
    "keys:write": "add and delete your SSH keys (POST, DELETE /api/v1/user/keys)",
}


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in TOKEN_SCOPES]
