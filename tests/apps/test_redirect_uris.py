from __future__ import annotations

import asyncpg
import pytest

from mnwd.apps.redirect_uris import parse_redirect_uris, redirect_uri_matches, redirect_uri_problem
from tests.support.browser import Browser
from tests.support.oauth import FORM_FIELD, REDIRECT, Pkce, RegisteredApp, authorize_path


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.com/callback",
        "https://example.com:8443/oauth/callback?x=1",
        "https://127.0.0.1/cb",
        "https://[2001:db8::1]/cb",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:51234/callback",
        "http://[::1]:8080/cb",
        "HTTP://127.0.0.1/cb",
        "com.example.app:/callback",
        "com.example.app://callback",
        "dev.mnw.notes:/oauth2redirect/mnwd",
    ],
)
def test_allowed_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("http://localhost/cb", "instead of localhost"),
        ("http://localhost:8080/cb", "RFC 8252 §8.3"),
        ("http://app.localhost/cb", "instead of localhost"),
        ("http://example.com/cb", "only for the loopback addresses"),
        ("http://127.0.0.2/cb", "only for the loopback addresses"),
        ("http://192.168.1.10/cb", "only for the loopback addresses"),
        ("javascript:alert(1)", "javascript: URIs are not allowed"),
        ("JavaScript:alert(1)", "javascript: URIs are not allowed"),
        ("data:text/html,<script>alert(1)</script>", "data: URIs are not allowed"),
        ("file:///etc/passwd", "file: URIs are not allowed"),
        ("https://example.com/cb#frag", "fragment"),
        ("https://example.com/cb#", "fragment"),
        ("/relative/callback", "absolute URI"),
        ("example.com/callback", "absolute URI"),
        ("https:///no-host", "Add a host"),
        ("https://user:pw@example.com/cb", "user name and password"),
        ("https://exa mple.com/cb", "no spaces"),
        ("https://example.com/cb\n", "no spaces"),
        ("https://bücher.example/cb", "outside ASCII"),
        ("https://under_score.example/cb", "host name is not valid"),
        ("http://127.0.0.1:99999/cb", "port"),
        ("https://[::1/cb", "not a valid URI"),
        ("myapp:/callback", "reverse-domain form"),
        ("com.example.app:", "Add a path"),
        ("https://example.com/" + "a" * 2000, "at most 2000 characters"),
    ],
)
def test_refused_redirect_uris(uri: str, fragment: str) -> None:
    problem = redirect_uri_problem(uri)
    assert problem is not None
    assert fragment in problem


def test_the_list_is_stripped_deduplicated_and_bounded() -> None:
    uris, problem = parse_redirect_uris(
        [" https://a.example/cb ", "", "https://a.example/cb", "http://127.0.0.1:1/cb", "  "]
    )
    assert uris == ["https://a.example/cb", "http://127.0.0.1:1/cb"]
    assert problem is None
    assert parse_redirect_uris(["", " "])[1] == "Add at least one redirect URI."
    ten = [f"https://a.example/{n}" for n in range(10)]
    assert parse_redirect_uris(ten)[1] is None
    assert parse_redirect_uris([*ten, "https://a.example/10"])[1] == "Use at most 10 redirect URIs."
    assert parse_redirect_uris([*ten, ten[0]])[1] is None


def test_each_bad_uri_is_named() -> None:
    _, problem = parse_redirect_uris(["https://ok.example/cb", "http://localhost/cb", "javascript:x"])
    assert problem is not None
    assert "http://localhost/cb: Use http://127.0.0.1" in problem
    assert "javascript:x: javascript: URIs are not allowed." in problem


CONTROLLED = ["http://127.0.0.1:5000/call\tback", "http://127.0.0.1/callback\n", "http://127.0.0.1/call\x7fback"]


@pytest.mark.parametrize("uri", CONTROLLED)
def test_control_characters_never_match_or_register(uri: str) -> None:
    """``urlsplit`` drops TAB, CR and LF, so the loopback rule used to match ``/call<TAB>back`` to ``/callback``."""
    assert not redirect_uri_matches(uri, [REDIRECT])
    assert redirect_uri_problem(uri) is not None


async def test_authorize_with_a_tab_in_a_loopback_redirect_uri_is_refused_before_any_code(
    alice: Browser, notes_app: RegisteredApp, pool: asyncpg.Pool
) -> None:
    """Attack: ``redirect_uri=http://127.0.0.1:5000/call<TAB>back`` matched the registered loopback URI; the
    consent then stored a code and the redirect carrying it failed as a 500."""
    uri = CONTROLLED[0]
    page = await alice.get(authorize_path(notes_app, Pkce.new(), redirect_uri=uri), follow=False)
    assert page.status == 400
    assert page.location is None
    consent = await alice.get(authorize_path(notes_app, Pkce.new()), follow=False)
    form = dict(FORM_FIELD.findall(consent.text))
    assert "redirect_uri" in form
    allowed = await alice.post("/oauth/authorize", {**form, "redirect_uri": uri, "decision": "allow"})
    assert allowed.status == 400
    assert allowed.location is None
    assert await pool.fetchval("SELECT count(*) FROM oauth_authorization_codes") == 0
