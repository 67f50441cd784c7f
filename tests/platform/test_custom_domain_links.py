"""Every link of the site's header works on a creator's custom domain: the header's links lead to the main
site (absolute, ``MNWD_PUBLIC_URL``), which serves them and holds the session, and the store's own long links
(``/@owner/x``) are redirected to their short form on the domain. Walked on each kind of page a domain serves:
the profile, a project, an item, a 404; a session sent to the domain is dropped (its pages are the public
ones). Forms: test_custom_domain_forms.py."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.platform.clients import Api
from tests.support.accounts import sign_in
from tests.support.browser import Browser

Client = TestClient[web.Request, web.Application]
DOMAIN = "shop.example.com"
HTML = {"Accept": "text/html"}


class HeaderLinks(HTMLParser):
    """The ``href`` of each link and the ``action`` of each form inside the site's header (``<header
    class="top">``; pages have headers of their own); all links of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.header: list[tuple[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "header" and (self.depth or values.get("class") == "top"):
            self.depth += 1
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
            if self.depth:
                self.header.append(("GET", str(values["href"])))
        if tag == "form" and self.depth:
            self.header.append((str(values.get("method") or "get").upper(), str(values.get("action") or "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "header" and self.depth:
            self.depth -= 1


def parse(text: str) -> HeaderLinks:
    found = HeaderLinks()
    found.feed(text)
    return found


@pytest.fixture
async def site(services: Services, maker_api: Api) -> dict[str, Any]:
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "hammer", price_cents=0)
    await services.pool.execute(
        "INSERT INTO custom_domains (user_id, domain, verified, verified_at, verification_token)"
        " SELECT id, $1, true, now(), 'token' FROM users WHERE username = 'maker'",
        DOMAIN,
    )
    return {"project": project, "item": item}


async def get(client: Client, host: str, path: str, *, follow: bool = True) -> tuple[int, str, str]:
    async with client.get(path, headers={**HTML, "Host": host}, allow_redirects=follow) as response:
        return response.status, await response.text(), response.headers.get("Location", "")


async def walk_header(client: Client, services: Services, path: str, *, status: int = 200) -> list[str]:
    """Open ``path`` on the domain, then every link of its header where it points; the links."""
    got, text, _ = await get(client, DOMAIN, path)
    assert got == status, (path, got, text[:300])
    main = services.config.base_url.rstrip("/")
    main_host = urlsplit(main).netloc
    links = parse(text).header
    assert links, text[:500]
    for method, link in links:
        # Every header link is the main site's; none is left to the domain's own routing.
        assert link.startswith(main + "/"), (path, link)
        if method == "POST":
            continue  # sign-out: a form to the main site, with its token
        target = link[len(main) :]
        got, body, _ = await get(client, main_host, target)
        assert got == 200, (path, link, got, body[:300])
    return [link for _, link in links]


async def test_every_header_link_works_on_a_custom_domain(client: Client, services: Services, site: Any) -> None:
    main = services.config.base_url.rstrip("/")
    for path in ("/", "/tools", "/tools/hammer"):
        links = await walk_header(client, services, path)
        assert f"{main}/search" in links
        assert f"{main}/login" in links
        assert f"{main}/signup" in links
    # A page the domain does not have: a 404, with a header that still works.
    await walk_header(client, services, "/no-such-page", status=404)


async def test_a_session_sent_to_the_domain_is_dropped(
    client: Client, services: Services, site: Any, browser: Browser
) -> None:
    """A session belongs to the main host, and a browser never sends it to the domain. One sent anyway (this
    test client sends its cookies to any host) is dropped: the domain's pages are the public ones, with the
    main site's sign-in links and no form holding the main host's CSRF token; the main site keeps its menu."""
    await sign_in(browser, "maker")
    main = services.config.base_url.rstrip("/")
    for path in ("/", "/tools", "/tools/hammer"):
        links = await walk_header(browser.client, services, path)
        assert f"{main}/login" in links, path
        assert f"{main}/logout" not in links, path
        _, text, _ = await get(browser.client, DOMAIN, path)
        assert "csrf_token" not in text, path
        assert "Edit this" not in text, path
        assert "Edit your profile" not in text, path
    got, text, _ = await get(browser.client, "localhost", "/@maker/tools")
    assert got == 200
    links = [link for _, link in parse(text).header]
    assert {"/library", "/settings", "/dashboard/store", "/logout"} <= set(links)


async def test_the_main_site_keeps_relative_links(client: Client, site: Any) -> None:
    status, text, _ = await get(client, "localhost", "/@maker/tools")
    assert status == 200
    header = [link for _, link in parse(text).header]
    assert "/search" in header
    assert "/login" in header


async def test_the_stores_own_links_work_on_the_domain(client: Client, site: Any) -> None:
    """The project page links its items as /@maker/tools/hammer: on the domain that is redirected to
    /tools/hammer, which is served; another creator's path stays not found."""
    status, text, _ = await get(client, DOMAIN, "/tools")
    assert status == 200
    long_links = [link for link in parse(text).links if link.startswith("/@maker/")]
    assert "/@maker/tools/hammer" in long_links
    for link in long_links:
        got, _, location = await get(client, DOMAIN, link, follow=False)
        assert got == 308, link
        assert location == link.removeprefix("/@maker")
        got, body, _ = await get(client, DOMAIN, link)
        assert got == 200, (link, body[:300])
    got, _, location = await get(client, DOMAIN, "/@maker?tab=items", follow=False)
    assert (got, location) == (308, "/?tab=items")
    for other in ("/@other", "/@other/tools", "/@makerx", "/@maker/../@other"):
        got, _, _ = await get(client, DOMAIN, other)
        assert got == 404, other


async def test_the_sites_own_pages_asked_on_the_domain_lead_to_the_main_site(
    client: Client, services: Services, site: Any
) -> None:
    """A tag link, a search typed on the domain, a sign-in redirect: not the creator's pages, so the main
    site's; posts and other creators' paths are not redirected."""
    main = services.config.base_url.rstrip("/")
    for path in ("/search?q=hammer", "/login?next=/tools", "/source/"):
        got, _, location = await get(client, DOMAIN, path, follow=False)
        assert (got, location) == (307, main + path), path
    for path in ("/@other", "/@other/tools", "/no-such-page"):
        got, _, _ = await get(client, DOMAIN, path, follow=False)
        assert got == 404, path
    async with client.post("/login", data={}, headers={**HTML, "Host": DOMAIN}, allow_redirects=False) as response:
        assert response.status in (403, 404)
