"""The creator's license pages and comps API over HTTP: the policy form, comps, bulk CSV, search, suspend,
revoke (with confirmation), reset and extend; another creator gets "not found" everywhere."""

from __future__ import annotations

import csv
import io
import uuid

from mnwd.accounts.personal_tokens import create_token
from mnwd.licensing import keys
from mnwd.services import Services
from tests.licensing.conftest import Client, Shop, api, make_item
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


def page_of(shop: Shop) -> str:
    return f"/dashboard/store/items/{shop.item_id}/licenses"


async def test_the_policy_form_saves_and_shows_mistakes(browser: Browser, shop: Shop, services: Services) -> None:
    await sign_in(browser, "maker")
    index = await browser.get("/dashboard/licenses")
    assert index.status == 200
    assert index.has(page_of(shop))
    page = await browser.submit(
        page_of(shop),
        f"{page_of(shop)}/policy",
        {
            "enabled": "on",
            "max_activations": "5",
            "expiry": "duration",
            "duration_days": "365",
            "floating": "on",
            "heartbeat_minutes": "15",
            "entitlements": "pro, cloud Pro",
            "updates_days": "",
        },
    )
    assert page.status == 303, page.text
    row = await services.pool.fetchrow("SELECT * FROM license_policies WHERE item_id = $1", shop.item_id)
    assert (row["max_activations"], row["expiry"], row["duration_days"]) == (5, "duration", 365)
    assert (row["floating"], row["heartbeat_seconds"], row["entitlements"]) == (True, 900, ["pro", "cloud"])
    assert await services.pool.fetchval("SELECT license_max_activations FROM items WHERE id = $1", shop.item_id) == 5
    page = await browser.get(page.location or "")
    assert page.has("The license policy was saved")

    page = await browser.submit(
        page_of(shop),
        f"{page_of(shop)}/policy",
        {"expiry": "fixed", "expires_at": "2001-01-01", "max_activations": "0", "entitlements": "<b>x</b>"},
    )
    assert page.status == 422
    assert page.has("A date in the future")
    assert page.has("A whole number from 1 to 10000")
    assert "<b>x</b>" not in page.text
    assert await services.pool.fetchval("SELECT expiry FROM license_policies") == "duration", "nothing written"


async def test_comps_bulk_search_and_key_actions(
    browser: Browser, client: Client, shop: Shop, services: Services, make_user: MakeUser
) -> None:
    await make_user("friend", email_verified=True)
    await sign_in(browser, "maker")
    page = await browser.submit(
        page_of(shop), f"{page_of(shop)}/comps", {"email": "FRIEND@example.org", "max_activations": "2"}
    )
    assert page.status == 200, page.text
    comp = next(t for t in page.text.split(">") if keys.normalize_key(t.split("<")[0]) is not None).split("<")[0]
    row = await services.pool.fetchrow("SELECT * FROM license_keys WHERE key_hash = $1", keys.key_hash(comp))
    friend = await services.pool.fetchval("SELECT id FROM users WHERE username = 'friend'")
    assert (row["owner_id"], row["max_activations"], row["source"]) == (friend, 2, "comp")

    async with browser.client.post(
        f"{page_of(shop)}/bulk",
        data={"count": "25", "csrf_token": (await browser.get(page_of(shop))).csrf},
        headers=browser.headers,
    ) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == ["key"]
    assert len(rows) == 26
    assert all(keys.normalize_key(r[0]) == r[0] for r in rows[1:])
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys WHERE source = 'bulk'") == 25
    for count in ("0", "1001", "many", ""):
        page = await browser.submit(page_of(shop), f"{page_of(shop)}/bulk", {"count": count})
        assert page.status == 422, count
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 26

    page = await browser.get(f"{page_of(shop)}?q={comp[-5:]}")
    assert page.has(f"…-{comp[-5:]}")
    assert page.text.count('class="license-key"') == 1
    page = await browser.get(f"{page_of(shop)}?q=friend")
    assert page.text.count('class="license-key"') == 1
    assert comp not in page.text, "the list shows only the last group"

    key_id = row["id"]
    await api(client, "/api/v1/licenses/activate", {"key": comp, "fingerprint": "a"})
    base = f"{page_of(shop)}/keys/{key_id}"
    assert (await browser.submit(page_of(shop), f"{base}/suspend", {})).status == 303
    assert (await api(client, "/api/v1/licenses/validate", {"key": comp}))[1]["code"] == "SUSPENDED"
    assert (await browser.submit(page_of(shop), f"{base}/reinstate", {})).status == 303
    assert (await api(client, "/api/v1/licenses/validate", {"key": comp}))[1]["code"] == "VALID"
    confirm = await browser.get(f"{base}/reset")
    assert confirm.status == 200
    assert confirm.has("Deactivate every device of this key?")
    assert (await browser.post(f"{base}/reset", {"csrf_token": confirm.csrf})).status == 303
    assert await services.pool.fetchval("SELECT activation_count FROM license_keys WHERE id = $1", key_id) == 0
    page = await browser.submit(page_of(shop), f"{base}/extend", {"expires_at": "2099-12-31", "max_activations": "9"})
    assert page.status == 303
    terms = await services.pool.fetchrow("SELECT expires_at, max_activations FROM license_keys WHERE id = $1", key_id)
    assert terms["max_activations"] == 9
    assert terms["expires_at"].year == 2099
    page = await browser.submit(page_of(shop), f"{base}/extend", {"expires_at": "soon", "max_activations": "0"})
    assert page.status == 422
    confirm = await browser.get(f"{base}/revoke")
    assert confirm.has("Revoke this license key?")
    assert (await browser.post(f"{base}/revoke", {"csrf_token": confirm.csrf})).status == 303
    assert (await api(client, "/api/v1/licenses/validate", {"key": comp}))[1]["code"] == "REVOKED"
    assert (await browser.submit(page_of(shop), f"{base}/explode", {})).status == 404


