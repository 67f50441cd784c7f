"""Custom domains against a fake authoritative DNS server on loopback (dnslib): the TXT challenge passes,
fails with a wrong token (saying what it saw, strings of a split TXT joined), a second creator cannot claim a
verified domain, ``Host: shop.example.com`` serves that creator only, re-checks keep a failing domain through
its grace period and then unverify it, and the TLS ``ask`` endpoint answers 200 only for verified domains."""

from __future__ import annotations

import re

import asyncpg

from mnwd.platform import domains
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.dns import Zone, dns, zone

__all__ = ["dns", "zone"]  # the fake DNS server's fixtures (tests/support/dns.py)


CHALLENGE = "_mnwd-challenge.shop.example.com"


async def _add(browser: Browser, host: str) -> tuple[int, str]:
    page = await browser.submit("/settings/domains", "/settings/domains", {"domain": host})
    return page.status, page.location or page.text


async def test_verification_routing_and_claims(
    browser: Browser, other_browser: Browser, make_user: MakeUser, dns: Zone, pool: asyncpg.Pool, services: Services
) -> None:
    await make_user("alice", can_create_projects=True)
    await make_user("bob", can_create_projects=True)
    await sign_in(browser, "alice")
    await sign_in(other_browser, "bob")
    for bad in ("", "shop", "shop.example.com/path", "-x.example.com", "a" * 300 + ".com", "shop.example.com:8080"):
        assert (await _add(browser, bad))[0] == 422, bad
    status, location = await _add(browser, "https://Shop.Example.com.")
    assert status == 303
    page = await browser.get(location)
    token = await pool.fetchval("SELECT verification_token FROM custom_domains WHERE domain = 'shop.example.com'")
    assert page.has(CHALLENGE)
    assert page.has(f"mnwd-verify={token}")
    assert page.has("CNAME")
    check = location + "/check"

    page = await browser.submit(location, check, {})
    assert page.has(f"{CHALLENGE} has no TXT record")
    dns.txt[CHALLENGE] = [["v=spf1 -all"], ["mnwd-verify=", "wrong"]]
    page = await browser.submit(location, check, {})
    assert page.has('has TXT "v=spf1 -all"; "mnwd-verify=wrong", not mnwd-verify=')
    assert not await pool.fetchval("SELECT verified FROM custom_domains")
    # A squatter's unverified claim does not block anyone; bob's claim replaces alice's token.
    status, bob_location = await _add(other_browser, "shop.example.com")
    assert status == 303
    assert (await browser.get(location)).status == 404
    status, location = await _add(browser, "shop.example.com")
    token = await pool.fetchval("SELECT verification_token FROM custom_domains WHERE domain = 'shop.example.com'")
    check = location + "/check"
    assert (await other_browser.submit("/settings/domains", bob_location + "/check", {})).status == 404
    # The value split into two strings of the TXT record, as long values are.
    dns.txt[CHALLENGE] = [["mnwd-verify=" + token[:10], token[10:]]]
    page = await browser.submit(location, check, {})
    assert page.has("the domain is verified")
    assert await pool.fetchval("SELECT verified FROM custom_domains")
    # A verified domain cannot be claimed by bob.
    status, _ = await _add(other_browser, "shop.example.com")
    assert status == 409
    assert await pool.fetchval("SELECT u.username FROM custom_domains d JOIN users u ON u.id = d.user_id") == "alice"

    client = browser.client
    # Bob's browser (his name in the header) sees alice's profile there.
    async with other_browser.client.get("/", headers={"Host": "shop.example.com", "Accept": "text/html"}) as response:
        assert response.status == 200
        assert "alice" in await response.text()
    async with client.get("/@bob", headers={"Host": "shop.example.com", "Accept": "text/html"}) as response:
        assert response.status == 404
    async with client.get("/", headers={"Host": "other.example.net", "Accept": "text/html"}) as response:
        assert response.status == 404
        assert "is not a site here" in await response.text()
    async with client.get("/tls-ask?domain=shop.example.com") as response:
        assert response.status == 200
    for other in ("other.example.net", "", "../x"):
        async with client.get(f"/tls-ask?domain={other}") as response:
            assert response.status == 404

    # Re-checks: a failing verified domain keeps serving through the grace period, then is unverified.
    dns.txt.clear()
    await pool.execute("UPDATE custom_domains SET checked_at = now() - interval '2 days'")
    assert await domains.recheck_verified(services) == 1
    row = await pool.fetchrow("SELECT verified, failing_since FROM custom_domains")
    assert row["verified"]
    assert row["failing_since"] is not None
    await pool.execute(
        "UPDATE custom_domains SET checked_at = now() - interval '2 days', failing_since = now() - interval '4 days'"
    )
    await domains.recheck_verified(services)
    row = await pool.fetchrow("SELECT verified, verified_at, failing_since FROM custom_domains")
    assert (row["verified"], row["verified_at"], row["failing_since"]) == (False, None, None)
    async with client.get("/", headers={"Host": "shop.example.com", "Accept": "text/html"}) as response:
        assert response.status == 404
    async with client.get("/tls-ask?domain=shop.example.com") as response:
        assert response.status == 404


async def test_only_creators_add_domains_and_only_admins_list_them(browser: Browser, make_user: MakeUser) -> None:
    await make_user("fan")
    await sign_in(browser, "fan")
    assert (await browser.get("/settings/domains")).status == 403
    assert (await browser.get("/admin/domains")).status == 403
    assert re.search(r"40[34]", str((await browser.get("/settings/domains/not-an-id")).status))
