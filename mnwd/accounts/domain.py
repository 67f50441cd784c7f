"""The accounts domain as a plug-in of the daemon (`mnwd.domain.Domain`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from mnwd.accounts.commands import add_commands
from mnwd.accounts.deletion import DELETION_HOOKS
from mnwd.accounts.email_change import CHANGE_MAIL, CHANGED_NOTICE, send_changed_notice, send_queued_change
from mnwd.accounts.links import LOGIN_LINK_MAIL, VERIFICATION_MAIL, send_queued_login_link, send_queued_verification
from mnwd.accounts.passkeys import PASSKEY_ADDED_MAIL, send_passkey_added_mail
from mnwd.accounts.password_reset import RESET_MAIL, send_queued_reset
from mnwd.accounts.passwords import PASSWORDS, Passwords
from mnwd.accounts.personal_tokens import REVOKE_HOOKS, TOKEN_USE, TokenUse
from mnwd.accounts.routes import TEMPLATES, setup_routes
from mnwd.accounts.sessions import page_context, sweep_expired_sessions
from mnwd.accounts.settings import AccountsSettings
from mnwd.accounts.users import SIGNUP_HOOKS
from mnwd.domain import Domain, JobKind, Periodic
from mnwd.services import Services

__all__ = ["DOMAIN"]


@contextlib.asynccontextmanager
async def start(services: Services) -> AsyncIterator[None]:
    services[PASSWORDS] = Passwords()
    services[DELETION_HOOKS] = []
    services[REVOKE_HOOKS] = []
    services[SIGNUP_HOOKS] = []
    services[TOKEN_USE] = TokenUse()
    yield


async def sweep_sessions(services: Services) -> int:
    return await sweep_expired_sessions(services.pool)


DOMAIN = Domain(
    name="accounts",
    routes=setup_routes,
    templates=TEMPLATES,
    page_context=page_context,
    commands=add_commands,
    start=start,
    settings=AccountsSettings,
    periodic=(Periodic("accounts.expired_sessions", 600.0, sweep_sessions),),
    jobs=(
        JobKind(VERIFICATION_MAIL, send_queued_verification),
        JobKind(LOGIN_LINK_MAIL, send_queued_login_link),
        JobKind(PASSKEY_ADDED_MAIL, send_passkey_added_mail),
        JobKind(RESET_MAIL, send_queued_reset),
        JobKind(CHANGE_MAIL, send_queued_change),
        JobKind(CHANGED_NOTICE, send_changed_notice),
    ),
)
