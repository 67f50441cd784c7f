"""Search: one box over public items and projects, for `/search` and ``GET /api/v1/search``.

Matching is PostgreSQL full text in English (``items.search_vector`` on title, description and body,
``projects.search_vector`` on title and description; ``websearch_to_tsquery``, so quotes, ``or`` and ``-word``
work). Items are ranked in two tiers, each by popularity (sales, downloads and plays): those whose title has
the words (``items.title_vector``, its own GIN index), then those that have them only in the description or body;
each tier is an index scan that stops at the page's end, so a common word costs what a rare one does. Projects
(far fewer) are ranked by ``ts_rank_cd``, title matches first.

Typos: when the words as typed find nothing, each word that no title has is replaced by the most alike word of
the titles (pg_trgm similarity at `TYPO_THRESHOLD` over ``search_words``, a GIN trigram index of every title's
words, kept by triggers), so "shdaers" finds "Shaders"; the results name the corrected words (``corrected``).

Filters: ``type`` (an item type or a project type: matches either the item's or its project's), ``tag`` (the tag
and every tag below it), ``label`` (repeatable; the project must have all), ``price`` (``free``: price 0, ``paid``).
Tag and price describe items, so with either only items are listed. With no text, the filters list the newest
items; with neither, there is nothing to search (the API answers 422, the page shows the empty box).

Only public items of public projects whose creator is not suspended are found (`queries.discovery.PUBLIC_ITEM`).

Interface: `SearchQuery`, `parse_search` (raises `ValidationFailed`), `search` → `SearchResults`; `ItemCard`,
`ProjectCard`, `item_cards` (records → cards with their project's labels), `ITEM_TYPES`, `PROJECT_TYPES`.
Nothing here writes; each search runs in one transaction (so its planner and trigram settings stay local to it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import ValidationFailed
from mnwd.store import labels as labels_
from mnwd.store import tags as tags_
from mnwd.store.queries import discovery as queries

__all__ = [
    "ITEM_TYPES",
    "MAX_PAGE",
    "MAX_QUERY_CHARS",
    "PAGE_SIZE",
    "PRICES",
    "PROJECT_TYPES",
    "TYPO_THRESHOLD",
    "ItemCard",
    "ProjectCard",
    "SearchQuery",
    "SearchResults",
    "item_cards",
    "parse_search",
    "search",
]

ITEM_TYPES = ("article", "audio", "video", "download", "image", "bundle", "other")
PROJECT_TYPES = ("music", "software", "podcast", "writing", "video", "art", "game", "course", "other")
PRICES = ("free", "paid")
MAX_QUERY_CHARS = 200
MAX_LABELS = 5
PAGE_SIZE = 20
MAX_PAGE = 50
# similarity("shdaers", "shaders") is 0.33: two swapped letters in a seven-letter word. A word is corrected only
# when no title has it, and only when the words as typed find nothing.
TYPO_THRESHOLD = 0.3
MAX_CORRECTED_WORDS = 8
WORD = re.compile(r"[^\W_]{3,40}")
FAILED = "The search was not run."


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    type: str | None = None
    tag: str | None = None
    labels: tuple[str, ...] = ()
    price: str | None = None
    page: int = 1
    per_page: int = PAGE_SIZE

    @property
    def has_filters(self) -> bool:
        return bool(self.type or self.tag or self.labels or self.price)

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.has_filters

    @property
    def items_only(self) -> bool:
        return self.tag is not None or self.price is not None


def _error(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(FAILED, errors=[{"field": field_name, "message": message}])


def _one_line(raw: str, field_name: str) -> str:
    # Tabs and line breaks (a pasted title) are spaces; any other control character is refused.
    text = " ".join(raw.split())
    if tags_.has_control_character(text) or "\x00" in raw:
        raise _error(field_name, "Remove the control characters from the search.")
    return text


def parse_search(
    *,
    q: str | None,
    type: str | None = None,
    tag: str | None = None,
    labels: Sequence[str] = (),
    price: str | None = None,
    page: str | None = None,
    per_page: int = PAGE_SIZE,
) -> SearchQuery:
    """The parameters of a search request, checked (422 naming the field); '' counts as not given."""
    if q is not None and len(q) > MAX_QUERY_CHARS * 4:
        raise _error("q", f"Search for at most {MAX_QUERY_CHARS} characters.")
    text = _one_line(q or "", "q")
    if len(text) > MAX_QUERY_CHARS:
        raise _error("q", f"Search for at most {MAX_QUERY_CHARS} characters.")
    kind = (type or "").strip() or None
    if kind is not None and kind not in ITEM_TYPES and kind not in PROJECT_TYPES:
        kinds = ", ".join(sorted({*ITEM_TYPES, *PROJECT_TYPES}))
        raise _error("type", f"Choose one of: {kinds}.")
    tag_slug = (tag or "").strip() or None
    if tag_slug is not None and not tags_.SLUG.fullmatch(tag_slug):
        raise _error("tag", "There is no such tag.")
    label_slugs = tuple(dict.fromkeys(s.strip() for s in labels if s.strip()))
    if len(label_slugs) > MAX_LABELS:
        raise _error("label", f"Choose at most {MAX_LABELS} labels.")
    if any(not tags_.SLUG.fullmatch(s) for s in label_slugs):
        raise _error("label", "There is no such label.")
    cost = (price or "").strip() or None
    if cost is not None and cost not in PRICES:
        raise _error("price", "Choose free or paid.")
    number = 1
    if page:
        if not page.isdigit() or not 1 <= int(page[:6]) <= MAX_PAGE or len(page) > 6:
            raise _error("page", f"Give a page from 1 to {MAX_PAGE}.")
        number = int(page)
    return SearchQuery(text, kind, tag_slug, label_slugs, cost, number, per_page)


@dataclass(frozen=True)
class ItemCard:
    """An item as listed (the fields ``store/_cards.html``'s ``item_card`` shows, and the search API's)."""

    id: uuid.UUID
    url: str
    title: str
    slug: str
    item_type: str
    description: str | None
    price_cents: int
    currency: str
    pwyw_enabled: bool
    creator: str
    project_id: uuid.UUID
    project_slug: str
    project_title: str
    published_at: datetime
    labels: list[labels_.Label] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectCard:
    id: uuid.UUID
    url: str
    title: str
    slug: str
    project_type: str
    description: str | None
    creator: str
    labels: list[labels_.Label] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResults:
    query: SearchQuery
    items: list[ItemCard]
    projects: list[ProjectCard]
    has_more: bool
    tag: tags_.Tag | None = None
    labels: list[labels_.Label] = field(default_factory=list)
    # The words searched for instead, typos corrected, when the words typed found nothing.
    corrected: str | None = None


def _item_card(row: asyncpg.Record, labels: list[labels_.Label]) -> ItemCard:
    return ItemCard(
        id=row["id"],
        url=f"/@{row['username']}/{row['project_slug']}/{row['slug']}",
        title=row["title"],
        slug=row["slug"],
        item_type=row["item_type"],
        description=row["description"],
        price_cents=row["price_cents"],
        currency=row["currency"],
        pwyw_enabled=row["pwyw_enabled"],
        creator=row["username"],
        project_id=row["project_id"],
        project_slug=row["project_slug"],
        project_title=row["project_title"],
        published_at=row["published_at"],
        labels=labels,
    )


async def item_cards(conn: asyncpg.Pool | asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[ItemCard]:
    """Item records (`queries.discovery.ITEM_CARD_COLUMNS`) as cards, with their projects' labels."""
    by_project = await labels_.labels_for_projects(conn, [r["project_id"] for r in rows])
    return [_item_card(r, by_project.get(r["project_id"], [])) for r in rows]


