"""Re-authentication: whether this session proved who it is lately, and asking it to.

A session is *recently authenticated* when it proved a password, a passkey or a TOTP code within the last
``MNWD_REAUTH_MINUTES`` (`AccountsSettings.reauth_minutes`, default 10). Signing in that way counts; so does
signing in by an emailed link to an account that has no password (the link is all such an account has), and
the confirm page (``/settings/confirm``). The time is kept on the session row
(``user_sessions.reauthenticated_at``): it is per browser and ends with the session. A stolen session cookie
alone therefore cannot add a passkey, turn off 2FA, change the email, export the data or delete the account.

- ``is_recently_authenticated(services, viewer)``.
- ``require_recent_auth(request, back=None) -> Viewer``: the viewer if recently authenticated; anyone signed
  out is sent to sign in. Otherwise a page request is sent to the confirm page, which brings it back: a GET to
  itself, a form post to ``back`` (the page holding the form: a post cannot be replayed); a JSON request gets
  403 ``reauthentication-required`` with ``confirm_url``.
- ``confirm_identity(services, viewer, password=, code=)``: the check of the confirm page: the password, or a
  TOTP code for an account without one (rate limited with the 2FA settings' checks); marks the session.
- ``mark_recently_authenticated(services, viewer)``: after another check passed (a passkey, the inline
  password of the passkey form).
- ``may_skip_old_password(services, viewer)``: a session signed in by an emailed link, within the window,
  sets a new password without the old one.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from aiohttp import web

from mnwd.accounts import queries, totp
from mnwd.accounts.errors import ReauthenticationRequired
from mnwd.accounts.sessions import Viewer, require_viewer
from mnwd.accounts.settings import AccountsSettings
from mnwd.errors import ValidationFailed
from mnwd.services import Services
from mnwd.web.keys import SERVICES
from mnwd.web.pages import safe_next, wants_html

__all__ = [
    "CONFIRM_PATH",
    "confirm_identity",
    "confirm_url",
    "has_passkeys",
    "is_recently_authenticated",
    "mark_recently_authenticated",
    "may_skip_old_password",
    "require_recent_auth",
]

CONFIRM_PATH = "/settings/confirm"


def is_recently_authenticated(services: Services, viewer: Viewer) -> bool:
    if viewer.reauthenticated_at is None:
        return False
    minutes = services.config.section(AccountsSettings).reauth_minutes
    return services.clock.now() - viewer.reauthenticated_at < timedelta(minutes=minutes)


def may_skip_old_password(services: Services, viewer: Viewer) -> bool:
    """Whether this session may set a new password without the old one: it was signed in by an emailed link
    within the window (the mailbox proved who it is, as a reset link would; an old session's cookie does not)."""
    if viewer.signed_in_by != "link" or viewer.signed_in_at is None:
        return False
    minutes = services.config.section(AccountsSettings).reauth_minutes
    return services.clock.now() - viewer.signed_in_at < timedelta(minutes=minutes)


def confirm_url(next_url: str) -> str:
    return f"{CONFIRM_PATH}?next={quote(safe_next(next_url, '/settings'), safe='/')}"


async def require_recent_auth(request: web.Request, *, back: str | None = None) -> Viewer:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    if is_recently_authenticated(services, viewer):
        return viewer
    target = request.path_qs if request.method in ("GET", "HEAD") else back or request.path
    url = confirm_url(target)
    if request.content_type == "application/json" or (not wants_html(request) and request.method != "GET"):
        raise ReauthenticationRequired(url)
    raise web.HTTPSeeOther(url)


async def has_passkeys(services: Services, viewer: Viewer) -> bool:
    """Whether the confirm page can offer a passkey."""
    return await queries.count_passkeys(services.pool, viewer.user_id) > 0


async def mark_recently_authenticated(services: Services, viewer: Viewer) -> None:
    await queries.update_session_reauthenticated(services.pool, viewer.session_id)


async def confirm_identity(services: Services, viewer: Viewer, *, password: str, code: str) -> None:
    """Raises `ValidationFailed` naming the field, or `TooManyRequests`; marks the session on success."""
    if not viewer.has_password and not viewer.totp_enabled:
        raise ValidationFailed(
            "Your account has no password or authenticator app: use a passkey, or sign in again with an email "
            "link (that counts as confirming)."
        )
    await totp.confirm_owner(services, viewer.user_id, password=password, code=code)
    await mark_recently_authenticated(services, viewer)
