"""``GET|PUT /sync/v1/keys``: the wrapped key per (app, user), replaced only by compare-and-set on its version."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, register_app
from tests.sync.tokens import sync_token

KEYS = "/sync/v1/keys"
PROBLEM = "https://mnwd.dev/problems/"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put_body(expected: int | None, version: int, key: str = "wrapped-key-v1") -> dict[str, Any]:
    return {"expected_version": expected, "key_version": version, "encrypted_key": key}


@pytest.fixture
async def alice_token(client: TestClient, alice: Browser, notes_app: RegisteredApp) -> str:  # type: ignore[type-arg]
    return await sync_token(client, alice, notes_app)


async def put(client: TestClient, token: str, body: Any) -> tuple[int, dict[str, Any]]:  # type: ignore[type-arg]
    response = await client.put(KEYS, json=body, headers=auth(token))
    return response.status, await response.json()


async def get(client: TestClient, token: str) -> tuple[int, dict[str, Any]]:  # type: ignore[type-arg]
    response = await client.get(KEYS, headers=auth(token))
    return response.status, await response.json()


async def test_create_read_and_rotate_the_key(client: TestClient, alice_token: str, pool: asyncpg.Pool) -> None:  # type: ignore[type-arg]
    response = await client.get(KEYS, headers=auth(alice_token))
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert (await response.json())["type"] == PROBLEM + "not-found"

    created = await client.put(KEYS, json=put_body(None, 1, "AAAA+/=="), headers=auth(alice_token))
    assert created.status == 201, await created.text()
    assert created.headers["Cache-Control"] == "no-store"
    body = await created.json()
    assert body["key_version"] == 1
    assert body["encrypted_key"] == "AAAA+/=="
    assert body["updated_at"].endswith("Z")

    read = await client.get(KEYS, headers=auth(alice_token))
    assert read.status == 200
    assert read.headers["Cache-Control"] == "no-store"
    assert await read.json() == body

    status, rotated = await put(client, alice_token, put_body(1, 2, "wrapped-key-v2"))
    assert status == 200
    assert (rotated["key_version"], rotated["encrypted_key"]) == (2, "wrapped-key-v2")
    assert rotated["updated_at"] >= body["updated_at"]
    status, skipped = await put(client, alice_token, put_body(2, 7, "wrapped-key-v7"))
    assert status == 200, "versions may jump, they only have to go up"
    assert skipped["key_version"] == 7
    assert await get(client, alice_token) == (200, skipped)
    assert await pool.fetchval("SELECT count(*) FROM sync_keys") == 1


async def test_a_stale_expected_version_is_a_conflict(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    assert (await put(client, alice_token, put_body(None, 1)))[0] == 201
    assert (await put(client, alice_token, put_body(1, 2, "from-the-laptop")))[0] == 200

    status, problem = await put(client, alice_token, put_body(1, 2, "from-the-phone"))
    assert status == 409
    assert problem["type"] == PROBLEM + "key-version-conflict"
    assert problem["current_version"] == 2
    assert problem["expected_version"] == 1
    assert "another device" in problem["detail"]

    status, problem = await put(client, alice_token, put_body(None, 1, "a second first key"))
    assert status == 409
    assert problem["current_version"] == 2
    assert (await get(client, alice_token))[1]["encrypted_key"] == "from-the-laptop"


async def test_replacing_a_key_that_does_not_exist_is_a_conflict(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    status, problem = await put(client, alice_token, put_body(3, 4))
    assert status == 409
    assert problem["type"] == PROBLEM + "key-version-conflict"
    assert problem["current_version"] is None
    assert (await get(client, alice_token))[0] == 404


async def test_a_retried_write_that_landed_answers_as_it_did(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    """The answer to a successful PUT was lost; the device sends the same PUT again."""
    assert (await put(client, alice_token, put_body(None, 1, "k1")))[0] == 201
    status, again = await put(client, alice_token, put_body(None, 1, "k1"))
    assert status == 200
    assert (again["key_version"], again["encrypted_key"]) == (1, "k1")
    assert (await put(client, alice_token, put_body(1, 2, "k2")))[0] == 200
    status, again = await put(client, alice_token, put_body(1, 2, "k2"))
    assert status == 200
    assert again["key_version"] == 2
    status, _ = await put(client, alice_token, put_body(1, 2, "another k2"))
    assert status == 409, "the same version with another key is somebody else's rotation"


@pytest.mark.parametrize("expected", [None, 1])
async def test_of_concurrent_writes_from_one_version_exactly_one_wins(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    expected: int | None,
) -> None:
    if expected is not None:
        assert (await put(client, alice_token, put_body(None, expected, "k0")))[0] == 201
    new_version = (expected or 0) + 1
    answers = await asyncio.gather(
        *(put(client, alice_token, put_body(expected, new_version, f"device-{n}")) for n in range(8))
    )
    winners = [body for status, body in answers if status in (200, 201)]
    losers = [body for status, body in answers if status == 409]
    assert len(winners) == 1, answers
    assert len(losers) == 7, answers
    assert all(p["type"] == PROBLEM + "key-version-conflict" for p in losers)
    assert all(p["current_version"] == new_version for p in losers)
    assert (await get(client, alice_token))[1]["encrypted_key"] == winners[0]["encrypted_key"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (put_body(1, 1), "key_version"),
        (put_body(4, 2), "key_version"),
        (put_body(None, 0), "key_version"),
        (put_body(None, -1), "key_version"),
        (put_body(None, 2**31), "key_version"),
        (put_body(0, 1), "expected_version"),
        (put_body(None, 1, ""), "encrypted_key"),
        (put_body(None, 1, "k" * 16385), "encrypted_key"),
        (put_body(None, 1, "nul\x00inside"), "encrypted_key"),
        ({"key_version": 1, "encrypted_key": "k"}, "$"),
        ({**put_body(None, 1), "user_id": "00000000-0000-0000-0000-000000000000"}, "$"),
        (put_body(None, "1"), "key_version"),  # type: ignore[arg-type]
    ],
)
async def test_bad_bodies_are_422_and_store_nothing(
    client: TestClient,  # type: ignore[type-arg]
    alice_token: str,
    pool: asyncpg.Pool,
    body: dict[str, Any],
    field: str,
) -> None:
    if body.get("expected_version") is not None:
        assert (await put(client, alice_token, put_body(None, 1, "k1")))[0] == 201
    status, problem = await put(client, alice_token, body)
    assert status == 422, problem
    assert problem["type"] == PROBLEM + "validation-failed"
    assert problem["errors"][0]["field"] == field
    assert await pool.fetchval("SELECT count(*) FROM sync_keys WHERE encrypted_key <> 'k1'") == 0


async def test_a_key_at_the_size_limit_is_stored(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    key = "é" * 16384  # characters, not bytes
    status, body = await put(client, alice_token, put_body(None, 1, key))
    assert status == 201
    assert body["encrypted_key"] == key


async def test_bodies_that_are_not_json(client: TestClient, alice_token: str) -> None:  # type: ignore[type-arg]
    response = await client.put(
        KEYS, data=b"{not json", headers={**auth(alice_token), "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["type"] == PROBLEM + "malformed-json"
    response = await client.put(KEYS, data=b"key=1", headers={**auth(alice_token), "Content-Type": "text/plain"})
    assert response.status == 415


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("authorization", [None, "Bearer mnwd_at_not-a-token", "Basic YWxpY2U6eA=="])
async def test_every_keys_endpoint_needs_a_token(
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
    method: str,
    authorization: str | None,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.request(method, KEYS, json=put_body(None, 1), headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await pool.fetchval("SELECT count(*) FROM sync_keys") == 0


async def test_keys_of_other_users_and_apps_are_never_visible(
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: Any,
    make_user: MakeUser,
    notes_app: RegisteredApp,
    alice: Browser,
    alice_token: str,
    pool: asyncpg.Pool,
) -> None:
    """Bob, and Alice herself in another app, try to read and overwrite Alice's notes key.

    Nothing in the request names a stream: it is the token's (app, user), so there is nothing to tamper with;
    the version Bob guesses must not tell him whether Alice has a key either.
    """
    await make_user("bob")
    bob_browser = Browser(await aiohttp_client(client.server))
    await sign_in(bob_browser, "bob")
    bob = await sync_token(client, bob_browser, notes_app)
    maker_id = await pool.fetchval("SELECT id FROM users WHERE username = 'maker'")
    diary = await register_app(pool, maker_id, "diary")
    alice_diary = await sync_token(client, alice, diary)

    assert (await put(client, alice_token, put_body(None, 1, "alice-notes-key")))[0] == 201
    for token in (bob, alice_diary):
        status, problem = await get(client, token)
        assert status == 404
        assert "alice-notes-key" not in str(problem)
        status, problem = await put(client, token, put_body(1, 2, "overwrite"))
        assert status == 409
        assert problem["current_version"] is None

    assert (await put(client, bob, put_body(None, 5, "bob-notes-key")))[0] == 201
    assert (await put(client, alice_diary, put_body(None, 1, "alice-diary-key")))[0] == 201
    assert (await get(client, alice_token))[1]["encrypted_key"] == "alice-notes-key"
    assert (await get(client, bob))[1]["encrypted_key"] == "bob-notes-key"
    assert (await get(client, alice_diary))[1]["encrypted_key"] == "alice-diary-key"
    stored = await pool.fetch(
        """
        SELECT a.slug, u.username, k.key_version, k.encrypted_key FROM sync_keys k
        JOIN sync_apps a ON a.id = k.app_id JOIN users u ON u.id = k.user_id ORDER BY 1, 2
        """
    )
    assert [tuple(r) for r in stored] == [
        ("diary", "alice", 1, "alice-diary-key"),
        ("notes", "alice", 1, "alice-notes-key"),
        ("notes", "bob", 5, "bob-notes-key"),
    ]
