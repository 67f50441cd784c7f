"""A creator in Chromium, against `mnwd serve` asking a fake authoritative DNS server (dnslib) on loopback: adds
``shop.example.com``, reads the records to publish, checks before the TXT record exists (the page says what it
saw), publishes it, checks again (verified); then a second Chromium that resolves ``*.example.com`` to loopback
opens ``http://shop.example.com:<port>/`` and gets that creator's page, and an unknown host the 404 page.

Screenshots at 1280 px and 390 px are kept in ``var/test-artifacts/pages/<test>/`` at the repository's root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.platform.test_domains import CHALLENGE
from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon, start_daemon
from tests.support.dns import Zone, serve_zone
from tests.support.e2e import own_chromium_page, shoot, sign_in_page

pytestmark = pytest.mark.e2e


@pytest.fixture
def zone_port() -> Iterator[tuple[Zone, int]]:
    with serve_zone() as served:
        yield served


@pytest.fixture
def daemon(tmp_path: Path, db_url: str, zone_port: tuple[Zone, int]) -> Iterator[RunningDaemon]:
    """`mnwd serve` whose custom domain checks ask the fake DNS server."""
    env = {
        "DATABASE_URL": db_url,
        "MNWD_PLATFORM_DNS_NAMESERVER": f"127.0.0.1:{zone_port[1]}",
        "MNWD_PLATFORM_DNS_TIMEOUT": "2",
    }
    running = start_daemon(tmp_path / "daemon", env)
    try:
        yield running
    finally:
        running.stop()


async def _visit_as_the_public(daemon: RunningDaemon, shots: Path) -> None:
    port = daemon.base_url.rsplit(":", 1)[1]
    async with own_chromium_page("--host-resolver-rules=MAP *.example.com 127.0.0.1") as page:
        answer = await page.goto(f"http://shop.example.com:{port}/")
        assert answer is not None
        assert answer.status == 200
        await expect(page.locator("#creator")).to_contain_text("@maker")
        await shoot(page, shots, "served-on-the-domain")
        unknown = await page.goto(f"http://nobody.example.com:{port}/")
        assert unknown is not None
        assert unknown.status == 404
        await shoot(page, shots, "unknown-host")


async def test_a_creator_verifies_a_custom_domain_and_it_serves_their_pages(
    page: Page,
    daemon: RunningDaemon,
    zone_port: tuple[Zone, int],
    make_user: MakeUser,
    shots: Path,
) -> None:
    zone, _ = zone_port
    await make_user("maker", can_create_projects=True)
    await sign_in_page(page, "maker", daemon.base_url)

    await page.goto("/settings/domains")
    await shoot(page, shots, "domains-empty")
    await page.get_by_label("Domain").fill("https://Shop.Example.com.")
    await page.get_by_role("button", name="Add the domain").click()
    await expect(page).to_have_url(re.compile(r"/settings/domains/[0-9a-f-]{36}$"))
    await expect(page.locator("#txt-record")).to_contain_text(CHALLENGE)
    await expect(page.locator("#cname-record")).to_contain_text("shop.example.com")
    await shoot(page, shots, "records")

    await page.get_by_role("button", name="Check now").click()
    await expect(page.locator("#check")).to_contain_text("has no TXT record")
    await expect(page.locator("#state")).to_contain_text("Not verified yet")
    await shoot(page, shots, "check-without-record")

    value = (await page.locator("#txt-record code").nth(1).inner_text()).strip()
    assert value.startswith("mnwd-verify=")
    zone.txt[CHALLENGE] = [[value[:20], value[20:]]]  # split into two strings, as DNS may
    await page.get_by_role("button", name="Check now").click()
    await expect(page.locator("#check")).to_contain_text("the domain is verified")
    await expect(page.locator("#state")).to_contain_text("Verified")
    await shoot(page, shots, "verified")

    await page.goto("/settings/domains")
    await expect(page.locator("tr[data-domain='shop.example.com']")).to_contain_text("verified")
    await shoot(page, shots, "domains-list")
    await _visit_as_the_public(daemon, shots)
