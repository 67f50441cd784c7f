"""Every form and every link of the pages a creator's custom domain serves works (the domain verified through
the settings page against the fake DNS server), followed or submitted the way a browser would: host-only
cookies (the session lives on the main host and never reaches the domain), redirects followed, forms posted
with the ``Origin`` and ``Sec-Fetch-Site`` a browser sends (a post from the domain to the main site is
cross-site). Walked on the profile, a project (with its mailing list's signup), a paid item, a free item, a
bundle, the creator's memberships (tiers) and a list's signup page, for a visitor who is not signed in and for
one signed in on the main site; then every form on the main-site pages those links lead to ("Buy" → the item
page there → Stripe's Checkout; "Follow" → the follow form) is submitted too. Nothing answers 403, 404, 405 or
5xx, the page's Content-Security-Policy lets each form post and each image (the creator's avatar, a media file
of the main site) load, redirects included, as a browser checks, and what the visitor meant happens (a
checkout opens, a follow and a mailing-list signup are recorded)."""

from __future__ import annotations

import dataclasses
import html
import io
from collections.abc import Iterator
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from mnwd.accounts.personal_tokens import create_token
from mnwd.mailing import lists
from mnwd.services import Services
from tests.fakes.stripe import FakeStripe
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.api import Api
from tests.support.browser import Browser
from tests.support.dns import Zone, dns, verify_domain, zone
from tests.support.stripe import config, connect_seller, fake_stripe, stripe_env

# The fake Stripe's and the fake DNS server's fixtures (tests/support/stripe.py, dns.py).
__all__ = ["config", "dns", "fake_stripe", "stripe_env", "zone"]

Client = TestClient[web.Request, web.Application]
DOMAIN = "shop.example.com"
BROKEN = {403, 404, 405}
LOGOUT = "/logout"
SETTINGS = "/settings"


@dataclasses.dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]]
    formactions: list[str]


class PageParts(HTMLParser):
    """The links (``<a href>``) and forms of a page, each form with the values a browser would send."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in values:
            self.links.append(html.unescape(values["href"]))
        elif tag == "img" and "src" in values:
            self.images.append(html.unescape(values["src"]))
        elif tag == "form":
            self._form = Form(values.get("method", "get").upper(), values.get("action", ""), [], [])
            self.forms.append(self._form)
        elif self._form is None or ("name" not in values and tag != "button"):
            return
        elif tag == "input" and values.get("type") not in ("submit", "button", "checkbox", "radio"):
            value = values.get("value", "")
            if not value and values.get("type") == "email":
                value = "fan@example.org"
            self._form.fields.append((values["name"], value))
        elif tag == "textarea":
            self._form.fields.append((values["name"], ""))
        elif tag == "select":
            self._select = values["name"]
        elif tag == "option" and self._select is not None:
            self._form.fields.append((self._select, values.get("value", "")))
            self._select = None
        elif tag == "button" and "formaction" in values:
            self._form.formactions.append(values["formaction"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


@dataclasses.dataclass
class Answer:
    url: str
    status: int
    text: str
    left_for: str | None = None  # an address off this site the answer sent the browser to (Stripe's)
    policy: str = ""  # its Content-Security-Policy
    hops: list[str] = dataclasses.field(default_factory=list)  # every address asked on the way, redirects too

    def allows(self, directive: str, url: str) -> bool:
        """Whether the page's policy lets it reach ``url`` under ``directive`` (as a browser checks)."""
        own = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        target = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        for part in self.policy.split(";"):
            name, _, sources = part.strip().partition(" ")
            if name == directive:
                allowed = sources.split()
                return target in allowed or ("'self'" in allowed and target == own)
        return True


