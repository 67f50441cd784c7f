"""Talking to mnwd: the bearer token on every call, refreshed before it expires and once after a 401, and
retries with backoff.

Retried (up to ``Backoff.attempts``, waits doubling from ``base`` to ``cap`` with full jitter, or the server's
``Retry-After``): connection errors, timeouts, 429 and 5xx, for requests that are safe to send twice (push is:
the server answers a resent mutation id as ``duplicate``). A refresh is sent again only when the connection
failed before the request went out: a refresh token presented twice revokes the whole sign-in.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from mnw_synckit._tokens import Tokens, TokenStore
from mnw_synckit.errors import LoginRequired, OfflineError, ServerError

__all__ = ["Api", "Backoff"]

REFRESH_MARGIN_SECONDS = 120.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Backoff:
    attempts: int = 8
    base: float = 0.2
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


async def problem_of(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    try:
        body = json.loads(await response.read() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class Api:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        tokens: TokenStore,
        session: aiohttp.ClientSession,
        backoff: Backoff,
        on_error: Callable[[BaseException | None], None] = lambda error: None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.token_store = tokens
        self.session = session
        self.backoff = backoff
        self.on_error = on_error
        self._tokens: Tokens | None = tokens.load()
        self._refreshing = asyncio.Lock()

    @property
    def tokens(self) -> Tokens | None:
        return self._tokens

    def set_tokens(self, tokens: Tokens | None) -> None:
        if tokens is None:
            self.token_store.clear()
        else:
            self.token_store.save(tokens)
        self._tokens = tokens

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- tokens -----------------------------------------------------------------------------------------------

    async def access_token(self) -> str:
        tokens = self._tokens
        if tokens is None:
            raise LoginRequired("not signed in: call login() first")
        if tokens.expires_within(REFRESH_MARGIN_SECONDS):
            tokens = await self.refresh(tokens)
        return tokens.access_token

    async def refresh(self, stale: Tokens) -> Tokens:
        """A new token pair, unless another task already replaced ``stale``."""
        async with self._refreshing:
            current = self._tokens
            if current is None:
                raise LoginRequired("not signed in: call login() first")
            if current.access_token != stale.access_token:
                return current
            form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token, "client_id": self.client_id}
            for attempt in range(self.backoff.attempts):
                try:
                    async with self.session.post(self.url("/oauth/token"), data=form) as response:
                        body = await problem_of(response)
                        if response.status == 200 and body is not None:
                            tokens = Tokens.from_response(body)
                            self.set_tokens(tokens)
                            return tokens
                        if response.status in RETRY_STATUSES and attempt + 1 < self.backoff.attempts:
                            await asyncio.sleep(self.backoff.delay(attempt, _retry_after(response.headers)))
                            continue
                        if response.status in (400, 401):
                            raise LoginRequired(f"the server refused the refresh token: {body}")
                        raise ServerError(response.status, body)
                except aiohttp.ClientConnectorError as error:
                    # Refused before the request went out: safe to send again.
                    if attempt + 1 >= self.backoff.attempts:
                        raise OfflineError(str(error)) from error
                    await asyncio.sleep(self.backoff.delay(attempt))
            raise OfflineError("refresh did not get through")

    # -- requests ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One authorized request, refreshed and sent again once after a 401; no other retries."""
        token = await self.access_token()
        for second_try in (False, True):
            response = await self.session.request(
                method, self.url(path), headers={**(headers or {}), "Authorization": f"Bearer {token}"}, **kwargs
            )
            if response.status == 401 and not second_try:
                response.release()
                tokens = self._tokens
                assert tokens is not None
                token = (await self.refresh(tokens)).access_token
                continue
            try:
                yield response
            finally:
                response.release()
            return

    async def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        """A JSON request with retries; the decoded body of an ``ok`` answer, else `ServerError`."""
        last: BaseException | None = None
        for attempt in range(self.backoff.attempts):
            retry_after: float | None = None
            try:
                async with self.send(method, path, **kwargs) as response:
                    if response.status in ok:
                        body = await response.read()
                        self.on_error(None)
                        return json.loads(body) if body else None
                    problem = await problem_of(response)
                    error = ServerError(response.status, problem)
                    if response.status not in RETRY_STATUSES:
                        self.on_error(error)
                        raise error
                    last, retry_after = error, _retry_after(response.headers)
            except NETWORK_ERRORS as network_error:
                last = OfflineError(f"{method} {path}: {network_error!r}")
            self.on_error(last)
            if attempt + 1 < self.backoff.attempts:
                await asyncio.sleep(self.backoff.delay(attempt, retry_after))
        assert last is not None
        raise last
