"""Errors that reach a client, rendered as RFC 9457 ``application/problem+json``.

Exception tree::

    MnwdError                      anything mnwd raises on purpose
    └── Problem                    an answer to a client: status, type slug, title, detail, extra fields
        ├── BadRequest             400 bad-request
        │   └── ValidationFailed   422 validation-failed, with ``errors`` per field
        ├── Unauthorized           401 unauthorized
        ├── Forbidden              403 forbidden
        ├── NotFound               404 not-found
        ├── MethodNotAllowed       405 method-not-allowed
        ├── Conflict               409 conflict
        ├── Gone                   410 gone
        ├── PayloadTooLarge        413 payload-too-large, with ``limit``
        ├── TooManyRequests        429 rate-limited, with ``retry_after``
        ├── ServiceUnavailable     503 unavailable, with ``retry_after`` (and Retry-After) when given
        └── InsufficientStorage    507 insufficient-storage: the server's disk (or quota) is full

``PROBLEM_TYPES`` is the catalog of ``type`` slugs (documented in docs/errors.md); a problem's ``type``
is ``https://mnwd.dev/problems/<slug>``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_TYPES",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "InsufficientStorage",
    "MethodNotAllowed",
    "MnwdError",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "ValidationFailed",
    "problem_type_uri",
]

PROBLEM_BASE = "https://mnwd.dev/problems/"

PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "Bad request"),
    "blob-hash-mismatch": (400, "Blob hash mismatch"),
    "malformed-json": (400, "Malformed JSON"),
    "nul-character": (400, "NUL character"),
    "unauthorized": (401, "Authentication required"),
    "invalid-credentials": (401, "Sign-in failed"),
    "invalid-token": (401, "Invalid access token"),
    "forbidden": (403, "Forbidden"),
    "csrf-failed": (403, "Security token missing"),
    "account-suspended": (403, "Account suspended"),
    "reauthentication-required": (403, "Confirm it is you"),
    "insufficient-scope": (403, "Insufficient scope"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-acceptable": (406, "Not acceptable"),
    "conflict": (409, "Conflict"),
    "mutation-gap": (409, "Mutation id skips ahead"),
    "must-refetch": (409, "Cursor below the compaction horizon"),
    "key-version-conflict": (409, "Key version conflict"),
    "email-taken": (409, "Email address taken"),
    "account-has-dependents": (409, "Others depend on this account"),
    "gone": (410, "Gone"),
    "link-used": (410, "Link already used"),
    "link-expired": (410, "Link expired"),
    "request-timeout": (408, "Request timeout"),
    "length-required": (411, "Content-Length required"),
    "payload-too-large": (413, "Payload too large"),
    "quota-exceeded": (413, "Storage quota exceeded"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "range-not-satisfiable": (416, "Range not satisfiable"),
    "validation-failed": (422, "Validation failed"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal server error"),
    "unavailable": (503, "Service unavailable"),
    "insufficient-storage": (507, "Insufficient storage"),
    "http-error": (400, "HTTP error"),
    "already-reported": (409, "Already reported"),
    "repo-name-taken": (409, "Repository name taken"),
    "label-exists": (409, "Label exists"),
    "ssh-key-in-use": (409, "SSH key already in use"),
    "slug-taken": (409, "Slug taken"),
    "version-taken": (409, "Version number taken"),
    "purchase-required": (403, "Purchase required"),
    "project-limit": (403, "Project limit reached"),
    "signature-invalid": (422, "Signature invalid"),
    "payments-not-configured": (503, "Payments not configured"),
    "payment-provider-error": (502, "Payment provider error"),
    "seller-not-connected": (409, "Seller cannot take payments"),
    "already-purchased": (409, "Already purchased"),
    "promo-code-invalid": (422, "Promo code not valid"),
    "webhook-signature-invalid": (400, "Webhook signature invalid"),
    "license-refused": (403, "License refused"),
    "list-limit": (409, "List limit reached"),
    "invalid-csv": (422, "The file is not a CSV that can be imported"),
    "tier-limit": (403, "Tier limit reached"),
    "invite-code-limit": (403, "Invite code limit reached"),
}


def problem_type_uri(slug: str) -> str:
    return PROBLEM_BASE + slug


class MnwdError(Exception):
    """Base of the errors mnwd raises on purpose."""


class Problem(MnwdError):
    status = 400
    slug = "bad-request"

    def __init__(self, detail: str, *, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        # The title is the catalog's, one per type (tests/test_errors.py checks every slug is in it).
        self.title = PROBLEM_TYPES.get(self.slug, (self.status, "Error"))[1]
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": problem_type_uri(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


class BadRequest(Problem):
    status = 400
    slug = "bad-request"


class ValidationFailed(BadRequest):
    """``errors`` is a list of ``{"field": ..., "message": ...}``."""

    status = 422
    slug = "validation-failed"

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None, **extra: Any) -> None:
        super().__init__(detail, errors=errors or [], **extra)


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"


class Forbidden(Problem):
    status = 403
    slug = "forbidden"


class NotFound(Problem):
    status = 404
    slug = "not-found"


class MethodNotAllowed(Problem):
    status = 405
    slug = "method-not-allowed"


class Conflict(Problem):
    status = 409
    slug = "conflict"


class Gone(Problem):
    status = 410
    slug = "gone"


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"

    def __init__(self, detail: str, *, limit: int, **extra: Any) -> None:
        super().__init__(detail, limit=limit, **extra)


class TooManyRequests(Problem):
    status = 429
    slug = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(Problem):
    status = 503
    slug = "unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None, **extra: Any) -> None:
        if retry_after is not None:
            extra["retry_after"] = retry_after
        super().__init__(detail, **extra)
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)


class InsufficientStorage(Problem):
    """The server could not store the request's content: its own disk is full, not the client's quota."""

    status = 507
    slug = "insufficient-storage"
