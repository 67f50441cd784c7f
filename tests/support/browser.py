"""Driving the server-rendered pages as a browser does: cookies kept, CSRF token read from the form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Page:
    status: int
    text: str
    location: str | None
    headers: Any

    @property
    def csrf(self) -> str:
        match = CSRF_INPUT.search(self.text)
        assert match, f"no CSRF token on the page:\n{self.text[:2000]}"
        return unescape(match.group(1))

    def has(self, fragment: str) -> bool:
        return fragment in unescape(self.text)


async def _page(response: ClientResponse) -> Page:
    return Page(response.status, await response.text(), response.headers.get("Location"), response.headers)


class Browser:
    def __init__(self, client: TestClient, user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0") -> None:  # type: ignore[type-arg]
        self.client = client
        self.headers = {**HTML, "User-Agent": user_agent}

    async def get(self, path: str, *, follow: bool = True) -> Page:
        async with self.client.get(path, headers=self.headers, allow_redirects=follow) as response:
            return await _page(response)

    async def post(self, path: str, data: dict[str, str], *, follow: bool = False) -> Page:
        async with self.client.post(path, data=data, headers=self.headers, allow_redirects=follow) as response:
            return await _page(response)

    async def submit(self, form_page: str, action: str, data: dict[str, str], *, follow: bool = False) -> Page:
        """Open ``form_page``, take its CSRF token, post ``data`` to ``action``."""
        page = await self.get(form_page)
        return await self.post(action, {**data, "csrf_token": page.csrf}, follow=follow)

    async def json(self, path: str, body: Any, *, csrf_from: str) -> ClientResponse:
        page = await self.get(csrf_from)
        return await self.client.post(path, json=body, headers={**self.headers, "X-CSRF-Token": page.csrf})

    def cookie(self, name: str) -> str | None:
        for cookie in self.client.session.cookie_jar:
            if cookie.key == name:
                return cookie.value
        return None
