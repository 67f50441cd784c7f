"""Settings of the accounts domain (``config.section(AccountsSettings)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mnwd.config import Section, Setting, positive_int

__all__ = ["AccountsSettings"]


@dataclass(frozen=True)
class AccountsSettings(Section):
    reauth_minutes: int

    SETTINGS: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "reauth_minutes",
            "MNWD_REAUTH_MINUTES",
            "10",
            "Minutes a proved password, passkey or TOTP code counts as recent, for actions that ask for one "
            "(adding a passkey, turning off 2FA, changing the email, deleting the account).",
            positive_int,
        ),
    )
