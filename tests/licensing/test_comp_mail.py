"""Comps issued to an e-mail address are mailed to it, through the outbound queue to a real SMTP server
(aiosmtpd on loopback): the key and how to claim it (sign up or confirm the address, then /library/keys). One
comp gives one mail however often the queue runs; a list of 500 addresses posted twice issues and mails each
once; bad lists are refused whole, with nothing issued or mailed."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

from mnwd.accounts.personal_tokens import create_token
from mnwd.licensing import keys
from mnwd.services import Services
from tests.licensing.conftest import Client, Shop, api, make_item
from tests.outbound.conftest import SmtpSink, config, outbound_env, smtp
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs

# The SMTP sink and a config that sends to it: the mail tests' fixtures (tests/outbound/conftest.py).
__all__ = ["config", "outbound_env", "smtp"]


def page_of(shop: Shop) -> str:
    return f"/dashboard/store/items/{shop.item_id}/licenses"


def body_of(message: object) -> str:
    return message.get_body().get_content()  # type: ignore[attr-defined,no-any-return]


def rows_of(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text)))


async def _token(services: Services, user_id: uuid.UUID) -> dict[str, str]:
    issued = await create_token(services, user_id, name="ci", scopes=["licenses:write"], expires_days=None)
    return {"Authorization": f"Bearer {issued.secret}"}


async def test_a_comp_to_an_address_without_an_account_mails_the_key_and_how_to_claim_it(
    browser: Browser, shop: Shop, services: Services, smtp: SmtpSink
) -> None:
    await sign_in(browser, "maker")
    page = await browser.submit(page_of(shop), f"{page_of(shop)}/comps", {"email": " Friend@Example.org "})
    assert page.status == 200, page.text
    await run_jobs(services)
    [mail] = smtp.sink.messages()
    assert mail["To"] == "Friend@Example.org"
    assert mail["Subject"] == "maker gave you a license key for App"
    key = keys.decrypt_key(services.keyring, await services.pool.fetchval("SELECT key_code FROM license_keys"))
    assert key is not None
    body = body_of(mail)
    base = services.config.base_url.rstrip("/")
    assert key in body
    assert page.has(key)
    assert f"{base}/signup" in body
    assert f"{base}/library/keys" in body
    assert "confirm" in body
    # The queue runs again (a retry, another daemon): still one mail; the queued row no longer holds the key.
    await run_jobs(services)
    assert len(smtp.sink.messages()) == 1
    kept = await services.pool.fetch("SELECT * FROM outbound_mails")
    assert len(kept) == 1
    assert key not in str(dict(kept[0]))


async def test_a_comp_to_a_verified_account_says_it_is_in_the_library(
    client: Client, shop: Shop, services: Services, smtp: SmtpSink, make_user: MakeUser
) -> None:
    await make_user("ada", email="ada@example.org", email_verified=True)
    status, doc = await api(
        client,
        f"/api/v1/items/{shop.item_id}/licenses",
        {"email": "ADA@example.org"},
        **await _token(services, shop.creator_id),
    )
    assert status == 201, doc
    assert doc["owner"] == "ada"
    await run_jobs(services)
    [mail] = smtp.sink.messages()
    body = body_of(mail)
    assert doc["key"] in body
    assert "It is in your library" in body
    assert "/signup" not in body


async def test_a_comp_without_an_address_mails_nothing(
    client: Client, shop: Shop, services: Services, smtp: SmtpSink
) -> None:
    status, _ = await api(
        client, f"/api/v1/items/{shop.item_id}/licenses", {}, **await _token(services, shop.creator_id)
    )
    assert status == 201
    await run_jobs(services)
    assert smtp.sink.messages() == []


async def test_a_list_of_500_addresses_is_issued_and_mailed_once_even_when_posted_again(
    browser: Browser, shop: Shop, services: Services, smtp: SmtpSink, make_user: MakeUser
) -> None:
    await make_user("ada", email="person0@example.org", email_verified=True)
    addresses = [f"person{n}@example.org" for n in range(500)]
    lines = ["name,email", *(f"Person {n},{a}" for n, a in enumerate(addresses))]
    lines += ["", "Again,PERSON7@example.org"]  # a blank row and a repeated address (case aside)
    await sign_in(browser, "maker")
    page = await browser.submit(page_of(shop), f"{page_of(shop)}/comps/list", {"emails": "\n".join(lines)})
    assert page.status == 200, page.text[:500]
    assert page.headers["Content-Type"].startswith("text/csv")
    first = rows_of(page.text)
    assert [r["email"] for r in first] == addresses
    assert {r["status"] for r in first} == {"issued"}
    assert len({r["key"] for r in first}) == 500
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys WHERE source = 'comp'") == 500
    ada = await services.pool.fetchval("SELECT id FROM users WHERE username = 'ada'")
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys WHERE owner_id = $1", ada) == 1

    # The answer was lost; the creator posts the same list again before the mails even went.
    again = await browser.submit(page_of(shop), f"{page_of(shop)}/comps/list", {"emails": "\n".join(lines)})
    assert again.status == 200
    second = rows_of(again.text)
    assert [(r["email"], r["key"]) for r in second] == [(r["email"], r["key"]) for r in first]
    assert {r["status"] for r in second} == {"already"}
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 500

    await run_jobs(services, limit=1000)
    await run_jobs(services, limit=1000)
    mails = smtp.sink.headers()
    assert len(mails) == 500
    assert sorted(str(m["To"]) for m in mails) == sorted(addresses)
    # Each mail holds its own key.
    by_address = {r["email"]: r["key"] for r in first}
    for message in smtp.sink.messages()[:5]:
        assert by_address[str(message["To"])] in body_of(message)


async def test_two_posts_of_one_list_at_once_issue_each_comp_once(
    client: Client, shop: Shop, services: Services, smtp: SmtpSink
) -> None:
    headers = await _token(services, shop.creator_id)
    path = f"/api/v1/items/{shop.item_id}/licenses/comps"
    body = {"emails": [f"p{n}@example.org" for n in range(20)]}
    (s1, d1), (s2, d2) = await asyncio.gather(api(client, path, body, **headers), api(client, path, body, **headers))
    assert (s1, s2) == (200, 200), (d1, d2)
    assert sorted(c["status"] for c in d1["comps"] + d2["comps"]) == ["already"] * 20 + ["issued"] * 20
    assert [c["key"] for c in d1["comps"]] == [c["key"] for c in d2["comps"]]
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 20
    await run_jobs(services)
    assert len(smtp.sink.messages()) == 20


async def test_bad_lists_are_refused_whole(
    browser: Browser, client: Client, shop: Shop, services: Services, smtp: SmtpSink, make_user: MakeUser
) -> None:
    await sign_in(browser, "maker")
    form = await browser.get(page_of(shop))
    assert form.status == 200
    assert form.has(f'action="{page_of(shop)}/comps/list"')
    for bad in (
        "",
        "\n \n",
        "ok@example.org\nnot-an-address",
        "ok@example.org\n<b>x</b>@example.org",
        "Ann <ann@example.org>",
        "a@b@c",
        "x" * 250 + "@example.org",
        "\n".join(f"p{n}@example.org" for n in range(1001)),
    ):
        page = await browser.submit(page_of(shop), f"{page_of(shop)}/comps/list", {"emails": bad})
        assert page.status == 422, (bad[:40], page.status)
        assert "text/html" in page.headers["Content-Type"]
    page = await browser.submit(page_of(shop), f"{page_of(shop)}/comps/list", {"emails": "ok@example.org\nnope"})
    assert page.has("Line 2")
    assert page.has("ok@example.org\nnope")  # the list is given back to fix

    headers = await _token(services, shop.creator_id)
    path = f"/api/v1/items/{shop.item_id}/licenses/comps"
    for body in ({"emails": []}, {"emails": ["x@example.org", "bad"]}, {"emails": "x@example.org"}, {"other": 1}):
        status, doc = await api(client, path, body, **headers)
        assert status == 422, (body, doc)
        assert doc["type"].endswith("validation-failed"), doc
    # Another creator's item, an unknown one, a malformed id: 404.
    rival = await make_user("rival", can_create_projects=True)
    rival_item = await make_item(services.pool, rival["id"], "theirs")
    for item in (rival_item, uuid.uuid4(), "../x"):
        status, _ = await api(client, f"/api/v1/items/{item}/licenses/comps", {"emails": ["x@example.org"]}, **headers)
        assert status == 404, item
    other = await browser.submit(
        page_of(shop), f"/dashboard/store/items/{rival_item}/licenses/comps/list", {"emails": "x@example.org"}
    )
    assert other.status == 404
    assert await services.pool.fetchval("SELECT count(*) FROM license_keys") == 0
    await run_jobs(services)
    assert smtp.sink.messages() == []
