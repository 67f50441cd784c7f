"""Password hashing with argon2id, and what a new password must be."""

from __future__ import annotations

import asyncio
import functools
import gzip
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mnwd.services import ServiceKey

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "PASSWORDS",
    "Passwords",
    "common_passwords",
    "password_problem",
]

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256

# Shipped as package data; its source and license are in data/README.md.
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
# Shorter parts of a username or address are too common to refuse (``an`` is in "want").
MIN_OWN_CHARS = 3


@functools.cache
def common_passwords() -> frozenset[str]:
    """The lowercase common passwords, read once per process (about 20,000; a few MB in memory)."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as file:
        return frozenset(line.strip() for line in file if line.strip())


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """Why ``password`` may not be used, or None. Case does not matter: a common password, the username or
    the address (or the part before its @) is refused in any case, once it is at least 3 characters long."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Use at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Use at most {MAX_PASSWORD_CHARS} characters."
    lowered = password.lower()
    if len(set(password)) < 4 or lowered in common_passwords():
        return "This password is too easy to guess; pick a longer or less common one."
    for own in (username.lower(), email.lower(), email.split("@")[0].lower()):
        if len(own) >= MIN_OWN_CHARS and own in lowered:
            return "The password must not contain your username or email address."
    return None


class Passwords:
    """argon2id hashing off the event loop; a dummy verify keeps unknown users as slow as known ones.

    The dummy hash is made on the first miss (in the verifying thread), not here: building a
    ``Passwords`` costs no argon2 call. Every miss then verifies against it, as long as a known user's
    wrong password takes; only the very first miss of a process also pays for making it.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        # Two threads racing here both hash and one result wins; either is a valid dummy.
        if self._dummy is None:
            self._dummy = self._hasher.hash("mnwd dummy password for timing")
        return self._dummy

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash(), password) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


PASSWORDS = ServiceKey("accounts.passwords", Passwords)
