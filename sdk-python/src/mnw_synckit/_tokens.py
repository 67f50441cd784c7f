"""Where the tokens live: a JSON file of mode 0600 (written whole, then renamed over the old one), or the system
keyring when the ``keyring`` package is installed and asked for.

Refresh tokens rotate on every use and an old one presented again revokes the whole sign-in, so a new pair is
saved before it is used; a crash between the server's answer and the save loses the sign-in (the user signs in
again), never the data.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["FileTokenStore", "KeyringTokenStore", "TokenStore", "Tokens"]


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    """Unix time at which the access token stops working."""

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Tokens:
        return cls(body["access_token"], body["refresh_token"], time.time() + float(body.get("expires_in", 3600)))

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at - time.time() < seconds

    def __repr__(self) -> str:
        return f"Tokens(expires_at={self.expires_at!r}, access_token=…, refresh_token=…)"


class TokenStore(Protocol):
    def load(self) -> Tokens | None: ...
    def save(self, tokens: Tokens) -> None: ...
    def clear(self) -> None: ...


class FileTokenStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> Tokens | None:
        try:
            body = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Tokens(**body)

    def save(self, tokens: Tokens) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(asdict(tokens), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class KeyringTokenStore:
    """Tokens in the system keyring (``pip install mnw-synckit[keyring]``), under ``service`` and ``name``."""

    def __init__(self, service: str, name: str) -> None:
        import keyring  # type: ignore[import-not-found,unused-ignore]  # an optional dependency

        self._keyring = keyring
        self.service, self.name = service, name

    def load(self) -> Tokens | None:
        text = self._keyring.get_password(self.service, self.name)
        return Tokens(**json.loads(text)) if text else None

    def save(self, tokens: Tokens) -> None:
        self._keyring.set_password(self.service, self.name, json.dumps(asdict(tokens)))

    def clear(self) -> None:
        if self._keyring.get_password(self.service, self.name) is not None:
            self._keyring.delete_password(self.service, self.name)
