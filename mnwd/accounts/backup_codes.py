"""Backup codes: ten one-time codes that stand in for the authenticator app when it is lost.

A code is ten characters of Crockford's base32 (50 bits), shown as ``abcd-efgh-jk``. Only its keyed MAC
is stored (``Keyring.mac("backup-code", ...)``): without the server's key a stolen table cannot be
searched even for codes this short. A code is accepted whatever its case, with or without dashes or
spaces, and with the letters o, i and l read as the digits they look like; it works once, redeemed
with one ``UPDATE ... WHERE used_at IS NULL``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any, Literal

from mnwd.accounts import queries
from mnwd.db.tx import Tx, run_tx
from mnwd.keyring import Keyring, KeyringError
from mnwd.services import Services

__all__ = [
    "CODE_CHARS",
    "CODE_COUNT",
    "Redeemed",
    "count_unused",
    "generate",
    "hash_code",
    "looks_like_backup_code",
    "normalize",
    "open_codes_to_show",
    "regenerate",
    "replace_codes",
    "seal_codes_to_show",
    "use_code",
]

CODE_COUNT = 10
CODE_CHARS = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o, u
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})
_SEPARATORS = re.compile(r"[\s-]+")
_NORMAL = re.compile(rf"^[{ALPHABET}]{{{CODE_CHARS}}}$")
MAC_PURPOSE = "backup-code"
SHOWN_PURPOSE = "backup-codes-shown"
# New codes wait this long in the browser's transient state for the one page that shows them.
SHOW_SECONDS = 300


def generate() -> list[str]:
    """Fresh codes, formatted for people."""
    return [_format("".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))) for _ in range(CODE_COUNT)]


def _format(raw: str) -> str:
    return f"{raw[0:4]}-{raw[4:8]}-{raw[8:]}"


def normalize(text: str) -> str | None:
    """The canonical form of what someone typed, or None when it cannot be a backup code."""
    raw = _SEPARATORS.sub("", text).lower().translate(_READ_AS)
    return raw if _NORMAL.fullmatch(raw) else None


def looks_like_backup_code(text: str) -> bool:
    return normalize(text) is not None


def hash_code(keyring: Keyring, code: str) -> str:
    normal = normalize(code)
    if normal is None:
        raise ValueError("not a backup code")
    return keyring.mac(MAC_PURPOSE, normal.encode()).hex()


async def replace_codes(tx: Tx, keyring: Keyring, user_id: uuid.UUID, codes: list[str]) -> None:
    """Inside a transaction: forget the user's codes, store these (hashed)."""
    await queries.delete_backup_codes(tx.conn, user_id)
    await queries.insert_backup_codes(tx.conn, user_id, [hash_code(keyring, code) for code in codes])


async def regenerate(services: Services, user_id: uuid.UUID) -> list[str]:
    """New codes for the user; the old ones stop working. The caller shows the result once."""
    codes = generate()

    async def body(tx: Tx) -> None:
        await replace_codes(tx, services.keyring, user_id, codes)

    await run_tx(services.pool, "accounts.backup_codes.regenerate", body, metrics=services.metrics)
    return codes


Redeemed = Literal["used", "already-used", "unknown"]


async def use_code(services: Services, user_id: uuid.UUID, text: str) -> Redeemed:
    """``"used"`` when ``text`` is one of the user's unused codes (used up by this call); ``"already-used"``
    when it is one of theirs that was used before; else ``"unknown"`` (not theirs, or replaced since)."""
    normal = normalize(text)
    if normal is None:
        return "unknown"
    code_hash = hash_code(services.keyring, normal)
    if await queries.consume_backup_code(services.pool, user_id, code_hash):
        return "used"
    if await queries.get_backup_code_used(services.pool, user_id, code_hash):
        return "already-used"
    return "unknown"


async def count_unused(services: Services, user_id: uuid.UUID) -> int:
    return await queries.count_unused_backup_codes(services.pool, user_id)


def seal_codes_to_show(
    keyring: Keyring, user_id: uuid.UUID, codes: list[str], now: float, *, just_enabled: bool
) -> dict[str, Any]:
    """The transient-state entry that carries new codes from the form post to the page showing them once
    (POST, redirect, GET: a reload does not post again): encrypted, bound to the user, short-lived."""
    return {
        "codes": keyring.encrypt(SHOWN_PURPOSE, "\n".join(codes)),
        "user_id": str(user_id),
        "until": now + SHOW_SECONDS,
        "just_enabled": just_enabled,
    }


def open_codes_to_show(
    keyring: Keyring, entry: object, user_id: uuid.UUID, now: float
) -> tuple[list[str], bool] | None:
    """The codes of `seal_codes_to_show` and whether 2FA was just turned on, or None (gone, expired, someone else's)."""
    if not isinstance(entry, dict) or entry.get("user_id") != str(user_id):
        return None
    until, sealed = entry.get("until"), entry.get("codes")
    if not isinstance(until, int | float) or until < now or not isinstance(sealed, str):
        return None
    try:
        codes = keyring.decrypt(SHOWN_PURPOSE, sealed).split("\n")
    except KeyringError:
        return None
    return codes, entry.get("just_enabled") is True