async def _corrected(conn: asyncpg.Connection, text: str) -> str | None:
    """``text`` with each word no title has replaced by the most alike word that one has; None when nothing
    changes. Quotes, ``-`` and ``or`` stay where they are."""
    words = list(dict.fromkeys(w.lower() for w in WORD.findall(text)))[:MAX_CORRECTED_WORDS]
    if not words:
        return None
    fixes = {
        r["word"]: r["suggestion"]
        for r in await queries.list_word_suggestions(conn, words)
        if not r["known"] and r["suggestion"] is not None
    }
    if not fixes:
        return None
    return WORD.sub(lambda m: fixes.get(m.group(0).lower(), m.group(0)), text)


def _item_filter(query: SearchQuery, tag_ids: list[uuid.UUID] | None, label_ids: list[uuid.UUID]) -> queries.SqlFilter:
    where = queries.SqlFilter(queries.PUBLIC_ITEM)
    if query.type:
        # A value that names only one kind of type can match only that column: one condition the planner can use.
        kind = where.param(query.type)
        matches = [f"i.item_type = {kind}"] if query.type in ITEM_TYPES else []
        matches += [f"p.project_type = {kind}"] if query.type in PROJECT_TYPES else []
        where.add(" OR ".join(matches))
    if tag_ids is not None:
        ids = where.param(tag_ids)
        where.add(f"EXISTS (SELECT 1 FROM item_tags it WHERE it.item_id = i.id AND it.tag_id = ANY({ids}::uuid[]))")
    if label_ids:
        ids = where.param(label_ids)
        where.add(
            f"(SELECT count(*) FROM project_labels pl WHERE pl.project_id = p.id AND pl.label_id = ANY({ids}::uuid[])) "
            f"= cardinality({ids}::uuid[])"
        )
    if query.price == "free":
        where.add("i.price_cents = 0")
    elif query.price == "paid":
        where.add("i.price_cents > 0")
    return where


