"""The buyer's /library/keys over HTTP: the key shown again, its devices, freeing one, swapping the least
recently seen one with a cooldown; nobody else sees or frees them."""

from __future__ import annotations

import uuid

from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser


async def activate(client: Client, key: str, fingerprint: str, name: str) -> str:
    status, doc = await api(
        client, "/api/v1/licenses/activate", {"key": key, "fingerprint": fingerprint, "name": name, "platform": "linux"}
    )
    assert status == 201, doc
    return str(doc["activation_id"])


async def test_the_buyer_sees_their_key_and_devices(
    browser: Browser, client: Client, shop: Shop, buyer_id: uuid.UUID
) -> None:
    key = await shop.buy_key(buyer_id)
    await activate(client, key, "one", "<b>Bob's</b> laptop")
    await sign_in(browser, "bob")
    page = await browser.get("/library/keys")
    assert page.status == 200
    assert page.has(key)
    assert page.has("<b>Bob's</b> laptop")
    assert "<b>Bob" not in page.text, "device names are escaped"
    assert page.has("1 of 3 devices in use")
    assert page.has("linux")
    assert page.has('href="/library"')


async def test_signed_out_visitors_are_sent_to_sign_in(browser: Browser) -> None:
    page = await browser.get("/library/keys", follow=False)
    assert page.status in (302, 303)
    assert page.location is not None
    assert page.location.startswith("/login")


async def test_deactivate_and_swap_with_a_cooldown(
    browser: Browser, client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, clock: MovableClock
) -> None:
    key = await shop.buy_key(buyer_id, max_activations=2)
    first = await activate(client, key, "one", "Old PC")
    clock.advance(60)
    second = await activate(client, key, "two", "Laptop")
    key_id = await services.pool.fetchval("SELECT id FROM license_keys")
    await sign_in(browser, "bob")

    clock.advance(120)
    page = await browser.submit("/library/keys", f"/library/keys/{key_id}/swap", {})
    assert page.status == 303, page.text
    remaining = await services.pool.fetch("SELECT id FROM license_activations")
    assert [str(r["id"]) for r in remaining] == [second], "the least recently seen device (Old PC) went"
    assert page.location is not None
    page = await browser.get(page.location)
    assert page.has("least recently seen device was deactivated")

    third = await activate(client, key, "three", "New PC")
    page = await browser.submit("/library/keys", f"/library/keys/{key_id}/swap", {})
    assert page.status == 429
    assert int(page.headers["Retry-After"]) > 3600
    assert await services.pool.fetchval("SELECT count(*) FROM license_activations") == 2
    clock.advance(86401)
    page = await browser.submit("/library/keys", f"/library/keys/{key_id}/swap", {})
    assert page.status == 303

    remaining = await services.pool.fetch("SELECT id FROM license_activations")
    assert [str(r["id"]) for r in remaining] == [third]

    for gone in (first, second):
        page = await browser.submit("/library/keys", f"/library/keys/{key_id}/activations/{gone}/deactivate", {})
        assert page.status == 404
    page = await browser.submit("/library/keys", f"/library/keys/{key_id}/activations/{third}/deactivate", {})
    assert page.status == 303
    assert await services.pool.fetchval("SELECT activation_count FROM license_keys") == 0
    page = await browser.submit("/library/keys", f"/library/keys/{key_id}/swap", {})
    assert page.status == 409, "nothing to swap"


async def test_another_buyer_cannot_see_or_free_my_devices(
    browser: Browser, client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, make_user: MakeUser
) -> None:
    key = await shop.buy_key(buyer_id)
    activation_id = await activate(client, key, "one", "Bob's laptop")
    key_id = await services.pool.fetchval("SELECT id FROM license_keys")
    await make_user("carol")
    await sign_in(browser, "carol")
    page = await browser.get("/library/keys")
    assert page.status == 200
    assert not page.has(key)
    assert not page.has("Bob's laptop")
    for action in (f"/library/keys/{key_id}/activations/{activation_id}/deactivate", f"/library/keys/{key_id}/swap"):
        page = await browser.submit("/library/keys", action, {})
        assert page.status == 404, action
    for junk in ("/library/keys/not-a-uuid/swap", f"/library/keys/{key_id}/activations/../swap"):
        page = await browser.submit("/library/keys", junk, {})
        assert page.status == 404, junk
    assert await services.pool.fetchval("SELECT count(*) FROM license_activations") == 1
    page = await browser.post(f"/library/keys/{key_id}/swap", {})
    assert page.status == 403, "no CSRF token"
