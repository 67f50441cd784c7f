"""Password hashing with argon2id, and what a new password must be."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mnwd.services import ServiceKey

__all__ = ["MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "PASSWORDS", "Passwords", "password_problem"]

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256

# The most common passwords of at least MIN_PASSWORD_CHARS characters in public breach corpora.
COMMON_PASSWORDS = frozenset(
    [
        "1234567890",
        "0123456789",
        "12345678910",
        "1q2w3e4r5t",
        "qwertyuiop",
        "1qaz2wsx3edc",
        "password123",
        "password12",
        "password1!",
        "passw0rd123",
        "iloveyou123",
        "qwerty1234",
        "qwerty12345",
        "123456789a",
        "abcdefghij",
        "1234567890a",
        "aaaaaaaaaa",
        "1111111111",
        "0000000000",
        "123123123123",
        "football123",
        "baseball123",
        "princess123",
        "welcome123",
        "sunshine123",
        "trustno1trustno1",
        "letmein123",
        "administrator",
        "changeme123",
        "qazwsxedcrfv",
        "9876543210",
        "zaq12wsxcde",
        "dragon1234",
        "monkey12345",
        "superman123",
        "starwars123",
        "michael123",
        "password1234",
        "1q2w3e4r5t6y",
        "asdfghjkl1",
        "asdfghjkl;",
        "zxcvbnm123",
        "qwertyuiop1",
        "passwordpassword",
    ]
)


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """Why ``password`` may not be used, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Use at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"Use at most {MAX_PASSWORD_CHARS} characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        return "This password is too easy to guess; pick a longer or less common one."
    for own in (username.lower(), email.lower(), email.split("@")[0].lower()):
        if own and len(own) >= 4 and own in lowered:
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
