"""Mailing lists over HTTP: the creators' API, the public signup with double opt-in, one-click unsubscribe."""

from __future__ import annotations

import html
from typing import Any

import asyncpg
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from mnwd.mailing.links import unsubscribe_token
from mnwd.services import Services
from tests.mailing.conftest import Creator, body_text, link_path, make_creator, outbox
from tests.support.accounts import MakeUser
from tests.support.browser import Browser


async def _subscribe(client: TestClient, list_id: str, email: str, **kw: Any) -> tuple[int, Any]:  # type: ignore[type-arg]
    async with client.post(f"/api/v1/lists/{list_id}/subscribe", json={"email": email}, **kw) as response:
        return response.status, await response.json(content_type=None)


async def _status(pool: asyncpg.Pool, list_id: str, email: str) -> str | None:
    row = await pool.fetchrow(
        "SELECT confirmed_at, unsubscribed_at FROM mailing_list_subscribers"
        " WHERE list_id = $1 AND lower(email) = lower($2)",
        list_id,
        email,
    )
    if row is None:
        return None
    if row["unsubscribed_at"] is not None:
        return "unsubscribed"
    return "confirmed" if row["confirmed_at"] is not None else "pending"


async def test_creator_creates_up_to_three_lists_of_their_own_projects(creator: Creator, rival: Creator) -> None:
    first = await creator.new_list("Releases")
    status, doc = await creator.call("GET", f"/api/v1/projects/{creator.project_id}/lists")
    assert status == 200
    assert doc["lists"] == [
        {
            "id": first,
            "name": "Releases",
            "list_type": "content",
            "subscribers": {"confirmed": 0, "pending": 0, "unsubscribed": 0},
        }
    ]
    status, doc = await creator.call(
        "POST", f"/api/v1/projects/{creator.project_id}/lists", {"name": "Notes", "list_type": "patches"}
    )
    assert (status, doc["list_type"]) == (201, "patches")
    await creator.new_list("Devlog")
    status, doc = await creator.call("POST", f"/api/v1/projects/{creator.project_id}/lists", {"name": "More"})
    assert status == 409
    assert doc["type"].endswith("/list-limit")

    for bad in ({"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": "a\nb"}, {}, {"name": 5}):
        status, doc = await rival.call("POST", f"/api/v1/projects/{rival.project_id}/lists", bad)
        assert status == 422, (bad, doc)
    status, _ = await rival.call(
        "POST", f"/api/v1/projects/{rival.project_id}/lists", {"name": "x", "list_type": "news"}
    )
    assert status == 422
    # Someone else's project, a made-up id, a malformed id: all "not found".
    for project in (creator.project_id, "00000000-0000-0000-0000-000000000000", "../etc"):
        status, doc = await rival.call("POST", f"/api/v1/projects/{project}/lists", {"name": "Mine"})
        assert status == 404, doc
    status, _ = await rival.call("GET", f"/api/v1/projects/{creator.project_id}/lists")
    assert status == 404
    status, doc = await rival.call("GET", f"/api/v1/projects/{rival.project_id}/lists")
    assert (status, doc) == (200, {"lists": []})


async def test_api_needs_a_token_with_the_lists_scope(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    make_user: MakeUser,
) -> None:
    async with client.post("/api/v1/projects/00000000-0000-0000-0000-000000000000/lists", json={"name": "x"}) as r:
        assert r.status == 401
    store_only = await make_creator(services, client, make_user, "storeonly", scopes=["store:write"])
    status, doc = await store_only.call("POST", f"/api/v1/projects/{store_only.project_id}/lists", {"name": "x"})
    assert status == 403
    assert doc["type"].endswith("/insufficient-scope")


