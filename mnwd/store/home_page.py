"""What the home page (`/`) lists, the sitemap (`/sitemap.xml`) and robots.txt.

Interface: `HomePage` and `home_page(pool)`: the newest and the most popular public items (sales, downloads and
plays together) and the top-level tags; `sitemap_xml(pool, base_url)`: the public creators, projects, items and
tags with public items, as a sitemap (at most `MAX_SITEMAP_URLS`, the protocol's limit for one file);
`robots_txt(base_url)`.

Read only; each list is one indexed query (migration 0022: ``items_public_newest_idx``,
``items_public_popular_idx``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

import asyncpg

from mnwd.store import search, tags
from mnwd.store.queries import discovery as queries

__all__ = ["HOME_LIST_SIZE", "MAX_SITEMAP_URLS", "HomePage", "home_page", "robots_txt", "sitemap_xml"]

HOME_LIST_SIZE = 12
MAX_SITEMAP_URLS = 50_000

# Pages with nothing for a search engine: forms, accounts, the APIs, and search results (endless).
PRIVATE_PREFIXES = (
    "/admin/",
    "/api/",
    "/dashboard/",
    "/login",
    "/logout",
    "/oauth/",
    "/search",
    "/settings",
    "/signup",
    "/source/",
    "/sync/",
)


@dataclass(frozen=True)
class HomePage:
    newest: list[search.ItemCard]
    popular: list[search.ItemCard]
    tags: list[tags.Tag]


async def home_page(pool: asyncpg.Pool) -> HomePage:
    async with pool.acquire() as conn:
        newest = await queries.list_newest_items(conn, limit=HOME_LIST_SIZE)
        popular = await queries.list_popular_items(conn, limit=HOME_LIST_SIZE)
        cards = await search.item_cards(conn, [*newest, *popular])
        roots = await tags.list_root_tags(conn)
    return HomePage(cards[: len(newest)], cards[len(newest) :], roots)


def _lastmod(when: datetime | None) -> str:
    return f"<lastmod>{when.date().isoformat()}</lastmod>" if when is not None else ""


async def sitemap_xml(pool: asyncpg.Pool, base_url: str) -> str:
    base = base_url.rstrip("/")
    rows = await queries.list_sitemap_entries(pool, limit=MAX_SITEMAP_URLS - 1)
    tag_rows = await queries.list_tag_paths_with_items(pool)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    lines.append(f"<url><loc>{escape(base)}/</loc></url>")
    for row in rows:
        path = "/".join(p for p in (f"@{row['username']}", row["project"], row["item"]) if p)
        lines.append(f"<url><loc>{escape(base)}/{escape(path)}</loc>{_lastmod(row['updated_at'])}</url>")
    for row in tag_rows[: max(MAX_SITEMAP_URLS - 1 - len(rows), 0)]:
        lines.append(f"<url><loc>{escape(base)}/tags/{escape(row['slug'])}</loc>{_lastmod(row['updated_at'])}</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots_txt(base_url: str) -> str:
    disallowed = "".join(f"Disallow: {prefix}\n" for prefix in PRIVATE_PREFIXES)
    return f"User-agent: *\n{disallowed}\nSitemap: {base_url.rstrip('/')}/sitemap.xml\n"
