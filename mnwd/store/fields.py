"""The rules of the catalog's input fields, shared by the JSON API and the dashboard's forms.

`FieldErrors` gathers one message per field; `FieldErrors.raise_if_any(detail)` raises one
`ValidationFailed` (422, ``errors: [{field, message}]``) naming them all, so a form shows every mistake at once
and nothing is written. The problems of the catalog (`SlugTaken`, `VersionTaken`, `PurchaseRequired`,
`ProjectLimit`) live here too.
"""

from __future__ import annotations

import re
import uuid

from mnwd.errors import Conflict, Forbidden, ValidationFailed

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_PRICE_CENTS",
    "MAX_TITLE_CHARS",
    "SLUG",
    "FieldErrors",
    "ProjectLimit",
    "PurchaseRequired",
    "SlugTaken",
    "VersionTaken",
    "parse_uuid",
]

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
MAX_BODY_CHARS = 200_000
MAX_PRICE_CENTS = 100_000_00  # 100 000 in the currency: a typo guard, not a business rule


class SlugTaken(Conflict):
    slug = "slug-taken"

    def __init__(self, detail: str, *, field: str = "slug") -> None:
        super().__init__(detail, field=field, errors=[{"field": field, "message": detail}])


class VersionTaken(Conflict):
    slug = "version-taken"

    def __init__(self, version: str) -> None:
        detail = f"This item already has a version {version}; give the new file another number."
        super().__init__(detail, version=version, errors=[{"field": "version", "message": detail}])


class PurchaseRequired(Forbidden):
    slug = "purchase-required"

    def __init__(self, price_cents: int) -> None:
        super().__init__("This item is for sale; its files are for those who bought it.", price_cents=price_cents)


class ProjectLimit(Forbidden):
    slug = "project-limit"

    def __init__(self, limit: int, tier: str) -> None:
        super().__init__(
            f"The {tier} tier allows {limit} projects; delete one or move to a larger tier.", limit=limit, tier=tier
        )


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class FieldErrors:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        if not any(e["field"] == field for e in self.errors):
            self.errors.append({"field": field, "message": message})

    def raise_if_any(self, detail: str) -> None:
        if self.errors:
            raise ValidationFailed(detail, errors=self.errors)

    def slug(self, field: str, value: str) -> str:
        value = value.strip()
        if not SLUG.fullmatch(value):
            self.add(field, "Use 1 to 100 lowercase letters, digits, '-' or '_', starting with a letter or digit.")
        return value

    def title(self, field: str, value: str) -> str:
        value = value.strip()
        if not value:
            self.add(field, "Give it a title.")
        elif len(value) > MAX_TITLE_CHARS:
            self.add(field, f"Use at most {MAX_TITLE_CHARS} characters.")
        return value

    def text(self, field: str, value: str | None, max_chars: int) -> str | None:
        if value is None:
            return None
        if "\x00" in value:
            self.add(field, "The text holds a NUL character.")
        if len(value) > max_chars:
            self.add(field, f"Use at most {max_chars:,} characters.")
        return value.strip() or None

    def choice(self, field: str, value: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.add(field, f"Choose one of: {', '.join(allowed)}.")
        return value

    def cents(self, field: str, value: int | None) -> int | None:
        if value is None:
            return None
        if value < 0:
            self.add(field, "A price cannot be negative.")
        elif value > MAX_PRICE_CENTS:
            self.add(field, f"A price is at most {MAX_PRICE_CENTS:,} cents.")
        return value

    def number(self, field: str, raw: str, *, integer: bool = False) -> float | None:
        """A form's number field ('' → None)."""
        raw = raw.strip()
        if not raw:
            return None
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.add(field, "Enter a number." if not integer else "Enter a whole number.")
            return None
        if value != value or value in (float("inf"), float("-inf")):
            self.add(field, "Enter a number.")
            return None
        return value