async def test_double_opt_in_confirms_only_on_post(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    status, doc = await _subscribe(client, list_id, "Fan@Example.org")
    assert status == 202, doc
    await services.jobs.run_due()
    [mail] = outbox(services)
    assert mail["To"] == "Fan@Example.org"
    confirm = link_path(body_text(mail), "confirm")
    assert await _status(services.pool, list_id, "fan@example.org") == "pending"

    # A mail scanner fetching the link (twice, with HEAD too) confirms nobody.
    for _ in range(2):
        async with client.get(confirm) as response:
            assert response.status == 200
            assert "Confirm my subscription" in await response.text()
    async with client.head(confirm) as response:
        assert response.status == 200
    assert await _status(services.pool, list_id, "fan@example.org") == "pending"

    # The button's POST works from a fresh browser without cookies or CSRF token.
    async with ClientSession() as fresh, fresh.post(str(client.make_url(confirm))) as response:
        assert response.status == 200
        assert "confirmed" in await response.text()
    assert await _status(services.pool, list_id, "fan@example.org") == "confirmed"
    assert await services.pool.fetchval("SELECT confirmed_at IS NOT NULL FROM email_signups") is True
    # The link is spent.
    async with client.post(confirm) as response:
        assert response.status == 404
    async with client.get("/lists/confirm/made-up-token") as response:
        assert response.status == 404


async def test_subscribe_answers_the_same_whatever_the_address(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    await services.pool.execute(
        "INSERT INTO email_suppressions (email, reason) VALUES ('Gone@Example.org', 'HardBounce')"
    )
    await services.pool.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at) VALUES ($1, 'known@example.org', now())",
        list_id,
    )
    answers = [
        await _subscribe(client, list_id, e) for e in ("new@example.org", "known@example.org", "gone@example.org")
    ]
    assert len({(status, str(doc)) for status, doc in answers}) == 1
    assert answers[0][0] == 202
    await services.jobs.run_due()
    assert [m["To"] for m in outbox(services)] == ["new@example.org"]
    # The confirmed subscriber stays confirmed; the suppressed address got no row.
    assert await _status(services.pool, list_id, "known@example.org") == "confirmed"
    assert await _status(services.pool, list_id, "gone@example.org") is None

    for bad in ("", "nobody", "a@b", "x" * 300 + "@example.org", "a@b.org\r\nBcc: c@d.org", "<a@b.org>, c@d.org"):
        status, doc = await _subscribe(client, list_id, bad)
        assert status == 422, (bad, doc)
    async with client.post(f"/api/v1/lists/{list_id}/subscribe", data=b"{nope") as response:
        assert response.status in (400, 415)
    status, _ = await _subscribe(client, "00000000-0000-0000-0000-000000000000", "a@example.org")
    assert status == 404


