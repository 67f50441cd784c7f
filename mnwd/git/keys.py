"""SSH keys: what the SSH server knows a user by.

- ``parse_public_key(text)`` → `ParsedKey`: one OpenSSH public key line (``ssh-ed25519 AAAA… comment``),
  parsed by asyncssh; anything else (a private key, two keys, garbage, a DSA key, RSA under
  `MIN_RSA_BITS`) raises ``ValidationFailed`` on the ``public_key`` field.
- ``add_key(services, user_id, text, title)`` → `SshKey`: the fingerprint (``SHA256:…``, OpenSSH's form) is
  unique across all accounts (the server finds the user from it), so a key already registered, by this user
  or anyone, is a 409 ``ssh-key-in-use`` that does not say whose it is. The unique constraint decides, so two
  concurrent adds of one key cannot both succeed. At most `MAX_KEYS` per user (counted under no lock: two
  concurrent adds may pass the count by one, harmless).
- ``list_keys``, ``delete_key`` (``NotFound`` for someone else's key, as for one that does not exist).
- ``key_owner(services, fingerprint)`` → `KeyOwner` or ``None`` (unknown key, suspended account), and
  ``note_key_used(services, key_id)`` once per authenticated connection.

asyncssh is imported by the first key parsed (or by the SSH server), not with this module: commands and
start-up that parse no key do not load it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from cryptography.hazmat.primitives.asymmetric import rsa

from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.git.queries import keys as queries
from mnwd.services import Services

if TYPE_CHECKING:
    import asyncssh

__all__ = [
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "KeyOwner",
    "ParsedKey",
    "SshKey",
    "add_key",
    "delete_key",
    "key_owner",
    "list_keys",
    "note_key_used",
    "parse_public_key",
]

MIN_RSA_BITS = 2048
MAX_KEYS = 100
MAX_KEY_CHARS = 16_384
MAX_TITLE_CHARS = 100
NO_SUCH_KEY = "There is no such SSH key."
ALGORITHMS = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True)
class ParsedKey:
    algorithm: str
    fingerprint: str
    public_key: str  # "algorithm base64", without the comment
    comment: str
    bits: int | None


@dataclass(frozen=True)
class SshKey:
    id: uuid.UUID
    user_id: uuid.UUID
    title: str
    public_key: str
    fingerprint: str
    last_used_at: datetime | None
    created_at: datetime

    @property
    def algorithm(self) -> str:
        return self.public_key.split(" ", 1)[0]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> SshKey:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class KeyOwner:
    key_id: uuid.UUID
    user_id: uuid.UUID
    username: str


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"The SSH key was not added: {message}", errors=[{"field": "public_key", "message": message}]
    )


def fingerprint_of(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def parse_public_key(text: str) -> ParsedKey:
    text = text.strip()
    if not text:
        raise _invalid("Paste a public key (the contents of a file like ~/.ssh/id_ed25519.pub).")
    if len(text) > MAX_KEY_CHARS:
        raise _invalid(f"This is longer than any public key ({MAX_KEY_CHARS} characters at most).")
    if "PRIVATE KEY" in text:
        raise _invalid("This is a private key: paste the public key (the .pub file) and keep this one secret.")
    if "\n" in text or "\r" in text:
        raise _invalid("Paste one public key, on one line.")
    algorithm = text.split(None, 1)[0]
    if algorithm == "ssh-dss":
        raise _invalid("DSA keys are too weak; use an Ed25519 key (ssh-keygen -t ed25519).")
    if algorithm not in ALGORITHMS:
        raise _invalid("This is not an OpenSSH public key (ssh-ed25519, ecdsa-sha2-… or ssh-rsa AAAA…).")
    import asyncssh

    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise _invalid("This public key is damaged: its data does not decode.") from None
    if key.algorithm.decode() != algorithm:
        raise _invalid("This public key is damaged: its type does not match its data.")
    bits: int | None = None
    if algorithm == "ssh-rsa":
        pyca_key = key.pyca_key
        assert isinstance(pyca_key, rsa.RSAPublicKey)
        bits = pyca_key.key_size
        if bits < MIN_RSA_BITS:
            raise _invalid(f"This RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed (or use Ed25519).")
    public_key = key.export_public_key("openssh").decode().split()
    return ParsedKey(
        algorithm=algorithm,
        fingerprint=fingerprint_of(key),
        public_key=" ".join(public_key[:2]),
        comment=(key.get_comment() or "").strip(),
        bits=bits,
    )


async def add_key(services: Services, user_id: uuid.UUID, text: str, title: str = "") -> SshKey:
    title = title.strip()
    if len(title) > MAX_TITLE_CHARS:
        raise ValidationFailed(
            "The SSH key was not added.",
            errors=[{"field": "title", "message": f"Use at most {MAX_TITLE_CHARS} characters."}],
        )
    parsed = parse_public_key(text)
    title = title or parsed.comment[:MAX_TITLE_CHARS] or parsed.algorithm
    if await queries.count_keys(services.pool, user_id) >= MAX_KEYS:
        raise _invalid(f"You have {MAX_KEYS} keys already: delete one first.")
    row = await queries.insert_key(services.pool, user_id, title, parsed.public_key, parsed.fingerprint)
    if row is None:
        raise Conflict(
            "This key is already in use, on this account or another. Each key can belong to one account.",
            slug="ssh-key-in-use",
            fingerprint=parsed.fingerprint,
        )
    return SshKey.from_row(row)


async def list_keys(services: Services, user_id: uuid.UUID) -> list[SshKey]:
    return [SshKey.from_row(row) for row in await queries.list_keys(services.pool, user_id)]


async def delete_key(services: Services, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
    if not await queries.delete_key(services.pool, user_id, key_id):
        raise NotFound(NO_SUCH_KEY)


async def user_id_by_name(services: Services, username: str) -> uuid.UUID | None:
    return await queries.get_user_id(services.pool, username)


async def key_owner(services: Services, fingerprint: str) -> KeyOwner | None:
    row = await queries.get_key_owner(services.pool, fingerprint)
    return None if row is None else KeyOwner(row["key_id"], row["user_id"], row["username"])


async def note_key_used(services: Services, key_id: uuid.UUID) -> None:
    """One UPDATE per SSH connection: cheap beside the git process the connection runs."""
    await queries.update_key_used(services.pool, key_id)
