"""OAuth 2.1 for registered apps (public clients, PKCE with S256 only): authorize, token, revoke, introspect.

What other domains may use: `require_bearer(request)` authenticates an API request by its access token
and returns the `Bearer` (user, app, grant, device); `bearer_still_valid(request)` re-checks it for
long-lived responses (`bearer_remembered(request)`: the same without waiting, when a check is remembered),
`recheck_bearer(request)` raises the 401 it would get now, and
`on_bearers_forgotten(services, listener)` tells them when to check again (something may have been
revoked); `bind_device(...)` binds a token's grant to the device it registers;
`forget_cached_bearers(services)` after a change that revokes access;
`has_heard_of_bearer_epoch(services, epoch)` whether every such change up to a bearer epoch read in a
transaction (migration 0040) has reached this daemon. For the JSON API (``/api/v1``):
`require_api_caller(request, scope=…)` (an app's token or a personal access token holding the scope) and
`require_api_user(request, scope=…)` (either token, or the signed-in browser session with its CSRF check),
→ `ApiUser`.
"""

from mnwd.oauth.bearer import (
    ApiUser,
    bearer_remembered,
    bearer_still_valid,
    recheck_bearer,
    require_api_caller,
    require_api_user,
    require_bearer,
)
from mnwd.oauth.callers import Bearer
from mnwd.oauth.domain import DOMAIN, forget_cached_bearers, has_heard_of_bearer_epoch, on_bearers_forgotten
from mnwd.oauth.grants import bind_device

__all__ = [
    "DOMAIN",
    "ApiUser",
    "Bearer",
    "bearer_remembered",
    "bearer_still_valid",
    "bind_device",
    "forget_cached_bearers",
    "has_heard_of_bearer_epoch",
    "on_bearers_forgotten",
    "recheck_bearer",
    "require_api_caller",
    "require_api_user",
    "require_bearer",
]