@dataclasses.dataclass
class Visitor:
    """A browser as far as these pages need: cookies kept per host (host-only, as the site sets them), redirects
    followed, a form posted with the ``Origin`` and ``Sec-Fetch-Site`` of the page it is on."""

    client: Client
    hosts: set[str]
    cookies: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    seen: list[tuple[str, str, str, int]] = dataclasses.field(default_factory=list)
    submitted: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    async def go(self, method: str, url: str, data: Any = None, *, origin: str | None = None) -> Answer:
        hops: list[str] = []
        for _ in range(8):
            hops.append(url)
            parts = urlsplit(url)
            if parts.netloc not in self.hosts:
                return Answer(url, 303, "", left_for=url, hops=hops)
            headers = {"Host": parts.netloc, "Accept": "text/html"}
            jar = self.cookies.setdefault(parts.netloc, {})
            if jar:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            if method == "POST" and origin is not None:
                headers["Origin"] = origin
                headers["Sec-Fetch-Site"] = (
                    "same-origin" if origin == f"{parts.scheme}://{parts.netloc}" else "cross-site"
                )
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            async with self.client.request(method, path, data=data, headers=headers, allow_redirects=False) as response:
                text = (await response.read()).decode("utf-8", "replace")  # a page, a file or an image
                for header in response.headers.getall("Set-Cookie", []):
                    for name, morsel in SimpleCookie(header).items():
                        if morsel["max-age"] == "0" or not morsel.value:
                            jar.pop(name, None)
                        else:
                            jar[name] = morsel.value
                self.seen.append((method, url, origin or "", response.status))
                location = response.headers.get("Location")
                if response.status not in (301, 302, 303, 307, 308) or location is None:
                    policy = response.headers.get("Content-Security-Policy", "")
                    return Answer(url, response.status, text, policy=policy, hops=hops)
                if response.status in (301, 302, 303):
                    method, data, origin = "GET", None, None
                url = urljoin(url, location)
        raise AssertionError(f"too many redirects: {url}")

    async def submit(self, page: Answer, form: Form, action: str) -> Answer:
        target = urljoin(page.url, action or page.url)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
        assert page.allows("form-action", target), (page.url, target, page.policy)  # else the browser stops it
        if form.method == "GET":
            return await self.go("GET", f"{target.split('?')[0]}?{urlencode(form.fields)}")
        return await self.go("POST", target, aiohttp.FormData(form.fields), origin=origin)


def parts_of(text: str) -> PageParts:
    found = PageParts()
    found.feed(text)
    return found


def ours(visitor: Visitor, url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.netloc in visitor.hosts


def assert_works(answer: Answer, what: str) -> None:
    assert answer.status not in BROKEN, (what, answer.url, answer.status, answer.text[:400])
    assert answer.status < 500, (what, answer.url, answer.status, answer.text[:400])


async def check_forms(visitor: Visitor, page: Answer) -> None:
    """Submit each form of ``page`` (once per visitor), but the sign-out."""
    for form in parts_of(page.text).forms:
        for action in form.formactions or [form.action]:
            target = urljoin(page.url, action or page.url)
            if urlsplit(target).path == LOGOUT or (form.method, target) in visitor.submitted:
                continue
            visitor.submitted.add((form.method, target))
            assert_works(await visitor.submit(page, form, action), f"{form.method} {target} on {page.url}")


async def walk(visitor: Visitor, url: str) -> None:
    """Open ``url`` on the domain; follow every link of it that stays on this site, submit every form of it, and
    every form of the pages its links lead to (but the account's own settings, where a signed-in visitor's
    "Sign in" link lands)."""
    page = await visitor.go("GET", url)
    assert page.status == 200, (url, page.status, page.text[:400])
    found = parts_of(page.text)
    for src in found.images:
        image = await visitor.go("GET", urljoin(page.url, src))
        assert image.status == 200, (src, page.url, image.status)
        for hop in image.hops:
            assert page.allows("img-src", hop), (src, hop, page.url, page.policy)  # else the browser shows none
    for link in found.links:
        target = urljoin(page.url, link)
        if not ours(visitor, target):
            continue
        landing = await visitor.go("GET", target)
        assert_works(landing, f"link {link} on {page.url}")
        if landing.status == 200 and ours(visitor, landing.url) and not urlsplit(landing.url).path.startswith(SETTINGS):
            await check_forms(visitor, landing)
    await check_forms(visitor, page)


@dataclasses.dataclass
class Site:
    main: str
    list_id: Any
    items: dict[str, Any]
    tier_id: Any


async def upload_image(api: Api) -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, format="PNG")
    body = aiohttp.FormData()
    body.add_field("file", out.getvalue(), filename="me.png", content_type="application/octet-stream")
    async with api.client.post("/api/v1/media", data=body, headers=api.headers) as response:
        doc = await response.json()
        assert response.status == 201, doc
        return str(doc["id"])


