"""The buyer's /library/keys over HTTP: the key shown again, its devices, freeing one, swapping the least
recently seen one with a cooldown; nobody else sees or frees them."""

from __future__ import annotations

import re
import uuid

from mnwd.accounts import SIGNUP_HOOKS
from mnwd.config import Config
from mnwd.db.tx import Tx
from mnwd.licensing import issuance, keys, library
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.accounts.test_links import last_link
from tests.licensing.conftest import Client, MovableClock, Shop, api
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs

KEY_TEXT = re.compile(r"[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}")


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


async def test_a_comp_to_an_address_without_an_account_is_theirs_once_they_sign_up_and_verify_it(
    browser: Browser, other_browser: Browser, shop: Shop, services: Services, config: Config
) -> None:
    await sign_in(browser, "maker")
    page = await browser.submit(
        f"/dashboard/store/items/{shop.item_id}/licenses",
        f"/dashboard/store/items/{shop.item_id}/licenses/comps",
        {"email": "New.Person@Example.org"},
    )
    assert page.status == 200, page.text
    [comp] = {m for m in KEY_TEXT.findall(page.text) if keys.normalize_key(m) == m}
    assert await services.pool.fetchval("SELECT owner_id FROM license_keys") is None

    # Someone signs up with that address: it is not proven theirs yet, so the key is not shown.
    signed_up = await other_browser.submit(
        "/signup",
        "/signup",
        {"username": "newbie", "email": "new.person@example.org", "password": PASSWORD, "password_confirm": PASSWORD},
    )
    assert signed_up.status == 303, signed_up.text
    library = await other_browser.get("/library/keys")
    assert library.status == 200
    assert not library.has(comp)
    # A comp issued now, to the address of that unverified account, is not theirs yet either.
    page = await browser.submit(
        f"/dashboard/store/items/{shop.item_id}/licenses",
        f"/dashboard/store/items/{shop.item_id}/licenses/comps",
        {"email": "new.person@example.org"},
    )
    [second] = {m for m in KEY_TEXT.findall(page.text) if keys.normalize_key(m) == m}
    assert not (await other_browser.get("/library/keys")).has(second)
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys WHERE owner_id IS NULL") == 2

    # The mailbox's owner follows the verification link: the key is theirs.
    await run_jobs(services)
    [mail] = [
        m
        for m in read_outbox(config.data_dir / "outbox")
        if m["To"] == "new.person@example.org" and "gave you a license key" not in m["Subject"]
    ]
    link = next(line for line in mail.get_body().get_content().splitlines() if "/verify-email/" in line)  # type: ignore[union-attr]
    path = link.strip().removeprefix(config.base_url.rstrip("/"))
    confirm = await other_browser.get(path)
    assert (await other_browser.post(path, {"csrf_token": confirm.csrf})).status == 200
    library = await other_browser.get("/library/keys")
    assert library.has(comp)
    assert library.has(second)
    newbie = await services.pool.fetchval("SELECT id FROM users WHERE username = 'newbie'")
    assert await services.pool.fetch("SELECT DISTINCT owner_id FROM license_keys") == [(newbie,)]

    # It stays theirs: the maker's own library does not show it.
    assert not (await browser.get("/library/keys")).has(comp)


async def test_a_verified_account_signing_up_gets_its_comps_at_once(services: Services, shop: Shop) -> None:
    """The sign-up hook: an account made with its address already verified claims in the sign-up transaction."""
    text, _ = await issuance.issue_comp(services, shop.creator_id, shop.item_id, email="ada@example.org")
    async with services.pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(
            "INSERT INTO users (username, email, email_verified) VALUES ('ada', 'ADA@example.org', true) RETURNING id"
        )
        for hook in services[SIGNUP_HOOKS]:
            await hook(Tx(conn), user_id, {})
    assert await services.pool.fetchval("SELECT owner_id FROM license_keys") == user_id
    assert [k.text for k in await library.list_owned_keys(services, user_id)] == [text]


async def test_a_comp_becomes_theirs_when_they_change_to_its_address(
    browser: Browser, make_user: MakeUser, shop: Shop, services: Services, config: Config
) -> None:
    await make_user("carol", email_verified=True)
    text, _ = await issuance.issue_comp(services, shop.creator_id, shop.item_id, email="Carol@New.example")
    await sign_in(browser, "carol")
    assert not (await browser.get("/library/keys")).has(text)
    page = await browser.submit("/settings/email", "/settings/email", {"email": "carol@new.example"})
    assert page.status == 200, page.text
    path = await last_link(services, config, "/settings/email/confirm/")
    confirm = await browser.get(path)
    assert (await browser.post(path, {"csrf_token": confirm.csrf})).status == 200
    library = await browser.get("/library/keys")
    assert library.has(text)
    carol = await services.pool.fetchval("SELECT id FROM users WHERE username = 'carol'")
    assert await services.pool.fetchval("SELECT owner_id FROM license_keys") == carol