async def test_a_private_projects_list_takes_no_signups(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    status, _ = await creator.call("PATCH", f"/api/v1/projects/{creator.project_id}", {"visibility": "private"})
    assert status == 200
    status, _ = await _subscribe(client, list_id, "fan@example.org")
    assert status == 404


async def test_signups_are_rate_limited_per_client(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    statuses = [(await _subscribe(client, list_id, f"fan{i}@example.org"))[0] for i in range(22)]
    assert statuses[:20] == [202] * 20
    assert statuses[-1] == 429


async def test_the_same_address_is_mailed_at_most_three_confirmations_a_day(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    for _ in range(5):
        assert (await _subscribe(client, list_id, "fan@example.org"))[0] == 202
    await services.jobs.run_due()
    assert len(outbox(services)) == 3


async def test_one_click_unsubscribe_without_cookies(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list()
    subscriber = await services.pool.fetchval(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at) VALUES ($1, 'fan@example.org', now())"
        " RETURNING id",
        list_id,
    )
    path = f"/lists/unsubscribe/{unsubscribe_token(services.keyring, subscriber)}"
    async with client.get(path) as response:
        assert response.status == 200
        assert "fan@example.org" in await response.text()
    assert await _status(services.pool, list_id, "fan@example.org") == "confirmed"

    # RFC 8058: the mail provider posts List-Unsubscribe=One-Click, with no cookie and no CSRF token, even
    # saying it comes from another site.
    async with (
        ClientSession() as fresh,
        fresh.post(
            str(client.make_url(path)),
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"},
        ) as response,
    ):
        assert response.status == 200
    assert await _status(services.pool, list_id, "fan@example.org") == "unsubscribed"
    async with client.post(path) as response:  # again: still fine, nothing changes
        assert response.status == 200

    # A token naming the same subscriber with a forged or altered MAC unsubscribes nobody.
    other = await services.pool.fetchval(
        "INSERT INTO mailing_list_subscribers (list_id, email, confirmed_at) VALUES ($1, 'b@example.org', now())"
        " RETURNING id",
        list_id,
    )
    good = unsubscribe_token(services.keyring, other)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for token in (forged, good.split(".")[0], "x", "." * 300):
        async with client.post(f"/lists/unsubscribe/{token}") as response:
            assert response.status == 404, token
    assert await _status(services.pool, list_id, "b@example.org") == "confirmed"

    # Signing up again after unsubscribing needs a new confirmation.
    assert (await _subscribe(client, list_id, "fan@example.org"))[0] == 202
    assert await _status(services.pool, list_id, "fan@example.org") == "pending"


async def test_public_form_and_snippet(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
    creator_browser: Browser,
) -> None:
    list_id = await creator.new_list("Releases")
    page = await creator_browser.get(f"/dashboard/lists/{list_id}")
    assert page.status == 200
    # The snippet to paste is shown as text (escaped), posting to this site's absolute URL.
    base = services.config.base_url.rstrip("/")
    assert f'<form method="post" action="{base}/lists/{list_id}/subscribe">' in html.unescape(page.text)
    assert f'<form method="post" action="{base}' not in page.text
    # The embedded form posts from another site, without a token.
    async with ClientSession() as fresh:
        async with fresh.get(str(client.make_url(f"/lists/{list_id}/subscribe"))) as response:
            assert response.status == 200
            assert "Releases" in await response.text()
        async with fresh.post(
            str(client.make_url(f"/lists/{list_id}/subscribe")),
            data={"email": "fan@example.org"},
            headers={"Origin": "https://fan-site.example", "Sec-Fetch-Site": "cross-site"},
        ) as response:
            assert response.status == 202
            assert "Check your inbox" in await response.text()
        async with fresh.post(
            str(client.make_url(f"/lists/{list_id}/subscribe")), data={"email": "<script>"}
        ) as response:
            assert response.status == 422
            assert "<script>" not in await response.text()
    assert await _status(services.pool, list_id, "fan@example.org") == "pending"


async def test_signed_in_user_joins_with_their_account(services: Services, creator: Creator, alice: Browser) -> None:
    list_id = await creator.new_list()
    page = await alice.get(f"/lists/{list_id}/subscribe")
    assert "Subscribe with my account" in page.text
    done = await alice.submit(f"/lists/{list_id}/subscribe", f"/lists/{list_id}/join", {})
    assert done.status == 200
    row = await services.pool.fetchrow("SELECT user_id, email, confirmed_at FROM mailing_list_subscribers")
    assert row["email"] is None
    assert row["confirmed_at"] is not None
    # Without the CSRF token another site cannot subscribe her.
    forged = await alice.post(f"/lists/{list_id}/join", {})
    assert forged.status == 403


async def test_creator_pages_manage_lists_and_subscribers(
    services: Services, creator: Creator, creator_browser: Browser, rival: Creator
) -> None:
    page = await creator_browser.get("/dashboard/lists")
    assert "Maker Tools" in page.text
    assert "No lists yet." in page.text
    created = await creator_browser.submit(
        "/dashboard/lists", f"/dashboard/projects/{creator.project_id}/lists", {"name": "Releases", "list_type": ""}
    )
    assert created.status == 303
    assert created.location is not None
    list_path = created.location.split("?")[0]
    list_id = list_path.rsplit("/", 1)[1]

    async def add(email: str, name: str = "") -> Any:
        return await creator_browser.submit(list_path, f"{list_path}/subscribers", {"email": email, "name": name})

    added = await add("one@example.org", "One")
    assert added.status == 303
    assert str(added.location).endswith("saved=added")
    again = await add("ONE@example.org")
    assert str(again.location).endswith("saved=known")
    bad = await add("not an address")
    assert bad.status == 422
    assert "That is not an email address." in bad.text
    await services.pool.execute(
        "INSERT INTO email_suppressions (email, reason) VALUES ('gone@example.org', 'SpamComplaint')"
    )
    refused = await creator_browser.submit(
        list_path, f"{list_path}/subscribers", {"email": "gone@example.org", "name": ""}
    )
    assert refused.status == 422

    page = await creator_browser.get(list_path)
    assert "one@example.org" in page.text
    assert '<dd id="count-confirmed">1</dd>' in page.text

    renamed = await creator_browser.submit(list_path, list_path, {"name": "Release notes"})
    assert renamed.status == 303
    assert "Release notes" in (await creator_browser.get(list_path)).text
    empty = await creator_browser.submit(list_path, list_path, {"name": ""})
    assert empty.status == 422

    subscriber = await services.pool.fetchval("SELECT id FROM mailing_list_subscribers")
    removed = await creator_browser.submit(list_path, f"{list_path}/subscribers/{subscriber}/delete", {})
    assert removed.status == 303
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_list_subscribers") == 0

    # The rival sees none of it.
    rival_list = await rival.new_list()
    for path in (f"/dashboard/lists/{rival_list}", f"/dashboard/lists/{rival_list}/delete"):
        assert (await creator_browser.get(path)).status == 404
    assert (await creator_browser.submit(list_path, f"/dashboard/lists/{rival_list}/delete", {})).status == 404

    confirm = await creator_browser.get(f"{list_path}/delete")
    assert confirm.status == 200
    assert "Delete the list" in confirm.text
    deleted = await creator_browser.submit(f"{list_path}/delete", f"{list_path}/delete", {})
    assert deleted.status == 303
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_lists WHERE id = $1", list_id) == 0


async def test_the_project_page_offers_a_signup_form_per_list(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    creator: Creator,
) -> None:
    list_id = await creator.new_list("Release news")
    async with ClientSession() as visitor:
        async with visitor.get(str(client.make_url("/@maker/tools"))) as response:
            text = await response.text()
        assert response.status == 200
        assert f'id="mailing-signup-{list_id}"' in text
        assert f'action="/lists/{list_id}/subscribe"' in text
        async with visitor.post(
            str(client.make_url(f"/lists/{list_id}/subscribe")), data={"email": "visitor@example.org"}
        ) as response:
            assert response.status == 202
    assert await _status(services.pool, list_id, "visitor@example.org") == "pending"
