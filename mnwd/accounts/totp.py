"""TOTP (RFC 6238) as a second factor: enrolment, verification without replay, and turning it off.

- A new secret lives only in the browser's transient state, encrypted, until the user proves their app
  has it by entering a code; only then is it written to ``users.totp_secret``, encrypted with the key
  from config (``Keyring``, purpose ``"totp"``).
- A code is accepted for the current 30-second step or one step either side (clock drift), compared
  in constant time. The matched step is recorded with one conditional ``UPDATE``: a code whose step is
  not later than the last one used is refused, so a code signs in once, even when two requests race.
- Sign-in challenges are rate limited per user (on top of the per-login limit the page keeps), and
  changes to a working 2FA set-up ask for the password again (a TOTP code on password-less accounts).

Neither secrets nor codes are logged; the audit lines carry the user id only.
"""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pyotp
import segno

from mnwd.accounts import backup_codes, queries
from mnwd.accounts.errors import AccountSuspended
from mnwd.accounts.passwords import PASSWORDS
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Problem, Unauthorized, ValidationFailed
from mnwd.keyring import Keyring, KeyringError
from mnwd.ratelimit import Limit
from mnwd.services import Services

__all__ = [
    "ISSUER",
    "SETUP_SECONDS",
    "Enrolment",
    "TooManyWrongCodes",
    "WrongCode",
    "confirm_owner",
    "disable",
    "enable",
    "enrolment",
    "matching_step",
    "new_secret",
    "open_pending_secret",
    "pass_challenge",
    "seal_pending_secret",
    "verify_code",
]

log = logging.getLogger(__name__)

ISSUER = "mnwd"
STEP_SECONDS = 30
DIGITS = 6
WINDOW_STEPS = 1
SETUP_SECONDS = 15 * 60
SECRET_PURPOSE = "totp"
PENDING_PURPOSE = "totp-pending"
_CODE = re.compile(rf"^\d{{{DIGITS}}}$")
_SPACES = re.compile(r"\s+")

# Someone who knows the password gets a handful of guesses per pending sign-in (counted by the page);
# these cap guesses per account however many sign-ins are started, and are counted atomically.
CHALLENGE_PER_USER = Limit("2fa:user", 10, 900, "Too many codes tried for this account. Wait a few minutes.")
CHALLENGE_PER_USER_DAY = Limit("2fa:user-day", 50, 86400, "Too many codes tried for this account today.")
CONFIRM_PER_USER = Limit("2fa-confirm:user", 10, 900, "Too many attempts. Wait a few minutes.")


class WrongCode(Unauthorized):
    """A second factor that did not pass; ``detail`` says which kind of code it looked like and what went wrong."""

    def __init__(
        self, detail: str = "That code is not right. Codes change every 30 seconds, and each one works only once."
    ) -> None:
        super().__init__(detail, slug="invalid-credentials")


WRONG_BACKUP_CODE = (
    "That looks like a backup code, but it is not one of yours: check it, or use the code your app shows. "
    "Making new backup codes replaces all the old ones."
)
USED_BACKUP_CODE = (
    "This backup code was already used: each one works once. Use another one, or the code your app shows."
)
NOT_A_CODE = "That is neither a 6-digit code from your app nor a backup code (like abcd-efgh-jk)."


class TooManyWrongCodes(Problem):
    """Too many wrong codes for one sign-in; it is abandoned (no ``Retry-After``: the password is asked again)."""

    status = 429
    slug = "rate-limited"

    def __init__(self) -> None:
        super().__init__("Too many wrong codes. Sign in again with your password.")