def _project_filter(query: SearchQuery, label_ids: list[uuid.UUID]) -> queries.SqlFilter:
    where = queries.SqlFilter(queries.PUBLIC_PROJECT)
    if query.type:
        where.add(f"p.project_type = {where.param(query.type)}")
    if label_ids:
        ids = where.param(label_ids)
        where.add(
            f"(SELECT count(*) FROM project_labels pl WHERE pl.project_id = p.id AND pl.label_id = ANY({ids}::uuid[])) "
            f"= cardinality({ids}::uuid[])"
        )
    return where


async def search(pool: asyncpg.Pool, query: SearchQuery) -> SearchResults:
    """Runs the search; an unknown tag or label is a 422 naming ``tag`` or ``label``."""

    async def body(tx: Tx) -> SearchResults:
        conn = tx.conn
        tag = None
        tag_ids = None
        if query.tag is not None:
            tag = await tags_.get_tag_by_slug(conn, query.tag)
            if tag is None:
                raise _error("tag", f"There is no tag {query.tag!r}.")
            tag_ids = await tags_.subtree_tag_ids(conn, tag)
        chosen = await labels_.resolve_labels(conn, query.labels, field="label", failed=FAILED)
        label_ids = [label.id for label in chosen]
        if query.is_empty:
            return SearchResults(query, [], [], False, tag, chosen)
        offset = (query.page - 1) * query.per_page
        size = query.per_page + 1
        await queries.prepare_search(conn, TYPO_THRESHOLD)

        async def find(text: str, limit: int, skip: int) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
            # Title matches come first: when they fill the page, the rest need not be looked at.
            where = _item_filter(query, tag_ids, label_ids)
            items = await queries.list_matching_items(
                conn, text, where, limit=limit, offset=skip, titles_only=bool(text)
            )
            if text and len(items) < limit:
                where = _item_filter(query, tag_ids, label_ids)
                items = await queries.list_matching_items(conn, text, where, limit=limit, offset=skip)
            if query.items_only:
                return items, []
            where = _project_filter(query, label_ids)
            return items, await queries.list_matching_projects(conn, text, where, limit=limit, offset=skip)

        item_rows, project_rows = await find(query.text, size, offset)
        corrected = None
        # Nothing for these words (on any page, for a later one): try them with their typos corrected.
        if (
            query.text
            and not item_rows
            and not project_rows
            and (query.page == 1 or not any(await find(query.text, 1, 0)))
        ):
            corrected = await _corrected(conn, query.text)
            if corrected is not None:
                item_rows, project_rows = await find(corrected, size, offset)
        has_more = len(item_rows) > query.per_page or len(project_rows) > query.per_page
        item_rows, project_rows = item_rows[: query.per_page], project_rows[: query.per_page]
        by_project = await labels_.labels_for_projects(
            conn, [r["project_id"] for r in item_rows] + [r["id"] for r in project_rows]
        )
        items = [_item_card(r, by_project.get(r["project_id"], [])) for r in item_rows]
        projects = [
            ProjectCard(
                id=r["id"],
                url=f"/@{r['username']}/{r['slug']}",
                title=r["title"],
                slug=r["slug"],
                project_type=r["project_type"],
                description=r["description"],
                creator=r["username"],
                labels=by_project.get(r["id"], []),
            )
            for r in project_rows
        ]
        return SearchResults(query, items, projects, has_more, tag, chosen, corrected)

    return await run_tx(pool, "store.search", body, isolation="repeatable_read")
