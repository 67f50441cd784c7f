"""Errors of the accounts domain (all `mnwd.errors.Problem`, so an API answers them as problem+json)."""

from __future__ import annotations

from mnwd.errors import Forbidden, TooManyRequests, Unauthorized

__all__ = ["AccountLocked", "AccountSuspended", "InvalidCredentials", "ReauthenticationRequired"]

LOCKED_MESSAGE = (
    "Too many failed sign-in attempts for this account. Try again in {minutes} minutes, or sign in with an email link."
)


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("The username or password is not right.", slug="invalid-credentials")


class AccountLocked(TooManyRequests):
    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(LOCKED_MESSAGE.format(minutes=minutes), retry_after=retry_after)


class AccountSuspended(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "This account is suspended. Write to support if you think this is a mistake.", slug="account-suspended"
        )


class ReauthenticationRequired(Forbidden):
    def __init__(self, confirm_url: str) -> None:
        super().__init__(
            "Confirm it is you first: enter your password (or a code, or use a passkey) again.",
            slug="reauthentication-required",
            confirm_url=confirm_url,
        )
