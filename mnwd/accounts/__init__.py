"""Accounts: users, passwords, lockout, sessions, 2FA, backup codes, login links, passkeys.

What other domains may use: `Viewer` (the signed-in user of a page request), `get_viewer(request)`
(``None`` when signed out) and `require_viewer(request)` (sends anyone else to sign in); ``DOMAIN`` is
the plug-in the daemon loads.
"""

from mnwd.accounts.domain import DOMAIN
from mnwd.accounts.sessions import Viewer, get_viewer, require_viewer

__all__ = ["DOMAIN", "Viewer", "get_viewer", "require_viewer"]
