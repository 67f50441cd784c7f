"""PKCE (RFC 7636), S256 only: ``BASE64URL(SHA256(verifier)) == challenge``."""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["CHALLENGE_PATTERN", "VERIFIER_PATTERN", "s256"]

VERIFIER_PATTERN = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
