"""OAuth errors, answered as RFC 6749 says rather than as problem+json.

- `AuthorizeError` at the authorization endpoint: redirected back to the client with ``error=`` when the
  client and its redirect URI are trusted, otherwise shown as a page (``redirect_uri`` None).
- `TokenError` at the token, revocation and introspection endpoints: a JSON body
  ``{"error", "error_description"}`` with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from mnwd.errors import MnwdError

__all__ = ["AuthorizeError", "TokenError"]


class AuthorizeError(MnwdError):
    """``redirect_uri`` is None when the client or its redirect URI cannot be trusted: show a page then."""

    def __init__(
        self, error: str, description: str, *, redirect_uri: str | None = None, state: str | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


class TokenError(MnwdError):
    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
