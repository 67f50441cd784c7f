"""The CSRF defence's second line: what the browser itself says of where a request comes from.

Each attack carries a valid CSRF token of the victim's session (as if the token had leaked), so only the
``Sec-Fetch-Site`` / ``Origin`` check can stop it.
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.browser import Browser


async def _post_profile(alice: Browser, headers: dict[str, str]) -> int:
    token = (await alice.get("/settings")).csrf
    response = await alice.client.post(
        "/settings/profile",
        data={"display_name": "pwned", "csrf_token": token},
        headers={**alice.headers, **headers},
        allow_redirects=False,
    )
    return response.status


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1.evil.example"},
    ],
    ids=["cross-site", "same-site", "other-origin", "lookalike-origin"],
)
async def test_a_form_from_another_site_is_refused_even_with_a_leaked_token(
    alice: Browser, pool: asyncpg.Pool, headers: dict[str, str]
) -> None:
    """Attack: a page elsewhere posts the victim's own form with a token it obtained."""
    assert await _post_profile(alice, headers) == 403
    assert await pool.fetchval("SELECT display_name FROM users WHERE username = 'alice'") is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}, {"Origin": "null"}],
    ids=["no-headers", "same-origin", "typed-url", "null-origin"],
)
async def test_the_sites_own_forms_still_work(alice: Browser, pool: asyncpg.Pool, headers: dict[str, str]) -> None:
    assert await _post_profile(alice, headers) == 303
    assert await pool.fetchval("SELECT display_name FROM users WHERE username = 'alice'") == "pwned"


async def test_the_origin_of_the_request_itself_is_accepted(alice: Browser, pool: asyncpg.Pool) -> None:
    """Behind the test client the site answers on its own host and port, not MNWD_PUBLIC_URL's."""
    origin = str(alice.client.make_url("/")).rstrip("/")
    assert await _post_profile(alice, {"Origin": origin}) == 303
