"""Notifications to users, each kind switched by a ``users`` column, with a signed unsubscribe link per kind.

Interface::

    mail_id = await notify(services, conn, user_id, "follower", Mail(to="", subject=..., text=...), key=...)

`notify` reads the user's address and flag in ``conn`` (so in the caller's transaction) and returns None,
queueing nothing, when the flag is off, the user is gone or the address suppressed. Otherwise it queues the
mail (stream ``notification``) to the user's current address (``mail.to`` is ignored) with, at the end of
its text (and HTML), a link that turns this kind off, and the RFC 8058 headers ``List-Unsubscribe:
<link>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, so a mail client's "unsubscribe"
button works without a session. Kinds: ``sale``, ``follower``, ``release``, ``issues``
(``users.notify_<kind>``).

The link is ``/mail/unsubscribe/<token>``, the token ``<user id>.<kind>.<MAC>``: a MAC of the two under a
key derived from the secret key, so nobody can forge one for another user or kind; it does not expire (an
old mail's link keeps working). A GET shows a button and changes nothing (mail scanners follow links); a
POST turns the flag off, idempotently.
"""

from __future__ import annotations

import base64
import hmac
import html
import uuid

import asyncpg

from mnwd.mail import Mail
from mnwd.outbound import queries
from mnwd.outbound.queue import enqueue_mail
from mnwd.services import Services

__all__ = [
    "KINDS",
    "Unsubscribe",
    "check_unsubscribe_token",
    "notify",
    "unsubscribe",
    "unsubscribe_token",
    "unsubscribe_url",
]

KINDS = {
    "sale": "sales of your items",
    "follower": "new followers and what the people and projects you follow publish",
    "release": "new versions of items you follow",
    "issues": "new issues in your repositories",
}
_PURPOSE = "outbound.unsubscribe"


def _column(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"notification kind must be one of {', '.join(KINDS)}")
    return f"notify_{kind}"


def _mac(services: Services, user_id: uuid.UUID, kind: str) -> str:
    digest = services.keyring.mac(_PURPOSE, f"{user_id}:{kind}".encode())
    return base64.urlsafe_b64encode(digest[:18]).decode()


def unsubscribe_token(services: Services, user_id: uuid.UUID, kind: str) -> str:
    _column(kind)
    return f"{user_id}.{kind}.{_mac(services, user_id, kind)}"


def unsubscribe_url(services: Services, user_id: uuid.UUID, kind: str) -> str:
    return f"{services.config.base_url}/mail/unsubscribe/{unsubscribe_token(services, user_id, kind)}"


class Unsubscribe:
    """A checked token: whose flag and which."""

    def __init__(self, user_id: uuid.UUID, kind: str) -> None:
        self.user_id = user_id
        self.kind = kind
        self.description = KINDS[kind]


def check_unsubscribe_token(services: Services, token: str) -> Unsubscribe | None:
    """The token's user and kind if its MAC is right; None for anything else (forged, truncated, garbage)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        return None
    raw_user, kind, mac = parts
    if kind not in KINDS:
        return None
    try:
        user_id = uuid.UUID(raw_user)
    except ValueError:
        return None
    if not hmac.compare_digest(mac.encode(), _mac(services, user_id, kind).encode()):
        return None
    return Unsubscribe(user_id, kind)


async def unsubscribe(services: Services, found: Unsubscribe) -> bool:
    """Turn the flag off; False if the user no longer exists."""
    return await queries.update_user_notify(services.pool, found.user_id, _column(found.kind), False)


async def notify(
    services: Services,
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: uuid.UUID,
    kind: str,
    mail: Mail,
    *,
    key: str | None = None,
) -> uuid.UUID | None:
    """Queue ``mail`` to the user if their ``notify_<kind>`` is on; the mail's id, or None if skipped."""
    row = await queries.get_user_notify(conn, user_id, _column(kind))
    if row is None or not row["enabled"]:
        return None
    url = unsubscribe_url(services, user_id, kind)
    footer = f"\n\n-- \nYou get this mail because notifications of {KINDS[kind]} are on.\nStop them: {url}\n"
    text = mail.text.rstrip("\n") + footer
    body_html = None
    if mail.html is not None:
        link = html.escape(url, quote=True)
        body_html = (
            f'{mail.html}\n<p style="color:#666;font-size:small">You get this mail because notifications of '
            f'{html.escape(KINDS[kind])} are on. <a href="{link}">Stop them</a>.</p>\n'
        )
    headers = {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    final = Mail(to=row["email"], subject=mail.subject, text=text, html=body_html, headers=dict(mail.headers))
    return await enqueue_mail(conn, final, stream="notification", key=key, headers=headers)