def new_secret() -> str:
    """160 random bits, base32, as authenticator apps expect."""
    return pyotp.random_base32()


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step within ±1 of ``at`` whose code ``code`` is; None if none is.

    Every candidate is compared (in constant time), so the answer does not leak which step was close.
    Should two steps share a code, the later one is taken, which burns the most.
    """
    digits = _SPACES.sub("", code)
    if not _CODE.fullmatch(digits):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(at)
    matched = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), digits.encode()):
            matched = step
    return matched


@dataclass(frozen=True)
class Enrolment:
    """What the set-up page shows: the secret grouped for typing, and the same as a QR code."""

    grouped_secret: str
    uri: str
    qr_data_uri: str


def enrolment(secret: str, account_name: str) -> Enrolment:
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER
    )
    qr = segno.make_qr(uri, error="m").svg_data_uri(scale=5, border=2)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return Enrolment(grouped_secret=grouped, uri=uri, qr_data_uri=qr)


def seal_pending_secret(keyring: Keyring, user_id: uuid.UUID, secret: str, now: float) -> dict[str, Any]:
    """The transient-state entry for a secret being set up: encrypted, bound to the user, short-lived."""
    return {
        "secret": keyring.encrypt(PENDING_PURPOSE, secret),
        "user_id": str(user_id),
        "until": now + SETUP_SECONDS,
    }


def open_pending_secret(keyring: Keyring, entry: object, user_id: uuid.UUID, now: float) -> str | None:
    """The secret of a set-up this user started in this browser and has not let expire."""
    if not isinstance(entry, dict) or entry.get("user_id") != str(user_id):
        return None
    until, sealed = entry.get("until"), entry.get("secret")
    if not isinstance(until, int | float) or until < now or not isinstance(sealed, str):
        return None
    try:
        return keyring.decrypt(PENDING_PURPOSE, sealed)
    except KeyringError:
        return None


async def enable(services: Services, user_id: uuid.UUID, secret: str, code: str) -> list[str]:
    """Turn TOTP on once ``code`` proves the app holds ``secret``; returns the new backup codes (show once)."""
    step = matching_step(secret, code, services.clock.time())
    if step is None:
        raise ValidationFailed(
            "Two-factor authentication was not turned on.",
            errors=[{"field": "code", "message": "That code is not right. Enter the code your app shows now."}],
        )
    sealed = services.keyring.encrypt(SECRET_PURPOSE, secret)
    codes = backup_codes.generate()

    async def body(tx: Tx) -> None:
        if not await queries.update_totp_enabled(tx.conn, user_id, sealed, step):
            raise Conflict("Two-factor authentication is already on.")
        await backup_codes.replace_codes(tx, services.keyring, user_id, codes)

    await run_tx(services.pool, "accounts.totp.enable", body, metrics=services.metrics)
    log.info("two-factor authentication turned on", extra={"user_id": str(user_id)})
    return codes


async def disable(services: Services, user_id: uuid.UUID) -> None:
    async def body(tx: Tx) -> None:
        await queries.update_totp_disabled(tx.conn, user_id)
        await queries.delete_backup_codes(tx.conn, user_id)

    await run_tx(services.pool, "accounts.totp.disable", body, metrics=services.metrics)
    log.info("two-factor authentication turned off", extra={"user_id": str(user_id)})


async def verify_code(services: Services, user_id: uuid.UUID, code: str) -> bool:
    """True when ``code`` is the user's current TOTP code and no code of its step or later was used before."""
    user = await queries.get_user_by_id(services.pool, user_id)
    return user is not None and await _verify_for(services, user, code)


async def _verify_for(services: Services, user: asyncpg.Record, code: str) -> bool:
    if not user["totp_enabled"] or user["totp_secret"] is None:
        return False
    # A secret that no longer decrypts means the configured key changed: an operator's error, so it raises.
    secret = services.keyring.decrypt(SECRET_PURPOSE, user["totp_secret"])
    step = matching_step(secret, code, services.clock.time())
    if step is None:
        return False
    return await queries.claim_totp_step(services.pool, user["id"], user["totp_secret"], step)


async def pass_challenge(services: Services, user_id: uuid.UUID, text: str) -> str:
    """Check the second factor of a sign-in: a TOTP code or a backup code. Returns which one it was.

    Raises `TooManyRequests` (per-account limit), `AccountSuspended`, or `WrongCode`.
    """
    await services.limiter.hit(CHALLENGE_PER_USER, str(user_id))
    await services.limiter.hit(CHALLENGE_PER_USER_DAY, str(user_id))
    user = await queries.get_user_by_id(services.pool, user_id)
    if user is None or not user["totp_enabled"]:
        raise WrongCode()
    if user["suspended_at"] is not None:
        raise AccountSuspended()
    if _CODE.fullmatch(_SPACES.sub("", text)):
        if await _verify_for(services, user, text):
            return "totp"
        raise WrongCode()
    if not backup_codes.looks_like_backup_code(text):
        raise WrongCode(NOT_A_CODE)
    redeemed = await backup_codes.use_code(services, user_id, text)
    if redeemed == "used":
        log.info("backup code used", extra={"user_id": str(user_id)})
        return "backup-code"
    raise WrongCode(USED_BACKUP_CODE if redeemed == "already-used" else WRONG_BACKUP_CODE)


async def confirm_owner(services: Services, user_id: uuid.UUID, *, password: str, code: str) -> None:
    """Ask again who this is before 2FA is changed: the password, or a TOTP code if the account has none.

    Raises `ValidationFailed` naming the field, or `TooManyRequests`.
    """
    await services.limiter.hit(CONFIRM_PER_USER, str(user_id))
    user = await queries.get_user_by_id(services.pool, user_id)
    if user is None:
        raise ValidationFailed("Nothing was changed.")
    if user["password_hash"] is not None:
        if not await services[PASSWORDS].verify(user["password_hash"], password):
            raise ValidationFailed(
                "Nothing was changed.", errors=[{"field": "password", "message": "This is not your password."}]
            )
        return
    if not await _verify_for(services, user, code):
        raise ValidationFailed(
            "Nothing was changed.",
            errors=[{"field": "code", "message": "That code is not right, or it was already used."}],
        )
