"""Accounts: users, passwords, lockout, sessions, 2FA, backup codes, login links, passkeys.

What other domains may use: `Viewer` (the signed-in user of a page request), `get_viewer(request)`
(``None`` when signed out) and `require_viewer(request)` (sends anyone else to sign in);
`require_recent_auth(request, back=None)` (the viewer, once they proved a password, passkey or TOTP code in the
last ``MNWD_REAUTH_MINUTES``; anyone else is asked to confirm and brought back, see `mnwd.accounts.reauth`);
``DOMAIN`` is the plug-in the daemon loads.
"""

from mnwd.accounts.domain import DOMAIN
from mnwd.accounts.reauth import is_recently_authenticated, require_recent_auth
from mnwd.accounts.sessions import Viewer, get_viewer, require_viewer

__all__ = ["DOMAIN", "Viewer", "get_viewer", "is_recently_authenticated", "require_recent_auth", "require_viewer"]
