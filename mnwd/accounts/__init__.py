"""Accounts: users, passwords, lockout, sessions, 2FA, backup codes, login links, passkeys.

What other domains may use: `Viewer` (the signed-in user of a page request), `get_viewer(request)`
(``None`` when signed out) and `require_viewer(request)` (sends anyone else to sign in);
`require_recent_auth(request, back=None)` (the viewer, once they proved a password, passkey or TOTP code in the
last ``MNWD_REAUTH_MINUTES``; anyone else is asked to confirm and brought back, see `mnwd.accounts.reauth`);
``DOMAIN`` is the plug-in the daemon loads.

Personal access tokens (`mnwd.accounts.personal_tokens`): `is_personal_token(token)` (by its prefix),
`check_token(services, token)` → `TokenCaller` or `TokenRefused`, `note_token_used(services, caller)`,
`on_personal_token_revoked(services, hook)`; `TOKEN_SCOPES`, the catalog of their scopes.

`SIGNUP_HOOKS`: the list of ``hook(tx, user_id, extras)`` run inside the sign-up transaction (the platform
redeems invite codes there).

`DELETION_HOOKS`: the list of ``hook(tx, user_id)`` run inside an account deletion's transaction before the row
goes (commerce and the platform enqueue the cancellation of the subscriptions it leaves at Stripe).
"""

from mnwd.accounts.deletion import DELETION_HOOKS
from mnwd.accounts.domain import DOMAIN
from mnwd.accounts.personal_tokens import (
    TokenCaller,
    TokenRefused,
    check_token,
    is_personal_token,
    note_token_used,
    on_personal_token_revoked,
)
from mnwd.accounts.reauth import is_recently_authenticated, require_recent_auth
from mnwd.accounts.sessions import Viewer, get_viewer, require_viewer
from mnwd.accounts.token_scopes import TOKEN_SCOPES
from mnwd.accounts.users import SIGNUP_HOOKS

__all__ = [
    "DELETION_HOOKS",
    "DOMAIN",
    "SIGNUP_HOOKS",
    "TOKEN_SCOPES",
    "TokenCaller",
    "TokenRefused",
    "Viewer",
    "check_token",
    "get_viewer",
    "is_personal_token",
    "is_recently_authenticated",
    "note_token_used",
    "on_personal_token_revoked",
    "require_recent_auth",
    "require_viewer",
]
