"""`Bearer`: who calls an API with an access token, as checked (and remembered) by `mnwd.oauth.bearer`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Bearer"]


@dataclass(frozen=True)
class Bearer:
    user_id: uuid.UUID
    username: str
    display_name: str | None
    app_id: uuid.UUID
    app_name: str
    grant_id: uuid.UUID
    device_id: uuid.UUID | None
    scope: frozenset[str]
    expires_at: datetime
