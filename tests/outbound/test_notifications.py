"""Notifications: the flag decides, every mail carries a signed per-kind unsubscribe link and the RFC 8058
headers, and the link works without a session: GET shows a button and changes nothing, POST turns it off."""

from __future__ import annotations

import re
import uuid

import aiohttp
from aiohttp.test_utils import TestClient

from mnwd.mail import Mail
from mnwd.outbound import notify, unsubscribe_url
from mnwd.services import Services
from tests.outbound.conftest import SmtpSink
from tests.support.accounts import MakeUser
from tests.support.browser import Browser
from tests.support.outbound import run_jobs

LINK = re.compile(r"https?://[^\s>]+/mail/unsubscribe/[^\s>]+")


async def follow(browser: Browser, user_id: uuid.UUID) -> int:
    page = await browser.get("/feed")
    posted = await browser.post(
        "/follow", {"csrf_token": page.csrf, "target_type": "user", "target_id": str(user_id), "next": "/feed"}
    )
    return posted.status


async def flag(services: Services, user_id: uuid.UUID, column: str) -> bool:
    value: bool = await services.pool.fetchval(f"SELECT {column} FROM users WHERE id = $1", user_id)
    return value


async def test_a_new_follower_is_mailed_with_a_one_click_unsubscribe_that_needs_no_cookie(
    alice: Browser,
    make_user: MakeUser,
    services: Services,
    smtp: SmtpSink,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    bob = await make_user("bob")
    assert await follow(alice, bob["id"]) == 303
    assert await follow(alice, bob["id"]) == 303  # already following: no second mail
    await run_jobs(services)
    [mail] = smtp.sink.messages()
    assert mail["To"] == "bob@example.org"
    assert mail["Subject"] == "@alice now follows you on mnwd"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header_link = str(mail["List-Unsubscribe"]).strip("<>")
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    [body_link] = LINK.findall(body)
    assert body_link == header_link
    path = "/mail/unsubscribe/" + header_link.rsplit("/", 1)[1]

    # A mail client's one-click POST: no cookie, no CSRF token, no page visited first.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        url = str(client.make_url(path))
        async with bare.post(
            url, data="List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
        ) as response:
            assert response.status == 200
            assert "no more mail about new followers" in await response.text()
    assert not await flag(services, bob["id"], "notify_follower")
    assert await flag(services, bob["id"], "notify_issues"), "only this kind is turned off"

    carol = await make_user("carol")
    await alice.post(
        "/unfollow", {"csrf_token": (await alice.get("/feed")).csrf, "target_type": "user", "target_id": str(bob["id"])}
    )
    assert await follow(alice, bob["id"]) == 303
    assert await follow(alice, carol["id"]) == 303
    await run_jobs(services)
    assert [m["To"] for m in smtp.sink.messages()] == ["bob@example.org", "carol@example.org"]


async def test_get_shows_a_button_and_changes_nothing_post_turns_it_off(
    make_user: MakeUser,
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    bob = await make_user("bob")
    path = "/mail/unsubscribe/" + unsubscribe_url(services, bob["id"], "release").rsplit("/", 1)[1]
    page = await client.get(path)
    assert page.status == 200
    text = await page.text()
    assert "<button" in text
    assert "new versions of items you follow" in text
    assert await flag(services, bob["id"], "notify_release"), "a scanner's GET unsubscribes nobody"
    done = await client.post(path)
    assert done.status == 200
    assert not await flag(services, bob["id"], "notify_release")
    again = await client.post(path)
    assert again.status == 200


async def test_a_forged_or_altered_link_is_404(
    make_user: MakeUser,
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """Attack: take your own unsubscribe link and change the user id or the kind to turn off someone
    else's mail. The MAC covers both."""
    bob = await make_user("bob")
    mallory = await make_user("mallory")
    token = unsubscribe_url(services, mallory["id"], "issues").rsplit("/", 1)[1]
    _, kind, mac = token.split(".")
    for forged in (
        f"{bob['id']}.{kind}.{mac}",
        f"{mallory['id']}.sale.{mac}",
        f"{mallory['id']}.{kind}.{mac[:-2]}AA",
        f"{mallory['id']}.{kind}",
        "garbage",
        "..",
        f"{mallory['id']}.nosuchkind.{mac}",
        "x" * 500,
    ):
        for method in ("GET", "POST"):
            response = await client.request(method, f"/mail/unsubscribe/{forged}")
            assert response.status == 404, (method, forged)
    assert await flag(services, bob["id"], "notify_issues")
    assert await flag(services, mallory["id"], "notify_sale")


async def test_notify_skips_a_flag_that_is_off_a_gone_user_and_keeps_html_and_headers(
    make_user: MakeUser, services: Services, smtp: SmtpSink
) -> None:
    bob = await make_user("bob")
    await services.pool.execute("UPDATE users SET notify_sale = false WHERE id = $1", bob["id"])
    mail = Mail(to="", subject="Sold", text="You sold a thing.", html="<p>You sold a <b>thing</b>.</p>")
    assert await notify(services, services.pool, bob["id"], "sale", mail) is None
    assert await notify(services, services.pool, uuid.uuid4(), "release", mail) is None
    assert await notify(services, services.pool, bob["id"], "release", mail, key="k1") is not None
    assert await notify(services, services.pool, bob["id"], "release", mail, key="k1") is None
    await run_jobs(services)
    [received] = smtp.sink.messages()
    html = received.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<b>thing</b>" in html
    assert "/mail/unsubscribe/" in html
    assert received["List-Unsubscribe"].startswith("<http")
