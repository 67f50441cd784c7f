"""Remembered access-token checks: they save the query, and never outlive a revocation."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

import mnwd.clock
from mnwd.oauth import Bearer
from mnwd.oauth.bearer_cache import BEARERS, BearerCache
from mnwd.services import Services
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, me, tokens_for
from tests.support.queries import QueryCount


def _bearer(expires_in: float = 3600) -> Bearer:
    return Bearer(
        user_id=uuid.uuid4(),
        username="alice",
        display_name=None,
        app_id=uuid.uuid4(),
        app_name="Notes",
        grant_id=uuid.uuid4(),
        device_id=None,
        scope=frozenset({"sync"}),
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )


def test_the_cache_keeps_only_what_it_may() -> None:
    cache = BearerCache(60, max_entries=2)
    bearer = _bearer()
    cache.put(b"a", bearer, cache.generation)
    assert cache.get(b"a") is None, "nothing is kept before the LISTEN connection is up"
    cache.listening(True)
    cache.put(b"a", bearer, cache.generation)
    assert cache.get(b"a") is bearer
    started = cache.generation
    cache.forget_all()
    assert cache.get(b"a") is None
    cache.put(b"a", bearer, started)
    assert cache.get(b"a") is None, "a check begun before a forget is not stored after it"
    cache.put(b"b", _bearer(expires_in=-1), cache.generation)
    assert cache.get(b"b") is None, "an expired token is never served"
    for key in (b"c", b"d", b"e"):
        cache.put(key, bearer, cache.generation)
    assert len(cache) == 2
    assert cache.get(b"c") is None
    assert cache.get(b"e") is bearer
    cache.listening(False)
    assert cache.get(b"e") is None
    off = BearerCache(0)
    off.listening(True)
    off.put(b"a", bearer, off.generation)
    assert off.get(b"a") is None


def test_entries_age_out_spread_over_the_second_half_of_the_lifetime() -> None:
    """2,000 event streams opened together must not all check their tokens again in the same second."""

    class Clock(mnwd.clock.Clock):
        at = 0.0

        def monotonic(self) -> float:
            return self.at

    clock = Clock()
    cache = BearerCache(60, clock=clock)
    cache.listening(True)
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(2000)]
    for token_hash in hashes:
        cache.put(token_hash, _bearer(), cache.generation)
    aged_out_by_second = []
    for second in range(61):
        clock.at = second + 0.5
        aged_out_by_second.append(sum(cache.get(h) is None for h in hashes))
    assert aged_out_by_second[29] == 0, "kept for at least half the lifetime"
    assert aged_out_by_second[60] == 2000, "never past the lifetime"
    per_second = [b - a for a, b in itertools.pairwise(aged_out_by_second)]
    assert max(per_second) < 2000 / 30 * 1.6, per_second


async def test_a_remembered_token_needs_no_database_connection(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    services: Services,
) -> None:
    access = (await tokens_for(alice, client, notes_app))["access_token"]
    assert (await me(client, access)).status == 200
    # Hold every connection of the pool: a request that needed one would wait.
    held = [await services.pool.acquire() for _ in range(services.pool.get_max_size())]
    try:
        answer = await asyncio.wait_for(me(client, access), 2)
        assert answer.status == 200
        assert (await answer.json())["user"]["username"] == "alice"
    finally:
        for conn in held:
            await services.pool.release(conn)


async def _refused_within(client: TestClient, access: str, seconds: float) -> str:  # type: ignore[type-arg]
    deadline = time.monotonic() + seconds
    while True:
        response = await me(client, access)
        if response.status == 401:
            detail: str = (await response.json())["detail"]
            return detail
        assert time.monotonic() < deadline, "the remembered token was still accepted"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ("UPDATE oauth_access_tokens SET revoked_at = now()", "The access token was revoked."),
        ("UPDATE oauth_grants SET revoked_at = now()", "The access token was revoked."),
        ("UPDATE users SET suspended_at = now() WHERE username = 'alice'", "The account of this token is suspended."),
        ("UPDATE sync_apps SET is_active = false", "The app of this token is deactivated."),
        ("DELETE FROM oauth_access_tokens", "The access token is not valid."),
    ],
)
async def test_a_change_made_elsewhere_is_seen_on_commit(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    db_url: str,
    change: str,
    detail: str,
) -> None:
    """As if another daemon (or `mnwd user suspend`) made the change: only the notification reaches us."""
    access = (await tokens_for(alice, client, notes_app))["access_token"]
    assert (await me(client, access)).status == 200
    other = await asyncpg.connect(db_url)
    try:
        await other.execute(change)
    finally:
        await other.close()
    assert await _refused_within(client, access, 2) == detail


async def test_revoking_through_this_daemon_applies_before_it_answers(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
) -> None:
    tokens = await tokens_for(alice, client, notes_app)
    assert (await me(client, tokens["access_token"])).status == 200
    revoked = await client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token", "client_id": str(notes_app.id)},
    )
    assert revoked.status == 200
    assert (await me(client, tokens["access_token"])).status == 401


async def test_a_lost_listen_connection_forgets_everything_until_it_is_back(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = (await tokens_for(alice, client, notes_app))["access_token"]
    assert (await me(client, access)).status == 200
    assert len(services[BEARERS]) == 1
    seen: list[tuple[bool, int]] = []
    listening = services[BEARERS].listening

    def record(up: bool) -> None:
        listening(up)
        seen.append((up, len(services[BEARERS])))

    monkeypatch.setattr(services[BEARERS], "listening", record)
    await services.pool.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'mnwd-listen' AND datname = current_database()"
    )
    deadline = time.monotonic() + 10
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"the connection was not lost and restored: {seen}"
        await asyncio.sleep(0.01)
    assert seen == [(False, 0), (True, 0)]
    assert (await me(client, access)).status == 200
    assert len(services[BEARERS]) == 1


async def test_a_bearer_is_checked_in_one_statement_then_remembered(
    alice: Browser,
    client: TestClient,  # type: ignore[type-arg]
    notes_app: RegisteredApp,
    query_count: QueryCount,
) -> None:
    access = (await tokens_for(alice, client, notes_app))["access_token"]
    for expected in (1, 0, 0):
        async with query_count() as statements:
            answer = await me(client, access)
        assert answer.status == 200
        assert len(statements) == expected, statements
