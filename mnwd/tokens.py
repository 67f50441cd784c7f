"""Random secrets handed to clients, and the SHA-256 under which the database keeps them.

Every bearer secret (session cookies, login links, OAuth codes and tokens, app API keys) is made by
`new_token` and stored only as `hash_token` of it, so a copy of the database lets no one sign in.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["hash_token", "new_token"]


def new_token(prefix: str = "") -> str:
    """256 random bits, URL-safe (43 characters), after ``prefix`` (which makes leaked keys greppable)."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
