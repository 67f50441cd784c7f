"""DKIM signatures checked by dkimpy against the configured key, and the rate limits."""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mnwd.config import ConfigError
from mnwd.db.tx import Tx, run_tx
from mnwd.mail import Mail
from mnwd.outbound import OutboundSettings, enqueue_mail
from mnwd.outbound.dkim import load_signer
from mnwd.services import Services
from tests.outbound.conftest import SmtpSink


def write_key(path: Path, kind: str) -> bytes:
    """Writes the private key as PEM; returns the DNS record's ``p=`` value."""
    if kind == "rsa":
        key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return base64.b64encode(public)


@pytest.fixture(params=["rsa"])
def dkim_key(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bytes]:
    path = tmp_path / "dkim.pem"
    return str(path), write_key(path, request.param) + b"|" + request.param.encode()


@pytest.fixture
def outbound_env(dkim_key: tuple[str, bytes]) -> dict[str, str]:
    return {"MNWD_DKIM_KEY_FILE": dkim_key[0], "MNWD_DKIM_SELECTOR": "mnwd2026"}


async def test_mail_over_smtp_carries_a_dkim_signature_that_verifies(
    services: Services, smtp: SmtpSink, dkim_key: tuple[str, bytes]
) -> None:
    public, kind = dkim_key[1].split(b"|")

    async def body(tx: Tx) -> None:
        await enqueue_mail(
            tx.conn,
            Mail(to="bob@example.org", subject="Signed", text="Hello\nhttps://mnwd.test/x\n"),
            headers={
                "List-Unsubscribe": "<https://mnwd.test/u>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )

    await run_tx(services.pool, "test", body)
    assert await services.jobs.run_due() == 1
    [envelope] = smtp.sink.envelopes
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    assert raw.startswith(b"DKIM-Signature:")
    k = b"rsa" if kind == b"rsa" else b"ed25519"

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mnwd2026._domainkey.mnwd.test."
        return b"v=DKIM1; k=" + k + b"; p=" + public

    assert dkim.verify(raw, dnsfunc=dns)
    signature = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "list-unsubscribe" in signature.lower()
    tampered = raw.replace(b"https://mnwd.test/x", b"https://evil.test/x")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_a_bad_key_or_a_missing_selector_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings = OutboundSettings(0, 0, bad, "s", None, None, None)
    with pytest.raises(ConfigError, match="MNWD_DKIM_KEY_FILE"):
        load_signer(settings, "a@mnwd.test")
    write_key(bad, "rsa")
    with pytest.raises(ConfigError, match="MNWD_DKIM_SELECTOR"):
        load_signer(OutboundSettings(0, 0, bad, None, None, None, None), "a@mnwd.test")
    assert load_signer(OutboundSettings(0, 0, None, None, None, None, None), "a@mnwd.test") is None
