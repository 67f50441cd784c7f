"""DKIM signing (RFC 6376) of outgoing mail with dkimpy, when a key is configured.

`load_signer(settings, sender)` returns a `mnwd.mail.Signer` (message bytes → the ``DKIM-Signature`` header
line) or None without ``MNWD_DKIM_KEY_FILE``. The key is read once at start-up; an unreadable key, a missing
selector or a key dkimpy cannot use stops the start with a `ConfigError` naming the setting. RSA keys sign
``rsa-sha256``, Ed25519 keys ``ed25519-sha256`` (RFC 8463; dkimpy needs pynacl for those). Headers signed:
From, To, Subject, Date, Message-ID, MIME-Version, Content-Type, List-Unsubscribe, List-Unsubscribe-Post (those
present).
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mnwd.config import ConfigError
from mnwd.mail import Signer, parse_address
from mnwd.outbound.settings import OutboundSettings

__all__ = ["load_signer"]

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


def load_signer(settings: OutboundSettings, sender: str) -> Signer | None:
    if settings.dkim_key_file is None:
        return None
    import dkim  # dkimpy and dnspython: a tenth of a second, for daemons that sign only

    if settings.dkim_selector is None:
        raise ConfigError("MNWD_DKIM_SELECTOR must be set with MNWD_DKIM_KEY_FILE")
    try:
        pem = settings.dkim_key_file.read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"MNWD_DKIM_KEY_FILE={str(settings.dkim_key_file)!r} is not a PEM private key: {exc}"
        ) from None
    domain = (settings.dkim_domain or parse_address(sender).domain).encode()
    selector = settings.dkim_selector.encode()
    if isinstance(key, Ed25519PrivateKey):
        algorithm = b"ed25519-sha256"
        # dkimpy takes the raw 32-byte seed, base64-encoded.
        private = base64.b64encode(
            key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        )
    else:
        algorithm = b"rsa-sha256"
        private = pem

    def sign(message: bytes) -> bytes:
        signature: bytes = dkim.sign(
            message,
            selector,
            domain,
            private,
            signature_algorithm=algorithm,
            include_headers=[h for h in SIGNED_HEADERS if _has_header(message, h)],
        )
        return signature

    try:  # a key dkimpy cannot use fails the start, not every mail
        sign(b"From: a@" + domain + b"\r\nSubject: probe\r\n\r\nprobe\r\n")
    except Exception as exc:
        hint = " (Ed25519 keys need the pynacl package; or use an RSA key)" if algorithm == b"ed25519-sha256" else ""
        raise ConfigError(f"MNWD_DKIM_KEY_FILE={str(settings.dkim_key_file)!r} cannot sign{hint}: {exc}") from None
    return sign


def _has_header(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name + b":") or (b"\r\n" + name + b":") in head
