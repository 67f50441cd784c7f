"""The licensing domain's problems: a refusal an app can act on carries a ``code`` (docs/licensing.md)."""

from __future__ import annotations

from mnwd.errors import NotFound, Problem

__all__ = ["LicenseNotFound", "LicenseRefused"]


class LicenseRefused(Problem):
    """403 license-refused: the key exists but cannot do this now (``code``: SUSPENDED, EXPIRED, REVOKED,
    TOO_MANY_ACTIVATIONS, HEARTBEAT_DEAD, FINGERPRINT_NOT_ACTIVATED)."""

    status = 403
    slug = "license-refused"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, code=code)


class LicenseNotFound(NotFound):
    """404 with ``code`` NOT_FOUND (no such key) or ACTIVATION_NOT_FOUND."""

    def __init__(self, detail: str = "There is no such license key.", code: str = "NOT_FOUND") -> None:
        super().__init__(detail, code=code)