@pytest.fixture
async def site(services: Services, client: Client, make_user: MakeUser, fake_stripe: FakeStripe, dns: Zone) -> Site:
    fake_stripe.webhook_url = str(client.make_url("/stripe/webhook"))
    maker = await make_user("maker", can_create_projects=True)
    await make_user("buyer")
    scopes = ["store:read", "store:write", "media:write"]
    issued = await create_token(services, maker["id"], name="t", scopes=scopes, expires_days=None)
    api = Api(client, issued.secret, maker["id"])
    avatar = await upload_image(api)
    status, doc = await api.call("PATCH", "/api/v1/profile", {"avatar_media_id": avatar})
    assert status == 200, doc
    browser = Browser(client)
    await sign_in(browser, "maker")
    await connect_seller(browser, fake_stripe)
    project = await api.project("tools")
    hammer = await api.item(project["id"], "hammer", price_cents=500)
    nail = await api.item(project["id"], "nail", price_cents=0)
    status, doc = await api.put_file(nail["id"], b"a free nail", "version=1.0")
    assert status == 201, doc
    kit = await api.item(project["id"], "kit", type="bundle", price_cents=900)
    status, doc = await api.call("PUT", f"/api/v1/items/{kit['id']}/bundle", {"item_ids": [hammer["id"], nail["id"]]})
    assert status == 200, doc
    tag = await services.pool.fetchval("SELECT slug FROM tags ORDER BY slug LIMIT 1")
    if tag is not None:
        status, doc = await api.call("PUT", f"/api/v1/items/{hammer['id']}/tags", {"tags": [tag]})
        assert status == 200, doc
    list_id = await lists.create_list(services, maker["id"], project["id"], "News")
    page = await browser.submit(
        "/dashboard/commerce/tiers",
        "/dashboard/commerce/tiers",
        {"project_id": project["id"], "name": "Patron", "price": "5.00", "billing_interval": "month"},
    )
    assert page.status == 303, page.text
    tier_id = await services.pool.fetchval("SELECT id FROM subscription_tiers WHERE name = 'Patron'")
    await verify_domain(browser, dns, DOMAIN)  # the TXT record published in the fake DNS server
    main = services.config.base_url.rstrip("/")
    return Site(main, list_id, {"hammer": hammer, "nail": nail, "kit": kit}, tier_id)


@pytest.fixture
async def visitor(client: Client, aiohttp_client: Any, site: Site) -> Visitor:
    """A browser of its own on the same server, whose cookies this test keeps per host."""
    own = await aiohttp_client(client.server, cookie_jar=aiohttp.DummyCookieJar())
    return Visitor(own, {DOMAIN, urlsplit(site.main).netloc})


async def sign_in_on_the_main_site(visitor: Visitor, site: Site, login: str) -> None:
    page = await visitor.go("GET", f"{site.main}/login")
    form = next(f for f in parts_of(page.text).forms if f.action == "/login")
    fields = [(k, v) for k, v in form.fields if k not in ("login", "password")]
    data = [*fields, ("login", login), ("password", PASSWORD)]
    answer = await visitor.go("POST", f"{site.main}/login", aiohttp.FormData(data), origin=site.main)
    assert answer.url == f"{site.main}/settings", (answer.url, answer.status)


def pages(site: Site) -> Iterator[str]:
    for path in ("/", "/tools", "/tools/hammer", "/tools/nail", "/tools/kit", "/memberships/maker"):
        yield f"http://{DOMAIN}{path}"
    yield f"http://{DOMAIN}/lists/{site.list_id}/subscribe"


