"""Security headers on every answer, and who may read /metrics."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.app import create_app
from mnwd.services import Services
from mnwd.web.middleware import PAGE_POLICY, page_policy

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BROWSER = {"Accept": "text/html,application/xhtml+xml", "User-Agent": "Mozilla/5.0 Firefox/130.0"}


def assert_protected(headers: Any, *, page: bool) -> None:
    for name, value in ALWAYS.items():
        assert headers.get(name) == value, name
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    if page:
        assert policy == PAGE_POLICY
        assert "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy
    assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize(
    ("path", "headers", "status", "page"),
    [
        ("/login", BROWSER, 200, True),
        ("/healthz", {}, 200, False),
        ("/no/such/thing", {"Accept": "application/json"}, 404, False),
        ("/no/such/thing", BROWSER, 404, True),
        ("/static/site.css", {}, 200, False),
    ],
    ids=["page", "api", "problem", "error-page", "static"],
)
async def test_every_answer_carries_the_security_headers(
    client: TestClient[Any, web.Application], path: str, headers: dict[str, str], status: int, page: bool
) -> None:
    """Framing (clickjacking), MIME sniffing, referrer leaks and window.opener are shut off everywhere."""
    response = await client.get(path, headers=headers)
    assert response.status == status
    assert_protected(response.headers, page=page)


async def test_a_failed_form_post_is_protected_too(client: TestClient[Any, web.Application]) -> None:
    response = await client.post("/login", data={"login": "x"}, headers=BROWSER)
    assert response.status == 403  # no CSRF token
    assert_protected(response.headers, page=response.content_type == "text/html")


async def test_hsts_only_when_the_public_url_is_https(
    client: TestClient[Any, web.Application], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "Strict-Transport-Security" not in (await client.get("/healthz")).headers
    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, public_url="https://mnwd.example"))
    response = await client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_metrics_without_a_token_answer_loopback_only(client: TestClient[Any, web.Application]) -> None:
    """The attack: /metrics (route names, counts, timings) read from the internet through a reverse proxy
    on the same host, whose requests come from 127.0.0.1."""
    assert (await client.get("/metrics")).status == 200
    forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status == 403
    assert forwarded.content_type == "application/problem+json"
    assert (await client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"})).status == 403


async def test_metrics_with_a_token_require_it(
    client: TestClient[Any, web.Application], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, metrics_token="s3cret-scrape"))
    missing = await client.get("/metrics")
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    good = await client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scrape", "X-Forwarded-For": "203.0.113.9"}
    )
    assert good.status == 200
    assert "mnwd_http_requests" in await good.text()


async def test_a_handler_may_widen_its_own_policy(services: Services, aiohttp_client: Any) -> None:
    """A consent form redirecting to an app's site names that site in form-action; the rest stays."""

    async def consent(request: web.Request) -> web.Response:
        policy = page_policy("'self' https://notes.example")
        return web.Response(text="<form>", content_type="text/html", headers={"Content-Security-Policy": policy})

    app = create_app(services)
    app.router.add_get("/test/consent", consent)
    client = await aiohttp_client(app)
    response = await client.get("/test/consent")
    assert "form-action 'self' https://notes.example;" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
