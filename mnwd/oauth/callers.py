"""Who calls an API with a token, as checked (and remembered) by `mnwd.oauth.bearer`: `Bearer` for an app's
OAuth access token, `TokenCaller` (accounts) for a user's personal access token; `ApiCaller` is either."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from mnwd.accounts import TokenCaller

__all__ = ["ApiCaller", "Bearer"]


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


ApiCaller: TypeAlias = Bearer | TokenCaller
