"""The links a list mail carries: the double opt-in confirmation and the signed unsubscribe link.

- ``new_confirm_token()`` → ``(token, hash)``: a random token for ``/lists/confirm/{token}``; only its SHA-256
  is stored (on the subscriber row), and confirming spends it.
- ``unsubscribe_token(keyring, subscriber_id, broadcast_id)`` → a token for ``/lists/unsubscribe/{token}``:
  the subscriber's id (and the broadcast's, to count unsubscribes per broadcast) with an HMAC keyed from
  ``MNWD_SECRET_KEY`` (purpose ``mailing.unsubscribe``). Nothing is stored, so every mail of a 50,000-address
  broadcast gets its link without a write; a forged or altered token is refused by `read_unsubscribe_token`
  (``None``), so nobody can unsubscribe someone else by guessing ids. The link does not expire: RFC 8058 asks
  that it keep working.
- ``list_headers(base_url, token)``: ``List-Unsubscribe`` (the one-click https URL) and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058 §3).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid

from mnwd.keyring import Keyring
from mnwd.tokens import hash_token, new_token

__all__ = [
    "UnsubscribeLink",
    "confirm_url",
    "list_headers",
    "new_confirm_token",
    "read_unsubscribe_token",
    "unsubscribe_token",
    "unsubscribe_url",
]

PURPOSE = "mailing.unsubscribe"
MAC_BYTES = 16


def new_confirm_token() -> tuple[str, bytes]:
    token = new_token()
    return token, hash_token(token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(keyring: Keyring, subscriber_id: uuid.UUID, broadcast_id: uuid.UUID | None = None) -> str:
    message = subscriber_id.bytes + (broadcast_id.bytes if broadcast_id is not None else b"")
    return f"{_b64(message)}.{_b64(keyring.mac(PURPOSE, message)[:MAC_BYTES])}"


class UnsubscribeLink:
    """What a valid unsubscribe token names."""

    __slots__ = ("broadcast_id", "subscriber_id")

    def __init__(self, subscriber_id: uuid.UUID, broadcast_id: uuid.UUID | None) -> None:
        self.subscriber_id = subscriber_id
        self.broadcast_id = broadcast_id


def read_unsubscribe_token(keyring: Keyring, token: str) -> UnsubscribeLink | None:
    if len(token) > 200:
        return None
    body, _, mac = token.partition(".")
    try:
        message, given = _unb64(body), _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if len(message) not in (16, 32) or not hmac.compare_digest(given, keyring.mac(PURPOSE, message)[:MAC_BYTES]):
        return None
    return UnsubscribeLink(uuid.UUID(bytes=message[:16]), uuid.UUID(bytes=message[16:]) if len(message) == 32 else None)


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/lists/unsubscribe/{token}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/lists/confirm/{token}"


def list_headers(base_url: str, token: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(base_url, token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
