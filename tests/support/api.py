"""`Api`: the JSON API as one user's personal access token calls it (the store's projects and items, files), for
the tests of the domains above the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

__all__ = ["Api"]


@dataclass
class Api:
    """The JSON API as one user's personal access token calls it (``user_id``: whose token, when a test needs it)."""

    client: TestClient  # type: ignore[type-arg]
    token: str
    user_id: Any = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.client.request(method, path, json=body, headers=self.headers) as response:
            return response.status, await response.json(content_type=None)

    async def put_file(self, item_id: Any, data: bytes, query: str) -> tuple[int, Any]:
        path = f"/api/v1/items/{item_id}/versions?{query}"
        async with self.client.put(path, data=data, headers=self.headers) as response:
            return response.status, await response.json(content_type=None)

    async def project(self, slug: str) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "software", "visibility": "public"}
        status, doc = await self.call("POST", "/api/v1/projects", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]

    async def item(self, project_id: Any, slug: str, **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "title": slug.title(), "type": "download", **fields}
        status, doc = await self.call("POST", f"/api/v1/projects/{project_id}/items", body)
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]
