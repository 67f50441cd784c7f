"""A creator's custom domain in Chromium, against `mnwd serve` (its main site at ``127.0.0.1:<port>``, and
``shop.example.com`` resolved to loopback): a visitor subscribes to the project's mailing list from the
domain (the form posts to the main site, cross-site, as Chromium sends it), then follows the project, which
takes them to the main site to sign in and back to the project's page there, where the follow form works.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from mnwd.accounts.personal_tokens import create_token
from mnwd.mailing import lists
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import RunningDaemon, free_port, start_daemon
from tests.support.e2e import own_chromium_page, shoot

pytestmark = pytest.mark.e2e

DOMAIN = "shop.example.com"


@pytest.fixture
def daemon(tmp_path: Path, db_url: str) -> Iterator[RunningDaemon]:
    """`mnwd serve` whose main site is its own loopback address (the domain's links lead there)."""
    port = free_port()
    running = start_daemon(
        tmp_path / "daemon",
        {"DATABASE_URL": db_url, "MNWD_HTTP_PORT": str(port), "MNWD_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    try:
        yield running
    finally:
        running.stop()


async def test_a_visitor_subscribes_and_follows_from_a_custom_domain(
    daemon: RunningDaemon, services: Services, make_user: MakeUser, shots: Path
) -> None:
    maker = await make_user("maker", can_create_projects=True)
    await make_user("fan")
    issued = await create_token(services, maker["id"], name="e2e", scopes=["store:write"], expires_days=None)
    async with aiohttp.ClientSession(daemon.base_url, headers={"Authorization": f"Bearer {issued.secret}"}) as api:
        body = {"slug": "tools", "title": "Tools", "type": "software", "visibility": "public"}
        async with api.post("/api/v1/projects", json=body) as response:
            assert response.status == 201, await response.text()
            project = await response.json()
    list_id = await lists.create_list(services, maker["id"], project["id"], "Tool news")
    await services.pool.execute(
        "INSERT INTO custom_domains (user_id, domain, verified, verified_at, verification_token)"
        " VALUES ($1, $2, true, now(), 'token')",
        maker["id"],
        DOMAIN,
    )
    main = daemon.base_url
    port = main.rsplit(":", 1)[1]
    async with own_chromium_page(f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1") as page:
        answer = await page.goto(f"http://{DOMAIN}:{port}/tools")
        assert answer is not None
        assert answer.status == 200
        await expect(page.locator(f"#mailing-signup-{list_id}")).to_contain_text("Tool news")
        await shoot(page, shots, "project-on-the-domain")

        await page.get_by_label("Your email address").fill("fan@example.org")
        await page.get_by_role("button", name="Subscribe").click()
        await expect(page).to_have_url(f"{main}/lists/{list_id}/subscribe")
        await expect(page.locator("#signup-done")).to_contain_text("we sent it a link")
        await shoot(page, shots, "signup-on-the-main-site")
        count = "SELECT count(*) FROM mailing_list_subscribers WHERE list_id = $1 AND email = 'fan@example.org'"
        assert await services.pool.fetchval(count, list_id) == 1

        await page.goto(f"http://{DOMAIN}:{port}/tools")
        await page.get_by_role("link", name="Follow Tools").click()
        await expect(page).to_have_url(f"{main}/login?next=/%40maker/tools")
        await page.get_by_label("Username or email").fill("fan")
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
        await expect(page).to_have_url(f"{main}/@maker/tools")
        await page.get_by_role("button", name="Follow Tools").click()
        await expect(page.get_by_role("button", name="Unfollow Tools")).to_be_visible()
        await shoot(page, shots, "followed-on-the-main-site")
