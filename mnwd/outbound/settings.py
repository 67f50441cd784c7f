"""Settings of the outbound mail queue (``config.section(OutboundSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mnwd.config import Section, Setting, non_negative_int

__all__ = ["OutboundSettings"]


def _optional_path(raw: str) -> Path | None:
    return Path(raw).expanduser() if raw else None


def _optional_text(raw: str) -> str | None:
    return raw or None


def _dkim_selector(raw: str) -> str | None:
    if raw and not all(c.isalnum() or c in "-._" for c in raw):
        raise ValueError("is not a DKIM selector (letters, digits, '-', '.', '_')")
    return raw or None


def _webhook_secret(raw: str) -> str | None:
    if raw and len(raw) < 16:
        raise ValueError("is too short: use at least 16 random characters")
    return raw or None


@dataclass(frozen=True)
class OutboundSettings(Section):
    rate_global: int
    rate_per_domain: int
    dkim_key_file: Path | None
    dkim_selector: str | None
    dkim_domain: str | None
    webhook_secret: str | None
    bounce_inbox: Path | None

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "rate_global",
            "MNWD_MAIL_RATE_GLOBAL",
            "0",
            "Most mails sent per minute by all daemons together; 0 = no limit.",
            non_negative_int,
        ),
        Setting(
            "rate_per_domain",
            "MNWD_MAIL_RATE_PER_DOMAIN",
            "0",
            "Most mails sent per minute to one recipient domain (gmail.com, ...); 0 = no limit.",
            non_negative_int,
        ),
        Setting(
            "dkim_key_file",
            "MNWD_DKIM_KEY_FILE",
            "",
            "PEM file of the DKIM private key (RSA or Ed25519); unset: mail is not signed.",
            _optional_path,
        ),
        Setting(
            "dkim_selector",
            "MNWD_DKIM_SELECTOR",
            "",
            "DKIM selector: the public key is published at <selector>._domainkey.<domain>.",
            _dkim_selector,
        ),
        Setting(
            "dkim_domain",
            "MNWD_DKIM_DOMAIN",
            "",
            "DKIM signing domain (d=); unset: the domain of MNWD_MAIL_FROM.",
            _optional_text,
        ),
        Setting(
            "webhook_secret",
            "MNWD_MAIL_WEBHOOK_SECRET",
            "",
            "Shared secret of the bounce and complaint webhook (POST /mail/webhook); unset: the webhook answers 404.",
            _webhook_secret,
            secret=True,
        ),
        Setting(
            "bounce_inbox",
            "MNWD_MAIL_BOUNCE_INBOX",
            "",
            "Directory of .eml files delivered to the bounce mailbox (Maildir new/ or any drop directory); each "
            "daemon reads the delivery status notifications in it every minute and moves them to processed/.",
            _optional_path,
        ),
    )
