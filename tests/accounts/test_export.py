"""The data export: the account's own rows as JSON, without secrets, without anyone else's rows."""

from __future__ import annotations

import json
import re

import asyncpg

from tests.accounts.test_deletion import add_device
from tests.accounts.test_reauth import make_stale
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import register_app


async def test_the_export_holds_my_rows_and_no_secret_and_nobody_elses(
    browser: Browser, other_browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    alice = await make_user("alice", email_verified=True)
    bob = await make_user("bob", email="bob-secret-address@example.org")
    app = await register_app(pool, alice["id"], "notes")
    await add_device(pool, app.id, alice["id"], "alice-phone")
    bobs_app = await register_app(pool, bob["id"], "bobs-todo")
    await add_device(pool, bobs_app.id, bob["id"], "bob-phone")
    await add_device(pool, app.id, bob["id"], "bob-tablet")
    await pool.execute(
        "INSERT INTO user_passkeys (user_id, credential_id, credential_json, name)"
        " VALUES ($1, '\\x0102', $2, 'Laptop')",
        alice["id"],
        {"public_key": "PUBLIC-KEY-MATERIAL", "transports": ["usb"], "device_type": "single_device"},
    )
    await pool.execute(
        "UPDATE users SET totp_secret = 'TOTP-CIPHERTEXT', stripe_customer_id = 'cus_SECRET' WHERE id = $1",
        alice["id"],
    )
    other = other_browser
    await sign_in(browser, "alice")
    cookie = browser.cookie("mnwd_session")

    async with browser.client.get("/settings/export", headers=browser.headers) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert re.fullmatch(
            r'attachment; filename="mnwd-alice-\d{4}-\d\d-\d\d\.json"', response.headers["Content-Disposition"]
        )
        assert response.headers["Cache-Control"] == "no-store"
        raw = await response.text()
    data = json.loads(raw)

    assert data["user"]["username"] == "alice"
    assert data["user"]["email"] == "alice@example.org"
    assert data["user"]["has_password"] is True
    assert [s["signed_in_by"] for s in data["sessions"]] == ["password"]
    assert [(p["name"], p["transports"]) for p in data["passkeys"]] == [("Laptop", ["usb"])]
    assert [a["slug"] for a in data["apps"]] == ["notes"]
    assert sorted(d["device_name"] for d in data["devices"]) == ["alice-phone"]
    assert [g["app_slug"] for g in data["grants"]] == ["notes"]
    assert [(s["app_slug"], s["changes"], s["blobs"]) for s in data["sync_streams"]] == [("notes", 1, 1)]

    # No secret, no hash, nothing of bob's (his device in alice's app included).
    password_hash = await pool.fetchval("SELECT password_hash FROM users WHERE id = $1", alice["id"])
    token_hashes = await pool.fetch("SELECT encode(token_hash, 'hex') AS h FROM user_sessions")
    for secret in [
        PASSWORD,
        password_hash,
        "$argon2",
        "TOTP-CIPHERTEXT",
        "cus_SECRET",
        "PUBLIC-KEY-MATERIAL",
        app.api_key,
        app.api_key[:12],
        cookie,
        *(row["h"] for row in token_hashes),
        "bob",
        str(bob["id"]),
        str(bobs_app.id),
    ]:
        assert secret, secret
        assert secret not in raw, secret
    for key in ("password_hash", "totp_secret", "token_hash", "api_key_hash", "ota_secret_key", "credential_json"):
        assert f'"{key}"' not in raw

    assert (await other.get("/settings/export", follow=False)).location == "/login?next=/settings/export"


async def test_the_export_asks_for_a_recent_authentication(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    await make_stale(pool)
    page = await browser.get("/settings/export", follow=False)
    assert page.location == "/settings/confirm?next=/settings/export"
