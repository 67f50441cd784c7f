"""What a signed-in user changes about their own account: display name, mail preferences, password, and
their sessions. Handlers (`pages_settings`) parse forms and call these; every change is one transaction.

- ``change_password(services, viewer, current=, new=, confirm=)``: checks the current password (unless the
  account has none, or the session was signed in by an emailed link minutes ago), the new one's rules, then stores its
  hash and signs out every other session, all in one transaction that holds the user's row, so two changes
  at once cannot both pass the check of the old password. Bad input raises ``ValidationFailed`` per field
  and changes nothing.
- ``list_sessions``, ``revoke_session`` (``NotFound`` for a session not the viewer's),
  ``revoke_other_sessions``.
"""

from __future__ import annotations

import uuid
from typing import Any

from mnwd.accounts import queries, reauth
from mnwd.accounts.passwords import PASSWORDS, password_problem
from mnwd.accounts.sessions import Viewer, describe_user_agent
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, ValidationFailed
from mnwd.services import Services

__all__ = [
    "change_password",
    "list_sessions",
    "revoke_other_sessions",
    "revoke_session",
    "save_display_name",
    "save_mail_preferences",
]

NO_SUCH_SESSION = "There is no such session."


async def save_display_name(services: Services, viewer: Viewer, display_name: str | None) -> None:
    await queries.update_display_name(services.pool, viewer.user_id, display_name)


async def save_mail_preferences(services: Services, viewer: Viewer, prefs: dict[str, bool]) -> None:
    await queries.update_email_preferences(services.pool, viewer.user_id, prefs)


async def change_password(services: Services, viewer: Viewer, *, current: str, new: str, confirm: str) -> None:
    rules: list[dict[str, str]] = []
    if problem := password_problem(new, username=viewer.username, email=viewer.email):
        rules.append({"field": "new_password", "message": problem})
    elif new != confirm:
        rules.append({"field": "new_password_confirm", "message": "The two passwords differ."})
    passwords = services[PASSWORDS]
    skip_old = reauth.may_skip_old_password(services, viewer)

    async def change(tx: Tx) -> None:
        stored = await queries.lock_password_hash(tx.conn, viewer.user_id)
        errors = []
        asks_current = stored is not None and not skip_old
        if asks_current and not await passwords.verify(stored, current):
            errors.append({"field": "current_password", "message": "This is not your current password."})
        if errors or rules:
            raise ValidationFailed("The password was not changed.", errors=errors + rules)
        await queries.update_password_hash(tx.conn, viewer.user_id, await passwords.hash(new), changed=True)
        await queries.revoke_other_sessions(tx.conn, viewer.user_id, keep=viewer.session_id)

    await run_tx(services.pool, "accounts.change_password", change, metrics=services.metrics)


async def list_sessions(services: Services, viewer: Viewer) -> list[dict[str, Any]]:
    rows = await queries.list_user_sessions(services.pool, viewer.user_id)
    return [
        {**dict(row), **describe_user_agent(row["user_agent"]), "current": row["id"] == viewer.session_id}
        for row in rows
    ]


async def revoke_session(services: Services, viewer: Viewer, session_id: uuid.UUID) -> None:
    if not await queries.revoke_user_session(services.pool, viewer.user_id, session_id):
        raise NotFound(NO_SUCH_SESSION)


async def revoke_other_sessions(services: Services, viewer: Viewer) -> None:
    await queries.revoke_other_sessions(services.pool, viewer.user_id, keep=viewer.session_id)
