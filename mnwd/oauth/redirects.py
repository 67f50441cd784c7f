"""Matching a client's redirect URI against the registered ones.

Exact string match, except for loopback redirects of native apps (RFC 8252 §7.3): for ``http`` to the
literal ``127.0.0.1`` or ``[::1]`` any port matches, since the app picks a free port at run time.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

__all__ = ["is_loopback", "redirect_uri_matches"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})


def is_loopback(parts: SplitResult) -> bool:
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _without_port(parts: SplitResult) -> tuple[str, str | None, str, str]:
    return parts.scheme, parts.hostname, parts.path or "/", parts.query


def redirect_uri_matches(candidate: str, registered: tuple[str, ...] | list[str]) -> bool:
    if candidate in registered:
        return True
    try:
        wanted = urlsplit(candidate)
        wanted.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError:
        return False
    if not is_loopback(wanted) or wanted.fragment or wanted.username or wanted.password:
        return False
    for uri in registered:
        parts = urlsplit(uri)
        if is_loopback(parts) and _without_port(parts) == _without_port(wanted):
            return True
    return False
