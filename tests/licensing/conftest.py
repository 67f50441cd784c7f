"""Fixtures of the licensing tests: a creator's item with license keys on, purchases written straight into
``transactions`` (as commerce's fulfilment leaves them) and the key its job issues."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.clock import Clock
from mnwd.db.jobs import enqueue
from mnwd.services import Services
from tests.support.accounts import MakeUser
from tests.support.outbound import run_jobs

ISSUE_JOB = "licensing.issue_for_purchase"
Client: TypeAlias = TestClient[web.Request, web.Application]


class MovableClock(Clock):
    """Wall time moved by hand (``advance``); monotonic time stays real."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def time(self) -> float:
        return self.at.timestamp()

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(services: Services) -> MovableClock:
    moved = MovableClock()
    services.clock = moved
    return moved


@dataclass
class Shop:
    services: Services
    creator_id: uuid.UUID
    item_id: uuid.UUID

    async def purchase(self, buyer_id: uuid.UUID, *, item_id: uuid.UUID | None = None) -> uuid.UUID:
        """A completed purchase, as commerce's fulfilment writes it, with the job it enqueues."""
        pool = self.services.pool
        async with pool.acquire() as conn, conn.transaction():
            transaction_id: uuid.UUID = await conn.fetchval(
                """
                INSERT INTO transactions (buyer_id, seller_id, item_id, amount_cents, status, item_title,
                                          seller_username, completed_at)
                VALUES ($1, $2, $3, 500, 'completed', 'App', 'maker', now()) RETURNING id
                """,
                buyer_id,
                self.creator_id,
                item_id or self.item_id,
            )
            await enqueue(conn, ISSUE_JOB, {"transaction_id": str(transaction_id)}, key=str(transaction_id))
        return transaction_id

    async def run_jobs(self) -> None:
        await run_jobs(self.services)

    async def key_of(self, transaction_id: uuid.UUID) -> str:
        """The clear text of the purchase's key (as its buyer's page shows it)."""
        stored = await self.services.pool.fetchval(
            "SELECT key_code FROM license_keys WHERE transaction_id = $1", transaction_id
        )
        assert stored is not None, "no key was issued"
        return self.services.keyring.decrypt("licensing.key", stored)

    async def buy_key(self, buyer_id: uuid.UUID, **policy: Any) -> str:
        if policy:
            await self.set_policy(**policy)
        transaction_id = await self.purchase(buyer_id)
        await self.run_jobs()
        return await self.key_of(transaction_id)

    async def set_policy(self, **columns: Any) -> None:
        names = ", ".join(columns)
        values = ", ".join(f"${n}" for n in range(2, len(columns) + 2))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns)
        await self.services.pool.execute(
            f"INSERT INTO license_policies (item_id, {names}) VALUES ($1, {values}) "
            f"ON CONFLICT (item_id) DO UPDATE SET {updates}",
            self.item_id,
            *columns.values(),
        )


async def make_item(pool: asyncpg.Pool, creator_id: uuid.UUID, slug: str = "app") -> uuid.UUID:
    project_id = await pool.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type, is_public) VALUES ($1, $2, $2, 'software', true) "
        "ON CONFLICT (user_id, slug) DO UPDATE SET title = EXCLUDED.title RETURNING id",
        creator_id,
        "tools",
    )
    item_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO items (project_id, slug, title, item_type, is_public, price_cents, enable_license_keys) "
        "VALUES ($1, $2, 'App', 'download', true, 500, true) RETURNING id",
        project_id,
        slug,
    )
    return item_id


@pytest.fixture
async def shop(services: Services, make_user: MakeUser) -> Shop:
    creator = await make_user("maker", can_create_projects=True)
    return Shop(services, creator["id"], await make_item(services.pool, creator["id"]))


@pytest.fixture
async def buyer_id(make_user: MakeUser) -> uuid.UUID:
    buyer = await make_user("bob")
    return buyer["id"]  # type: ignore[no-any-return]


async def api(client: Client, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    async with client.post(path, json=body, headers=headers) as response:
        doc = (
            await response.json(content_type=None) if response.content_type.endswith("json") else await response.text()
        )
        return response.status, doc


async def validate(client: Client, key: str, **more: object) -> Any:
    status, doc = await api(client, "/api/v1/licenses/validate", {"key": key, **more})
    assert status == 200, doc
    return doc


async def eventually(client: Client, key: str, code: str, **more: object) -> None:
    """Validate until the answer is ``code``: a change made in SQL by hand reaches the daemon's kept
    validations by the NOTIFY of a trigger, a moment after its commit (mnwd/licensing/validations.py)."""
    for _ in range(50):
        if (await validate(client, key, **more))["code"] == code:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"validate never answered {code}")
