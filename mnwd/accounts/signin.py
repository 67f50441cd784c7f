"""Password sign-in: rate limits, the lockout, constant-time answers; and the rehash after a sign-in.

``check_password`` only checks (it writes nothing but the attempt counters of the lockout);
``rehash_if_outdated`` then stores a hash of the current strength when the stored one is weaker.
"""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime

import asyncpg

from mnwd.accounts import queries
from mnwd.accounts.errors import AccountLocked, AccountSuspended, InvalidCredentials
from mnwd.accounts.passwords import MAX_PASSWORD_CHARS, PASSWORDS
from mnwd.errors import TooManyRequests
from mnwd.ratelimit import Limit
from mnwd.services import Services

__all__ = ["LOCK_MINUTES", "MAX_FAILURES", "check_password", "rehash_if_outdated"]

MAX_FAILURES = 5
LOCK_MINUTES = 15
LOGIN_PER_IP = Limit("login:ip", 50, 300, "Too many sign-in attempts from your network. Wait a few minutes.")
# A fixed window: an unknown name stays locked until the window ends, as a real account does (`_window_end`).
FAILURES_PER_IDENTIFIER = Limit("login:failures", MAX_FAILURES, LOCK_MINUTES * 60, fixed_window=True)


async def check_password(services: Services, identifier: str, password: str, ip: str) -> asyncpg.Record:
    """The user whose credentials these are, or an error that says nothing about whether the user exists."""
    identifier = identifier.strip()
    key = identifier.lower()
    await services.limiter.hit(LOGIN_PER_IP, ip)
    try:
        await services.limiter.check(FAILURES_PER_IDENTIFIER, key)
    except TooManyRequests:
        await services[PASSWORDS].verify(None, password[:MAX_PASSWORD_CHARS])
        raise AccountLocked(_seconds_left_in_window(services.clock.now())) from None
    user = await queries.get_user_by_login(services.pool, identifier) if identifier else None
    if user is None or user["password_hash"] is None or len(password) > MAX_PASSWORD_CHARS:
        await services[PASSWORDS].verify(None, password[:MAX_PASSWORD_CHARS])
        # As for a real account, the answer stays "wrong password"; the next attempt meets the lock.
        with contextlib.suppress(TooManyRequests):
            await services.limiter.hit(FAILURES_PER_IDENTIFIER, key)
        raise InvalidCredentials()
    attempts = await queries.reserve_login_attempt(services.pool, user["id"], MAX_FAILURES)
    if attempts is None:
        await services[PASSWORDS].verify(None, password)
        raise AccountLocked(await _seconds_locked(services, user))
    if not await services[PASSWORDS].verify(user["password_hash"], password):
        if attempts >= MAX_FAILURES:
            # The answer stays "wrong password", as for an unknown user; the next attempt meets the lock.
            await queries.lock_user_if_exhausted(
                services.pool, user["id"], MAX_FAILURES, _window_end(services.clock.now())
            )
        raise InvalidCredentials()
    if user["totp_enabled"]:
        # The attempt reserved above was no failure. A sign-in without a code step clears the count when its
        # session starts; this one waits for a code that may never come (lost phone, closed tab), and each
        # such right password used to count as a failure until the account was locked.
        await queries.clear_failed_logins(services.pool, user["id"])
    if user["suspended_at"] is not None:
        raise AccountSuspended()
    return user


async def rehash_if_outdated(services: Services, user: asyncpg.Record, password: str) -> bool:
    """After `check_password` accepted ``password``: store it hashed with today's parameters if the stored
    hash used weaker ones. Whether it did."""
    passwords = services[PASSWORDS]
    if not passwords.needs_rehash(user["password_hash"]):
        return False
    await queries.update_password_hash(services.pool, user["id"], await passwords.hash(password), changed=False)
    return True


def _window_end(now: datetime) -> datetime:
    """When the fixed window of `FAILURES_PER_IDENTIFIER` that ``now`` falls in ends (as the rate limiter
    counts it). A real account's lock ends then too, so a locked account and a locked unknown name are told
    the same ``Retry-After``, and the lockout cannot tell which names have an account."""
    epoch = int(now.timestamp())
    window = FAILURES_PER_IDENTIFIER.window_seconds
    return datetime.fromtimestamp(epoch - epoch % window + window, UTC)


def _seconds_left_in_window(now: datetime) -> int:
    """The ``Retry-After`` of the rate limiter for `FAILURES_PER_IDENTIFIER` at ``now``."""
    epoch = int(now.timestamp())
    window = FAILURES_PER_IDENTIFIER.window_seconds
    return max(window - epoch % window, 1)


async def _seconds_locked(services: Services, user: asyncpg.Record) -> int:
    until = await queries.get_lock(services.pool, user["id"])
    if until is None:
        # Every attempt of this round is still being checked; ask to wait a moment.
        return 5
    return max(1, math.ceil((until - services.clock.now()).total_seconds()))
