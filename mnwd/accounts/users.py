"""Creating accounts: what a username and an email may be, and the checks before the row is written.

``SIGNUP_HOOKS`` (a list in `Services`, filled by higher domains in their ``start``): each
``hook(tx, user_id, extras)`` runs inside the sign-up transaction with the form's other fields (the platform
redeems an invite code there); a hook that raises `ValidationFailed` undoes the whole sign-up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parseaddr

import asyncpg

from mnwd.accounts import queries
from mnwd.accounts.links import mail_signup_notice, queue_email_verification
from mnwd.accounts.passwords import PASSWORDS, Passwords, password_problem
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import ValidationFailed
from mnwd.services import ServiceKey, Services

__all__ = ["RESERVED_USERNAMES", "SIGNUP_HOOKS", "create_user", "normalize_email", "sign_up", "username_problem"]

SignUpHook = Callable[[Tx, uuid.UUID, Mapping[str, str]], Awaitable[None]]
SIGNUP_HOOKS = ServiceKey("accounts.signup_hooks", list[SignUpHook])

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{1,38}$")
MAX_EMAIL_CHARS = 254

RESERVED_USERNAMES = frozenset(
    [
        "about",
        "account",
        "accounts",
        "admin",
        "administrator",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "docs",
        "download",
        "downloads",
        "explore",
        "git",
        "healthz",
        "help",
        "home",
        "login",
        "logout",
        "mail",
        "metrics",
        "new",
        "oauth",
        "ota",
        "owner",
        "pricing",
        "privacy",
        "projects",
        "readyz",
        "root",
        "search",
        "security",
        "settings",
        "signin",
        "signup",
        "source",
        "static",
        "status",
        "store",
        "support",
        "sync",
        "system",
        "terms",
        "user",
        "users",
        "verify-email",
        "well-known",
        "www",
    ]
)


def username_problem(username: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return "Use 2 to 39 lowercase letters, digits, '-' or '_', starting with a letter or digit."
    if username in RESERVED_USERNAMES:
        return "This username is reserved."
    return None


def normalize_email(raw: str) -> str | None:
    """The address with surrounding space removed, or None when it is not one plain address."""
    email = raw.strip()
    if not email or len(email) > MAX_EMAIL_CHARS or any(c.isspace() for c in email):
        return None
    name, address = parseaddr(email)
    if name or address != email:
        return None
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return None
    return email


async def create_user(
    pool: asyncpg.Pool | asyncpg.Connection,
    passwords: Passwords,
    *,
    username: str,
    email: str,
    password: str | None,
    is_admin: bool = False,
    can_create_projects: bool = False,
    email_verified: bool = False,
    password_confirm: str | None = None,
) -> asyncpg.Record:
    """Validate and insert; every problem is reported at once, per field, in the order of the sign-up form.
    ``password_confirm``, when given, must equal ``password``."""
    username = username.strip().lower()
    errors: list[dict[str, str]] = []
    username_ok = (problem := username_problem(username)) is None
    if problem:
        errors.append({"field": "username", "message": problem})
    normalized = normalize_email(email)
    if normalized is None:
        errors.append({"field": "email", "message": "Enter one email address, like name@example.org."})
    if password is not None and (problem := password_problem(password, username=username, email=email)):
        errors.append({"field": "password", "message": problem})
    if password_confirm is not None and password_confirm != password:
        errors.append({"field": "password_confirm", "message": "The two passwords differ."})
    errors.extend(await _taken(pool, username if username_ok else None, normalized))
    if errors:
        errors.sort(key=lambda error: FORM_ORDER.index(error["field"]))
        raise ValidationFailed("The account could not be created.", errors=errors)
    assert normalized is not None
    password_hash = await passwords.hash(password) if password is not None else None
    try:
        return await queries.insert_user(
            pool,
            username=username,
            email=normalized,
            password_hash=password_hash,
            is_admin=is_admin,
            can_create_projects=can_create_projects,
            email_verified=email_verified,
        )
    except asyncpg.UniqueViolationError as exc:
        field = {"users_username_key": "username", "users_email_lower_key": "email"}.get(
            exc.constraint_name or "", "username"
        )
        error = EMAIL_TAKEN if field == "email" else {"field": field, "message": f"This {field} is taken."}
        raise ValidationFailed("The account could not be created.", errors=[error]) from None


EMAIL_TAKEN = {"field": "email", "message": "This email is taken."}


FORM_ORDER = ("username", "email", "password", "password_confirm")


async def _taken(
    pool: asyncpg.Pool | asyncpg.Connection, username: str | None, email: str | None
) -> list[dict[str, str]]:
    """Which of a well-formed username and address (None: not well-formed, not looked up) have an account."""
    errors = []
    if username is not None and await queries.get_user_by_username(pool, username) is not None:
        errors.append({"field": "username", "message": "This username is taken."})
    if email is not None and await queries.get_user_by_login(pool, email) is not None:
        errors.append(EMAIL_TAKEN)
    return errors


async def sign_up(
    services: Services,
    *,
    username: str,
    email: str,
    password: str,
    password_confirm: str | None = None,
    extras: Mapping[str, str] | None = None,
) -> uuid.UUID | None:
    """A new account from the sign-up page, and its verification mail queued in the same transaction.

    None when the address already has an account and nothing else was wrong: the page must not say so (that
    would tell anyone which addresses have accounts), so nothing is created and the address's owner is mailed
    instead (`mail_signup_notice`). A taken username is still reported: usernames are public.
    """

    async def register(tx: Tx) -> uuid.UUID:
        user = await create_user(
            tx.conn,
            services[PASSWORDS],
            username=username,
            email=email,
            password=password,
            password_confirm=password_confirm,
        )
        await queue_email_verification(tx.conn, user["id"])
        tx.after_commit(services.jobs.wake)
        user_id: uuid.UUID = user["id"]
        for hook in services[SIGNUP_HOOKS]:
            await hook(tx, user_id, extras or {})
        return user_id

    try:
        return await run_tx(services.pool, "accounts.sign_up", register, metrics=services.metrics)
    except ValidationFailed as problem:
        errors = problem.extra.get("errors") or []
        if EMAIL_TAKEN not in errors:
            raise
        others = [error for error in errors if error != EMAIL_TAKEN]
        if others:
            raise ValidationFailed(problem.detail, errors=others) from None
    await mail_signup_notice(services, email.strip())
    return None