async def test_every_form_and_link_works_on_a_custom_domain_signed_out(
    visitor: Visitor, site: Site, services: Services
) -> None:
    for url in pages(site):
        await walk(visitor, url)
    # The avatar (a media file, the main site's) was asked on the domain and found through its redirect.
    assert any(m == "GET" and u.startswith(f"http://{DOMAIN}/media/") and st == 307 for m, u, _, st in visitor.seen)
    # The signup on the project page was posted from the domain to the main site, cross-site, and recorded.
    posted = [(url, status) for method, url, origin, status in visitor.seen if method == "POST" and origin]
    assert (f"{site.main}/lists/{site.list_id}/subscribe", 202) in posted
    assert await services.pool.fetchval("SELECT count(*) FROM mailing_list_subscribers") >= 1


async def test_every_form_and_link_works_on_a_custom_domain_signed_in(
    visitor: Visitor, site: Site, fake_stripe: FakeStripe, services: Services
) -> None:
    """Signed in on the main site: the domain's pages are still the public ones (the session stays on the main
    host), and their "Buy", "Follow" and "Subscribe" lead through the main site to what was meant."""
    await sign_in_on_the_main_site(visitor, site, "buyer")
    for url in pages(site):
        await walk(visitor, url)
    # A checkout answers 303 to Stripe, or 200: our page that continues there.
    checkouts = [url for method, url, _, status in visitor.seen if method == "POST" and status in (200, 303)]
    hammer = site.items["hammer"]["id"]
    assert f"{site.main}/checkout/items/{hammer}" in checkouts  # the domain's "Buy" → the item page → Stripe
    assert f"{site.main}/checkout/tiers/{site.tier_id}" in checkouts
    assert await services.pool.fetchval("SELECT count(*) FROM transactions WHERE item_id = $1", hammer) >= 1
    # "Follow" on the domain → the same page on the main site → its follow form (later ones unfollow again).
    assert ("POST", f"{site.main}/follow", site.main, 303) in visitor.seen
    joined = ("POST", f"{site.main}/lists/{site.list_id}/join", site.main, 200)
    assert joined in visitor.seen  # the list's signup page (the domain sends it to the main site) for a member


async def test_the_domains_pages_post_nothing_to_the_domain(visitor: Visitor, site: Site) -> None:
    """No form on a page the domain serves posts to the domain (which serves only the creator's pages) or
    carries the main host's CSRF token: each posts to the main site, and only the CSRF-free signup is there."""
    await sign_in_on_the_main_site(visitor, site, "buyer")
    for url in pages(site):
        page = await visitor.go("GET", url)
        if urlsplit(page.url).netloc != DOMAIN:
            continue  # the memberships and signup pages are the main site's own (the domain redirects there)
        for form in parts_of(page.text).forms:
            action = urljoin(page.url, form.action)
            assert action.startswith(site.main + "/"), (url, form)
            assert form.method == "GET" or urlsplit(action).path.startswith("/lists/"), (url, form)
            assert "csrf_token" not in dict(form.fields), (url, form)


async def test_an_item_page_kept_for_the_main_site_is_not_served_on_the_domain(visitor: Visitor, site: Site) -> None:
    """Item pages of visitors are kept rendered (`mnwd.store.pages_catalog.RenderedPages`); the domain's copy of a
    path has the main site's absolute links, so each host keeps its own."""
    for _ in range(2):
        main_page = await visitor.go("GET", f"{site.main}/@maker/tools/hammer")
        assert 'id="buy-button" href="/login?next=' in main_page.text
        assert "Sign in to buy for 5.00 USD" in main_page.text
        domain_page = await visitor.go("GET", f"http://{DOMAIN}/tools/hammer")
        assert f'id="buy-button" href="{site.main}/login?next=/%40maker/tools/hammer"' in domain_page.text
        assert "Buy for 5.00 USD" in domain_page.text
