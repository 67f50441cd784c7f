"""The creator's app pages under /dashboard/apps, driven as a browser."""

from __future__ import annotations

import hashlib
import re
import uuid
from html import unescape

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.apps import get_app_by_api_key
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.sync import REDIRECT, app_form, insert_project, register, shown_key


async def test_a_creator_registers_an_app_and_sees_the_key_once(creator: Browser, pool: asyncpg.Pool) -> None:
    page = await register(creator, name="Notes", slug="notes", redirect_uris=f"{REDIRECT}\r\nhttp://[::1]:7/cb\n")
    assert page.status == 200, page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.has("Copy the API key now")
    client_id, api_key = shown_key(page)

    row = await pool.fetchrow("SELECT * FROM sync_apps")
    assert row["id"] == client_id
    assert row["api_key_hash"] == hashlib.sha256(api_key.encode()).digest()
    assert row["api_key_prefix"] == api_key[:12]
    assert row["redirect_uris"] == [REDIRECT, "http://[::1]:7/cb"]
    assert row["is_active"]
    assert api_key not in await pool.fetchval("SELECT row_to_json(a)::text FROM sync_apps a")
    app = await get_app_by_api_key(pool, api_key)
    assert app is not None
    assert app.id == client_id

    listing = await creator.get("/dashboard/apps")
    assert listing.status == 200
    for shown in ("Notes", "notes", str(client_id), api_key[:12] + "…", "active"):
        assert listing.has(shown), shown
    details = await creator.get(f"/dashboard/apps/{client_id}")
    assert details.status == 200
    assert details.has(api_key[:12] + "…")
    for later in (listing, details):
        assert api_key not in later.text
        assert api_key[:13] not in later.text


async def test_an_admin_may_register_and_others_are_refused(
    browser: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    await make_user("plain")
    await sign_in(browser, "plain")
    listing = await browser.get("/dashboard/apps")
    assert listing.status == 200
    assert listing.has("Only creators can register apps")
    page = await browser.get("/dashboard/apps/new")
    assert page.status == 403
    assert page.has("Only creators can register apps")
    page = await browser.post("/dashboard/apps", {**app_form(), "csrf_token": listing.csrf})
    assert page.status == 403
    assert page.has("Only creators can register apps")
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 0

    await make_user("boss", is_admin=True)
    await sign_in(browser, "boss")
    assert (await register(browser)).status == 200
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 1


async def test_signing_in_comes_first(browser: Browser) -> None:
    page = await browser.get("/dashboard/apps/new", follow=False)
    assert page.status == 303
    assert page.location == "/login?next=/dashboard/apps/new"


ELEVEN = "\n".join(f"https://notes.example/{n}" for n in range(11))


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"slug": "a"}, "slug", "Use 2 to 100 lowercase letters"),
        ({"slug": "-notes"}, "slug", "Use 2 to 100 lowercase letters"),
        ({"slug": "Notes"}, "slug", "Use 2 to 100 lowercase letters"),
        ({"slug": "my notes"}, "slug", "Use 2 to 100 lowercase letters"),
        ({"slug": "n" * 101}, "slug", "Use 2 to 100 lowercase letters"),
        ({"name": "   "}, "name", "Use 1 to 100 characters."),
        ({"name": "n" * 101}, "name", "Use 1 to 100 characters."),
        ({"name": "bell\x07"}, "name", "Use printable characters only."),
        ({"redirect_uris": "http://localhost:8080/cb"}, "redirect_uris", "Use http://127.0.0.1"),
        ({"redirect_uris": "http://example.com/cb"}, "redirect_uris", "only for the loopback addresses"),
        ({"redirect_uris": "javascript:alert(document.cookie)"}, "redirect_uris", "javascript: URIs are not allowed"),
        ({"redirect_uris": "https://notes.example/cb#x"}, "redirect_uris", "Remove the fragment"),
        ({"redirect_uris": ELEVEN}, "redirect_uris", "Use at most 10 redirect URIs."),
        ({"redirect_uris": ""}, "redirect_uris", "Add at least one redirect URI."),
        ({"redirect_uris": "https://x.example/\n" * 20000}, "redirect_uris", "Use at most 10 redirect URIs."),
        ({"project_id": "12"}, "project_id", "There is no such project."),
        ({"project_id": str(uuid.uuid4())}, "project_id", "There is no such project."),
        ({"item_id": str(uuid.uuid4())}, "item_id", "There is no such item."),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    creator: Browser, pool: asyncpg.Pool, overrides: dict[str, str], field: str, message: str
) -> None:
    page = await register(creator, **overrides)
    assert page.status == 422, page.text
    assert page.has("The app was not registered.")
    error = re.search(f'id="{field}-error">([^<]*)</p>', page.text)
    assert error is not None, page.text
    assert message in unescape(error.group(1))
    assert f'aria-describedby="{field}-error"' in page.text
    assert page.has(overrides.get("name", "Notes"))
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 0


