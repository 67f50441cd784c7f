"""Sign-in and token rates, in alternating rounds against baselines in the same process:

- password sign-ins per second: ``POST /login`` (form with its CSRF token, answered 303 to ``/settings``
  with a new session) from `SIGNIN_CLIENTS` browsers at once, each with a user of its own, against argon2id
  verifying the same password against the same hash with the parameters mnwd hashes with
  (`mnwd.accounts.passwords.Passwords`: argon2-cffi's ``PasswordHasher()`` defaults, checked below), in
  the same default thread pool, as many at once, no HTTP and no database. Each sign-in's form (a ``GET
  /login`` for its cookie and CSRF token) is fetched before the clock starts;
- OAuth token endpoint, refresh-token grant (the hot one: every app device refreshes its one-hour access
  token; a code is exchanged once per sign-in): ``POST /oauth/token`` from `TOKEN_CLIENTS` devices at once,
  each rotating its own refresh token chain, against a bare aiohttp handler running the same SQL through a
  raw asyncpg pool of the same size (the per-address rate-limit count, the app lookup, then in one
  transaction: spend the refresh token, the suspension check, insert the access and the refresh token) and
  answering the same JSON.

mnwd limits both per client address (``login:ip`` 50 per 5 minutes, ``oauth-token:ip`` 120 per minute), as
it should. So that the limit is counted but never reached, each client of each round connects from an
address of its own in 127.0.0.0/8 (Linux routes the whole block to loopback), the way many users arrive
from many addresses; the bare handler counts its hits the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from html import unescape
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from argon2 import PasswordHasher, extract_parameters

from bench.fixtures import NO_TIMEOUT, SyncStack, serve, sync_stack
from bench.report import Result
from bench.rounds import Options, alternate
from mnwd.accounts.passwords import PASSWORDS
from mnwd.apps import queries as app_queries
from mnwd.oauth import queries as oauth_queries
from mnwd.ratelimit import queries as limit_queries
from mnwd.tokens import hash_token, new_token

PASSWORD = "correct horse battery staple"
SIGNIN_CLIENTS = 4
TOKEN_CLIENTS = 16
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
TOKEN_LIMIT = ("oauth-token:ip", 120, 60)  # as mnwd.oauth.endpoints.TOKEN_PER_IP


def _addresses() -> Iterator[str]:
    """Fresh loopback addresses: 127.1.0.1, 127.1.0.2, …"""
    for n in itertools.count(1):
        if n % 256 not in (0, 255):
            yield f"127.{1 + (n >> 16) % 254}.{(n >> 8) % 256}.{n % 256}"


def _session(address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=NO_TIMEOUT)


# Sign-in


class SignIns:
    """mnwd's side: browsers posting the sign-in form; a round is ``per_client`` sign-ins from each."""

    def __init__(self, base_url: str, usernames: list[str], per_client: int, addresses: Iterator[str]) -> None:
        self.base_url = base_url
        self.usernames = usernames
        self.per_client = per_client
        self.addresses = addresses

    async def _forms(self, session: aiohttp.ClientSession) -> list[dict[str, str]]:
        """A new browser's cookie and the CSRF token of its sign-in form, per sign-in to come."""
        forms = []
        for _ in range(self.per_client):
            async with session.get(f"{self.base_url}/login") as response:
                page = await response.text()
                assert response.status == 200, page
                cookie = response.cookies["mnwd_session"].value
            match = CSRF_INPUT.search(page)
            assert match is not None, page
            forms.append({"cookie": cookie, "csrf_token": unescape(match.group(1))})
        return forms

    async def __call__(self) -> float:
        sessions = [_session(next(self.addresses)) for _ in self.usernames]
        try:
            forms = [await self._forms(s) for s in sessions]

            async def client(session: aiohttp.ClientSession, username: str, mine: list[dict[str, str]]) -> None:
                for form in mine:
                    data = {"login": username, "password": PASSWORD, "csrf_token": form["csrf_token"]}
                    async with session.post(
                        f"{self.base_url}/login",
                        data=data,
                        headers={"Cookie": f"mnwd_session={form['cookie']}"},
                        allow_redirects=False,
                    ) as response:
                        page = await response.text()
                        assert response.status == 303, page
                        assert response.headers["Location"] == "/settings", response.headers["Location"]

            started = time.perf_counter()
            await asyncio.gather(*(client(*c) for c in zip(sessions, self.usernames, forms, strict=True)))
            return len(self.usernames) * self.per_client / (time.perf_counter() - started)
        finally:
            for session in sessions:
                await session.close()


