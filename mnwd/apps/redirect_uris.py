"""Redirect URIs: which may be registered (OAuth 2.1, RFC 8252), and which match a registered one.

Registration allows ``https://`` to any host, ``http://`` to the loopback literals ``127.0.0.1`` and
``[::1]`` (any port), and private-use schemes in reverse-domain form; never a fragment.

Matching is an exact string match, except for loopback redirects of native apps (RFC 8252 §7.3): for
``http`` to the literal ``127.0.0.1`` or ``[::1]`` any port matches, since the app picks a free port at
run time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "MAX_REDIRECT_URIS",
    "MAX_REDIRECT_URI_CHARS",
    "is_loopback",
    "parse_redirect_uris",
    "redirect_uri_matches",
    "redirect_uri_problem",
]

MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_CHARS = 2000
SCHEME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
REFUSED_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about", "filesystem", "view-source"})


def is_loopback(parts: SplitResult) -> bool:
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _without_port(parts: SplitResult) -> tuple[str, str | None, str, str]:
    return parts.scheme, parts.hostname, parts.path or "/", parts.query


def _has_control_character(uri: str) -> bool:
    """C0 controls and DEL: ``urlsplit`` silently drops TAB, CR and LF, so ``http://127.0.0.1:1/c<TAB>b``
    would match ``http://127.0.0.1/cb`` and then fail as a ``Location`` header after the code was made."""
    return any(c < " " or c == "\x7f" for c in uri)


def redirect_uri_matches(candidate: str, registered: tuple[str, ...] | list[str]) -> bool:
    if _has_control_character(candidate):
        return False
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


def _host_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(HOST_LABEL.fullmatch(label) for label in labels):
        return "The host name is not valid."
    return None


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI (OAuth 2.1, RFC 8252 for native apps), or ``None``.

    Allowed: ``https://`` to any host; ``http://`` to the loopback literals ``127.0.0.1`` and ``[::1]`` (any
    port); private-use schemes in reverse-domain form (``com.example.app:/callback``). Never a fragment.
    """
    if len(uri) > MAX_REDIRECT_URI_CHARS:
        return f"Use at most {MAX_REDIRECT_URI_CHARS} characters."
    if _has_control_character(uri) or not uri.isascii() or not uri.isprintable() or any(c.isspace() for c in uri):
        return "Use no spaces or control characters, and percent-encode characters outside ASCII."
    if "#" in uri:
        return "Remove the fragment (the part from '#'): a redirect URI must not have one."
    scheme, colon, rest = uri.partition(":")
    if not colon or not SCHEME_PATTERN.fullmatch(scheme):
        return "Use an absolute URI, like https://example.com/callback."
    kind = scheme.lower()
    if kind in REFUSED_SCHEMES:
        return f"{kind}: URIs are not allowed."
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError:
        return "This is not a valid URI (check the host and the port)."
    if kind in {"http", "https"}:
        host = parts.hostname
        if not host:
            return f"Add a host, like {kind}://example.com/callback."
        if parts.username is not None or parts.password is not None:
            return "Remove the user name and password from the URI."
        if kind == "https":
            return _host_problem(host)
        if host == "localhost" or host.endswith(".localhost"):
            return (
                "Use http://127.0.0.1 (or http://[::1]) instead of localhost: the name can resolve to "
                "something else (RFC 8252 §8.3)."
            )
        if host not in LOOPBACK_HOSTS:
            return "Plain http:// is allowed only for the loopback addresses 127.0.0.1 and [::1]; use https://."
        return None
    if "." not in scheme:
        return (
            "Use https://, http://127.0.0.1 for a native app's loopback redirect, or a private-use scheme in "
            "reverse-domain form, like com.example.app:/callback."
        )
    if not rest:
        return f"Add a path after the scheme, like {scheme}:/callback."
    return None


def _shown(uri: str) -> str:
    return uri if len(uri) <= 60 else uri[:57] + "..."


def parse_redirect_uris(values: Iterable[str]) -> tuple[list[str], str | None]:
    """The URIs, stripped, blanks dropped, duplicates removed (first kept); and what is wrong, if anything."""
    uris = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if not uris:
        return uris, "Add at least one redirect URI."
    if len(uris) > MAX_REDIRECT_URIS:
        return uris, f"Use at most {MAX_REDIRECT_URIS} redirect URIs."
    problems = [f"{_shown(uri)}: {problem}" for uri in uris if (problem := redirect_uri_problem(uri))]
    return uris, " ".join(problems) or None