async def test_a_taken_slug_is_refused(creator: Browser, pool: asyncpg.Pool) -> None:
    assert (await register(creator)).status == 200
    page = await register(creator, name="Other notes")
    assert page.status == 422
    assert page.has('id="slug-error">This slug is taken.')
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 1


async def test_linking_someone_elses_project_looks_like_no_project(
    creator: Browser, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    maker_id = await pool.fetchval("SELECT id FROM users WHERE username = 'maker'")
    other = await make_user("other", can_create_projects=True)
    theirs = await insert_project(pool, other["id"])
    mine = await insert_project(pool, maker_id)
    page = await register(creator, project_id=str(theirs))
    assert page.status == 422
    assert page.has('id="project_id-error">There is no such project.')
    page = await register(creator, project_id=str(mine))
    assert page.status == 200
    assert await pool.fetchval("SELECT project_id FROM sync_apps") == mine


async def test_rotating_the_key_shows_the_new_one_once(creator: Browser, pool: asyncpg.Pool) -> None:
    client_id, old_key = shown_key(await register(creator))
    page = await creator.submit(f"/dashboard/apps/{client_id}", f"/dashboard/apps/{client_id}/rotate-key", {})
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.has("The old one no longer works")
    same_id, new_key = shown_key(page)
    assert same_id == client_id
    assert new_key != old_key
    assert await get_app_by_api_key(pool, old_key) is None
    app = await get_app_by_api_key(pool, new_key)
    assert app is not None
    assert app.id == client_id
    assert await pool.fetchval("SELECT api_key_prefix FROM sync_apps") == new_key[:12]
    assert new_key not in (await creator.get(f"/dashboard/apps/{client_id}")).text


async def test_deactivate_and_reactivate(creator: Browser, pool: asyncpg.Pool) -> None:
    client_id, api_key = shown_key(await register(creator))
    details = f"/dashboard/apps/{client_id}"
    page = await creator.submit(details, f"{details}/deactivate", {})
    assert page.status == 303
    assert page.location == f"{details}?saved=deactivated"
    assert not await pool.fetchval("SELECT is_active FROM sync_apps")
    page = await creator.get(page.location)
    assert page.has('id="app-status">inactive')
    assert page.has("The app is deactivated")
    assert (await creator.get("/dashboard/apps")).has("inactive")
    assert await get_app_by_api_key(pool, api_key) is None
    page = await creator.submit(details, f"{details}/activate", {})
    assert page.location == f"{details}?saved=activated"
    assert await pool.fetchval("SELECT is_active FROM sync_apps")
    assert await get_app_by_api_key(pool, api_key) is not None


async def test_editing_the_name_and_redirect_uris(creator: Browser, pool: asyncpg.Pool) -> None:
    client_id, _ = shown_key(await register(creator))
    details = f"/dashboard/apps/{client_id}"
    uris = "com.example.notes:/cb\nhttp://127.0.0.1/cb\ncom.example.notes:/cb"
    page = await creator.submit(details, details, {"name": "Notes Pro", "redirect_uris": uris})
    assert page.status == 303
    assert page.location == f"{details}?saved=saved"
    row = await pool.fetchrow("SELECT name, slug, redirect_uris FROM sync_apps")
    assert tuple(row) == ("Notes Pro", "notes", ["com.example.notes:/cb", "http://127.0.0.1/cb"])
    page = await creator.get(page.location)
    assert page.has("The app was saved.")
    assert page.has("com.example.notes:/cb\nhttp://127.0.0.1/cb</textarea>")

    page = await creator.submit(details, details, {"name": "", "redirect_uris": "http://localhost/cb"})
    assert page.status == 422
    assert page.has("The app was not saved.")
    assert page.has('id="name-error">')
    assert page.has('id="redirect_uris-error">http://localhost/cb: Use http://127.0.0.1')
    assert page.has(">http://localhost/cb</textarea>")
    assert await pool.fetchval("SELECT name FROM sync_apps") == "Notes Pro"


async def test_someone_elses_app_is_not_found_on_every_route(
    creator: Browser,
    client: TestClient,  # type: ignore[type-arg]
    aiohttp_client: object,
    make_user: MakeUser,
    pool: asyncpg.Pool,
) -> None:
    """Attack: a creator guesses or learns another creator's client id and posts to its pages."""
    client_id, api_key = shown_key(await register(creator))
    await make_user("mallory", can_create_projects=True, is_admin=True)
    mallory = Browser(await aiohttp_client(client.server))  # type: ignore[operator]
    await sign_in(mallory, "mallory")
    token = (await mallory.get("/dashboard/apps")).csrf
    for app_id in (str(client_id), str(uuid.uuid4()), "not-an-id", "1"):
        base = f"/dashboard/apps/{app_id}"
        assert (await mallory.get(base)).status == 404
        for confirm in (f"{base}/rotate-key", f"{base}/deactivate"):
            assert (await mallory.get(confirm)).status == 404
        for path, data in (
            (base, {"name": "pwned", "redirect_uris": "https://evil.example/cb"}),
            (f"{base}/rotate-key", {}),
            (f"{base}/deactivate", {}),
            (f"{base}/activate", {}),
        ):
            page = await mallory.post(path, {**data, "csrf_token": token})
            assert page.status == 404, (path, page.status)
            assert page.has("There is no such app.") or page.has("There is nothing at this address.")
            assert api_key[:12] not in page.text
    row = await pool.fetchrow("SELECT name, redirect_uris, is_active, api_key_hash FROM sync_apps")
    assert tuple(row) == ("Notes", [REDIRECT], True, hashlib.sha256(api_key.encode()).digest())
    assert not (await mallory.get("/dashboard/apps")).has(str(client_id))


async def test_forms_without_the_csrf_token_are_refused(creator: Browser, pool: asyncpg.Pool) -> None:
    """Attack: a page elsewhere posts to the dashboard from the creator's browser."""
    page = await creator.post("/dashboard/apps", app_form())
    assert page.status == 403
    assert page.has("security token is missing or out of date")
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 0

    client_id, api_key = shown_key(await register(creator))
    base = f"/dashboard/apps/{client_id}"
    for path in (base, f"{base}/rotate-key", f"{base}/deactivate", f"{base}/activate"):
        for data in ({"name": "pwned", "redirect_uris": "https://evil.example/cb"}, {"csrf_token": "forged"}):
            assert (await creator.post(path, data)).status == 403
    row = await pool.fetchrow("SELECT name, is_active, api_key_hash FROM sync_apps")
    assert tuple(row) == ("Notes", True, hashlib.sha256(api_key.encode()).digest())


async def test_rotating_and_deactivating_ask_first_and_the_question_changes_nothing(
    creator: Browser, pool: asyncpg.Pool
) -> None:
    """The app page's buttons lead to a page that asks (a GET, so it works without JavaScript); its button
    posts. Opening the question, or leaving it with Cancel, changes nothing."""
    client_id, api_key = shown_key(await register(creator))
    details = f"/dashboard/apps/{client_id}"
    app_page = await creator.get(details)
    assert app_page.has(f'href="{details}/rotate-key"')
    assert app_page.has(f'href="{details}/deactivate"')
    assert not app_page.has(f'action="{details}/rotate-key"')

    rotate = await creator.get(f"{details}/rotate-key")
    assert rotate.status == 200
    assert rotate.has(f"The current key ({api_key[:12]}…) stops working at once")
    assert rotate.has(f'<form method="post" action="{details}/rotate-key"')
    assert rotate.has(f'href="{details}">Cancel</a>')
    deactivate = await creator.get(f"{details}/deactivate")
    assert deactivate.has("Deactivate Notes?")
    assert deactivate.has(f'<form method="post" action="{details}/deactivate"')
    row = await pool.fetchrow("SELECT is_active, api_key_hash FROM sync_apps")
    assert tuple(row) == (True, hashlib.sha256(api_key.encode()).digest())

    done = await creator.post(f"{details}/deactivate", {"csrf_token": deactivate.csrf})
    assert done.location == f"{details}?saved=deactivated"
    # An inactive app has nothing to deactivate: the question leads back to its page.
    assert (await creator.get(f"{details}/deactivate", follow=False)).location == details


async def test_the_key_page_has_copy_buttons_for_the_client_id_and_the_key(creator: Browser) -> None:
    page = await register(creator)
    shown_key(page)  # the key is on the page once: the buttons point at it
    assert page.has('data-copy-target="client-id"')
    assert page.has('data-copy-target="api-key"')
    assert page.has("/static/copy.js")