def _verifier(password_hash: str, clients: int, per_client: int) -> Callable[[], Awaitable[float]]:
    hasher = PasswordHasher()
    used = extract_parameters(password_hash)
    ours = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len)
    assert (used.time_cost, used.memory_cost, used.parallelism, used.hash_len) == ours, (used, ours)

    async def verify_all() -> float:
        async def client() -> None:
            for _ in range(per_client):
                assert await asyncio.to_thread(hasher.verify, password_hash, PASSWORD)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return clients * per_client / (time.perf_counter() - started)

    return verify_all


async def _sign_in_results(options: Options, stack: SyncStack, addresses: Iterator[str]) -> list[Result]:
    password_hash = await stack.services[PASSWORDS].hash(PASSWORD)
    clients = options.size(SIGNIN_CLIENTS, 1)
    per_client = options.size(6, 1)  # below login:ip's 50 per address, and the failures lock never nears
    users = await stack.create_users(clients, prefix="signin")
    await stack.pool.execute("UPDATE users SET password_hash = $1 WHERE id = ANY($2)", password_hash, users)
    usernames = await stack.pool.fetch("SELECT username FROM users WHERE id = ANY($1) ORDER BY username", users)
    mnwd = SignIns(stack.base_url, [r["username"] for r in usernames], per_client, addresses)
    baseline = _verifier(password_hash, clients, per_client)
    await mnwd()  # warm-up
    await baseline()
    measured, verified = await alternate(options, [mnwd, baseline])
    return [
        Result(
            f"password sign-in, {clients} at once", "sign-in/s", measured, "argon2 verify, same cost, threads", verified
        )
    ]


# Token endpoint


async def _refresh_chains(stack: SyncStack, clients: int) -> list[str]:
    """A grant (scope ``sync``) per client with one live refresh token; the tokens."""
    assert stack.app_id is not None
    users = await stack.create_users(clients, prefix=f"rt{uuid.uuid4().hex[:6]}")
    grants = [uuid.uuid4() for _ in users]
    tokens = [new_token("mnwd_rt_") for _ in users]
    await stack.pool.execute(
        "INSERT INTO oauth_grants (id, app_id, user_id, scope) SELECT g, $1, u, 'sync' "
        "FROM unnest($2::uuid[], $3::uuid[]) AS t(g, u)",
        stack.app_id,
        grants,
        users,
    )
    await stack.pool.execute(
        "INSERT INTO oauth_refresh_tokens (grant_id, token_hash, expires_at) "
        "SELECT g, h, now() + interval '60 days' FROM unnest($1::uuid[], $2::bytea[]) AS t(g, h)",
        grants,
        [hash_token(t) for t in tokens],
    )
    return tokens


class Refreshes:
    """Devices rotating their refresh tokens at ``url``; a round is ``per_client`` refreshes from each."""

    def __init__(
        self, url: str, app_id: uuid.UUID, tokens: list[str], per_client: int, addresses: Iterator[str]
    ) -> None:
        self.url = url
        self.client_id = str(app_id)
        self.tokens = tokens
        self.per_client = per_client
        self.addresses = addresses

    async def __call__(self) -> float:
        sessions = [_session(next(self.addresses)) for _ in self.tokens]
        try:

            async def client(index: int) -> None:
                for _ in range(self.per_client):
                    form = {"grant_type": "refresh_token", "refresh_token": self.tokens[index]}
                    form["client_id"] = self.client_id
                    async with sessions[index].post(self.url, data=form) as response:
                        body = await response.read()
                        assert response.status == 200, body
                    issued = orjson.loads(body)
                    assert issued["access_token"].startswith("mnwd_at_"), issued
                    self.tokens[index] = issued["refresh_token"]

            started = time.perf_counter()
            await asyncio.gather(*(client(i) for i in range(len(self.tokens))))
            return len(self.tokens) * self.per_client / (time.perf_counter() - started)
        finally:
            for session in sessions:
                await session.close()