async def test_another_creator_gets_not_found(
    browser: Browser, shop: Shop, buyer_id: uuid.UUID, services: Services, make_user: MakeUser
) -> None:
    await shop.buy_key(buyer_id)
    key_id = await services.pool.fetchval("SELECT id FROM license_keys")
    rival = await make_user("rival", can_create_projects=True)
    own_item = await make_item(services.pool, rival["id"], "rival-app")
    await sign_in(browser, "rival")
    assert (await browser.get(page_of(shop))).status == 404
    assert not (await browser.get("/dashboard/licenses")).has(str(shop.item_id))
    token = (await browser.get(f"/dashboard/store/items/{own_item}/licenses")).csrf
    for action in (
        "policy",
        "comps",
        "bulk",
        f"keys/{key_id}/suspend",
        f"keys/{key_id}/revoke",
        f"keys/{key_id}/extend",
    ):
        page = await browser.post(f"{page_of(shop)}/{action}", {"csrf_token": token, "count": "3", "expiry": "none"})
        assert page.status == 404, action
    own_page = f"/dashboard/store/items/{own_item}/licenses"
    for action in (f"keys/{key_id}/suspend", f"keys/{key_id}/revoke", f"keys/{key_id}/reset"):
        page = await browser.post(f"{own_page}/{action}", {"csrf_token": token})
        assert page.status == 404, "a key of another creator's item through one's own item"
    assert await services.pool.fetchval("SELECT status FROM license_keys") == "active"
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 1
    assert await services.pool.fetchval("SELECT count(*) FROM license_policies") == 0


async def test_comps_in_the_json_api(client: Client, shop: Shop, services: Services, make_user: MakeUser) -> None:
    issued = await create_token(services, shop.creator_id, name="ci", scopes=["licenses:write"], expires_days=None)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    path = f"/api/v1/items/{shop.item_id}/licenses"
    status, doc = await api(client, path, {"max_activations": 1, "expires_at": "2099-01-01T00:00:00Z"}, **headers)
    assert status == 201, doc
    assert keys.normalize_key(doc["key"]) == doc["key"]
    assert doc["license"]["max_activations"] == 1
    assert doc["license"]["expires_at"].startswith("2099-01-01")
    assert (await api(client, "/api/v1/licenses/validate", {"key": doc["key"]}))[1]["code"] == "VALID"
    status, doc = await api(client, path, {}, **headers)
    assert (status, doc["license"]["max_activations"]) == (201, 3)
    status, doc = await api(client, path, {"max_activations": None}, **headers)
    assert (status, doc["license"]["max_activations"]) == (201, None)
    for bad in ({"max_activations": 0}, {"expires_at": "2001-01-01T00:00:00Z"}, {"email": "no"}, {"color": "red"}):
        status, doc = await api(client, path, bad, **headers)
        assert status == 422, (bad, doc)

    rival = await make_user("rival", can_create_projects=True)
    other = await create_token(services, rival["id"], name="ci", scopes=["licenses:write"], expires_days=None)
    status, _ = await api(client, path, {}, Authorization=f"Bearer {other.secret}")
    assert status == 404
    status, _ = await api(client, f"/api/v1/items/{uuid.uuid4()}/licenses", {}, **headers)
    assert status == 404
    status, _ = await api(client, "/api/v1/items/not-an-id/licenses", {}, **headers)
    assert status == 404
    weak = await create_token(services, shop.creator_id, name="ro", scopes=["store:read"], expires_days=None)
    status, doc = await api(client, path, {}, Authorization=f"Bearer {weak.secret}")
    assert (status, doc["type"].rsplit("/", 1)[-1]) == (403, "insufficient-scope")
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 3