def _bare_token_app(pool: asyncpg.Pool) -> web.Application:
    """``POST /oauth/token``, refresh grant only: mnwd's statements, run through ``pool``, and nothing else."""
    name, max_hits, window_seconds = TOKEN_LIMIT

    async def token(request: web.Request) -> web.Response:
        now = time.time()
        start = math.floor(now) - math.floor(now) % window_seconds
        bucket = f"{name}:{hashlib.sha256((request.remote or '').encode()).hexdigest()[:32]}"
        previous, current = await limit_queries.upsert_hit(
            pool,
            bucket,
            dt.datetime.fromtimestamp(start, dt.UTC),
            dt.datetime.fromtimestamp(start - window_seconds, dt.UTC),
        )
        if previous * max(0.0, 1 - (now - start) / window_seconds) + current > max_hits:
            return web.json_response({"error": "slow_down"}, status=429)
        form = await request.post()
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        app = await app_queries.get_app(pool, uuid.UUID(str(form["client_id"])))
        if app is None or not app["is_active"]:
            return web.json_response({"error": "invalid_client"}, status=401)
        access, refresh = new_token("mnwd_at_"), new_token("mnwd_rt_")
        async with pool.acquire() as conn, conn.transaction():
            row = await oauth_queries.use_refresh_token(conn, hash_token(str(form["refresh_token"])), app["id"])
            if row is None:
                return web.json_response({"error": "invalid_grant"}, status=400)
            suspended = await conn.fetchval("SELECT suspended_at IS NOT NULL FROM users WHERE id = $1", row["user_id"])
            if suspended is not False:
                return web.json_response({"error": "invalid_grant"}, status=400)
            await oauth_queries.insert_access_token(conn, row["grant_id"], hash_token(access), 3600)
            await oauth_queries.insert_refresh_token(conn, row["grant_id"], hash_token(refresh), 60 * 24 * 3600)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
            "scope": row["scope"],
        }
        return web.Response(
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    return app


async def _token_results(options: Options, stack: SyncStack, addresses: Iterator[str]) -> list[Result]:
    assert stack.app_id is not None
    clients = options.size(TOKEN_CLIENTS, 4)
    per_client = options.size(20, 3)  # below oauth-token:ip's 120 a minute per address
    pool = await asyncpg.create_pool(stack.db_url, min_size=2, max_size=stack.pool.get_max_size())
    try:
        runner, bare_url = await serve(_bare_token_app(pool))
        try:
            mnwd = Refreshes(
                f"{stack.base_url}/oauth/token",
                stack.app_id,
                await _refresh_chains(stack, clients),
                per_client,
                addresses,
            )
            bare = Refreshes(
                f"{bare_url}/oauth/token", stack.app_id, await _refresh_chains(stack, clients), per_client, addresses
            )
            await mnwd()  # warm-up
            await bare()
            measured, baseline = await alternate(options, [mnwd, bare])
        finally:
            await runner.cleanup()
    finally:
        await pool.close()
    return [
        Result(
            f"token endpoint, refresh grant, {clients} clients",
            "req/s",
            measured,
            "bare aiohttp + raw asyncpg, same SQL",
            baseline,
        )
    ]


async def run(options: Options) -> list[Result]:
    addresses = _addresses()
    async with sync_stack(options) as stack:
        return [
            *await _sign_in_results(options, stack, addresses),
            *await _token_results(options, stack, addresses),
        ]
