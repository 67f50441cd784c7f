"""SQL of discovery: search, tags, labels, the home page's lists and the sitemap. Functions take a pool or a
connection first. "Public" is one rule here (`PUBLIC_ITEM`): the item and its project are public and the creator
is not suspended."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from mnwd.errors import Conflict, ValidationFailed

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# A suspended creator's work is hidden: a hashed list of the few suspended users (users_suspended_idx), so the
# searches need not join users for every candidate row.
NOT_SUSPENDED = "p.user_id NOT IN (SELECT id FROM users WHERE suspended_at IS NOT NULL)"
PUBLIC_ITEM = f"i.is_public AND p.is_public AND {NOT_SUSPENDED}"
PUBLIC_PROJECT = f"p.is_public AND {NOT_SUSPENDED}"
# Same expression as the index items_public_newest_idx (migration 0022).
NEWEST = "coalesce(i.published_at, i.created_at)"
POPULARITY = "(i.sales_count + i.download_count + i.play_count)"

ITEM_CARD_COLUMNS = f"""
    i.id, i.title, i.slug, i.item_type, i.description, i.price_cents, i.currency, i.pwyw_enabled,
    {NEWEST} AS published_at, p.id AS project_id, p.slug AS project_slug, p.title AS project_title,
    u.username
"""
ITEM_JOINS = "items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id"
ITEM_PROJECT_JOINS = "items i JOIN projects p ON p.id = i.project_id"
PROJECT_CARD_COLUMNS = "p.id, p.title, p.slug, p.project_type, p.description, p.updated_at, u.username"
PROJECT_JOINS = "projects p JOIN users u ON u.id = p.user_id"
TAG_COLUMNS = "id, parent_id, name, slug, path, description"
LABEL_COLUMNS = "id, slug, display_name, definition, examples, nonexamples, sort_order"


async def _fetch(conn: Conn, sql: str, *args: object) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows


async def _fetchrow(conn: Conn, sql: str, *args: object) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
    return row


class SqlFilter:
    """A WHERE clause built from constant fragments, the values going in as ``$n`` parameters."""

    def __init__(self, *conditions: str) -> None:
        self.conditions = list(conditions)
        self.params: list[object] = []

    def param(self, value: object) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def where(self) -> str:
        return " AND ".join(f"({c})" for c in self.conditions)


async def prepare_search(conn: asyncpg.Connection, typo_threshold: float) -> None:
    """For the rest of this transaction: plan each search for its own words (a generic plan cannot know how
    many rows a word matches, and picks badly), and how alike a word must be to count as a typo of it."""
    await conn.execute(
        "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
        "set_config('pg_trgm.similarity_threshold', $1, true)",
        str(typo_threshold),
    )


async def list_word_suggestions(conn: Conn, words: Sequence[str]) -> list[asyncpg.Record]:
    """For each of ``words``: ``known`` (some title has it) and ``suggestion``, the most alike word of the
    titles (trigram similarity above the threshold) or NULL."""
    return await _fetch(
        conn,
        """
        SELECT w.word,
               EXISTS (SELECT 1 FROM search_words s WHERE s.word = w.word) AS known,
               (SELECT s.word FROM search_words s WHERE s.word % w.word
                ORDER BY similarity(s.word, w.word) DESC, s.word LIMIT 1) AS suggestion
        FROM unnest($1::text[]) WITH ORDINALITY AS w(word, n)
        ORDER BY w.n
        """,
        list(words),
    )


def _matching_items_sql(text: str, where: SqlFilter, *, limit: int, offset: int, titles_only: bool) -> str:
    """Public items found for ``text``: with no text, the newest passing ``where``. With text, those whose title
    has the words (full text, ``items_title_vector_idx``), then (unless ``titles_only``) those that have them only
    in the description or body (``items_search_vector_idx``), each by popularity. Each list is an index scan
    that keeps ``offset + limit`` rows."""
    if not text:
        return (
            f"SELECT {ITEM_CARD_COLUMNS}, 0.0::float4 AS score FROM {ITEM_JOINS} WHERE {where.where} "
            f"ORDER BY {NEWEST} DESC, i.id LIMIT {where.param(limit)} OFFSET {where.param(offset)}"
        )
    tsq = f"websearch_to_tsquery('english', {where.param(text)})"
    enough = where.param(offset + limit)
    in_text = f"""
            UNION ALL
            (SELECT i.id, 0 AS tier, {POPULARITY} AS popularity FROM {ITEM_PROJECT_JOINS}
             WHERE {where.where} AND i.search_vector @@ {tsq}
             ORDER BY {POPULARITY} DESC, i.id LIMIT {enough})"""
    return f"""
        WITH hits AS (
            (SELECT i.id, 1 AS tier, {POPULARITY} AS popularity FROM {ITEM_PROJECT_JOINS}
             WHERE {where.where} AND i.title_vector @@ {tsq}
             ORDER BY {POPULARITY} DESC, i.id LIMIT {enough}){"" if titles_only else in_text}
        ), ranked AS (
            SELECT id, max(tier) AS tier, max(popularity) AS popularity FROM hits GROUP BY id
        )
        SELECT {ITEM_CARD_COLUMNS}, r.tier::float4 AS score
        FROM ranked r JOIN items i ON i.id = r.id JOIN projects p ON p.id = i.project_id
             JOIN users u ON u.id = p.user_id
        ORDER BY r.tier DESC, r.popularity DESC, i.id
        LIMIT {where.param(limit)} OFFSET {where.param(offset)}
        """


def _matching_projects_sql(text: str, where: SqlFilter, *, limit: int, offset: int) -> str:
    """Public projects found for ``text``, ranked by ``ts_rank_cd``, those whose title has the words first; with
    no text, the newest."""
    if not text:
        return (
            f"SELECT {PROJECT_CARD_COLUMNS}, 0.0::float4 AS score FROM {PROJECT_JOINS} WHERE {where.where} "
            f"ORDER BY p.created_at DESC, p.id LIMIT {where.param(limit)} OFFSET {where.param(offset)}"
        )
    q = where.param(text)
    return f"""
        SELECT {PROJECT_CARD_COLUMNS},
               ((to_tsvector('english', p.title) @@ tsq.query)::int + ts_rank_cd(p.search_vector, tsq.query))::float4
               AS score
        FROM {PROJECT_JOINS}, websearch_to_tsquery('english', {q}) AS tsq(query)
        WHERE {where.where} AND p.search_vector @@ tsq.query
        ORDER BY score DESC, p.created_at DESC, p.id
        LIMIT {where.param(limit)} OFFSET {where.param(offset)}
        """


async def list_matching_items(
    conn: Conn, text: str, where: SqlFilter, *, limit: int, offset: int, titles_only: bool = False
) -> list[asyncpg.Record]:
    sql = _matching_items_sql(text, where, limit=limit, offset=offset, titles_only=titles_only)
    return await _fetch(conn, sql, *where.params)


async def list_matching_projects(
    conn: Conn, text: str, where: SqlFilter, *, limit: int, offset: int
) -> list[asyncpg.Record]:
    sql = _matching_projects_sql(text, where, limit=limit, offset=offset)
    return await _fetch(conn, sql, *where.params)


async def explain_matching_items(conn: asyncpg.Connection, text: str, where: SqlFilter, *, limit: int) -> str:
    """The plan of `list_matching_items` as it runs (``EXPLAIN ANALYZE``), for the benchmark."""
    sql = _matching_items_sql(text, where, limit=limit, offset=0, titles_only=False)
    rows = await _fetch(conn, f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", *where.params)
    return "\n".join(r[0] for r in rows)


async def explain_word_suggestions(conn: asyncpg.Connection, words: Sequence[str]) -> str:
    rows = await _fetch(
        conn,
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT w, (SELECT s.word FROM search_words s WHERE s.word % w "
        "ORDER BY similarity(s.word, w) DESC, s.word LIMIT 1) FROM unnest($1::text[]) AS w",
        list(words),
    )
    return "\n".join(r[0] for r in rows)


# Tags


async def list_tags(conn: Conn) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {TAG_COLUMNS} FROM tags ORDER BY path")


async def list_root_tags(conn: Conn) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE parent_id IS NULL ORDER BY name")


async def get_tag(conn: Conn, tag_id: uuid.UUID) -> asyncpg.Record | None:
    return await _fetchrow(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE id = $1", tag_id)


async def get_tag_by_slug(conn: Conn, slug: str) -> asyncpg.Record | None:
    return await _fetchrow(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE slug = $1", slug)


async def list_tags_by_slug(conn: Conn, slugs: Sequence[str]) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE slug = ANY($1::text[])", list(slugs))


async def list_tags_by_path(conn: Conn, paths: Sequence[str]) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE path = ANY($1::text[]) ORDER BY path", list(paths))


async def list_child_tags(conn: Conn, tag_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {TAG_COLUMNS} FROM tags WHERE parent_id = $1 ORDER BY name", tag_id)


def _like_prefix(path: str) -> str:
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"


async def list_subtree_tag_ids(conn: Conn, path: str) -> list[uuid.UUID]:
    """The tag at ``path`` and every tag below it."""
    rows = await conn.fetch("SELECT id FROM tags WHERE path = $1 OR path LIKE $2 ESCAPE '\\'", path, _like_prefix(path))
    return [r["id"] for r in rows]


async def count_subtree(conn: Conn, path: str) -> asyncpg.Record:
    """How many tags (the one at ``path`` included) and taggings a deletion at ``path`` would remove."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        WITH subtree AS (SELECT id FROM tags WHERE path = $1 OR path LIKE $2 ESCAPE '\\')
        SELECT (SELECT count(*) FROM subtree) AS tags,
               (SELECT count(*) FROM item_tags WHERE tag_id IN (SELECT id FROM subtree)) AS taggings
        """,
        path,
        _like_prefix(path),
    )
    return row


_TAG_VIOLATIONS = {
    "tags_slug_key": ("slug", "This slug is taken by another tag."),
    "tags_slug_format": ("slug", "Use lowercase letters, digits, - and _, starting with a letter or digit."),
    "tags_name_not_blank": ("name", "Give the tag a name."),
    "tags_parent_id_fkey": ("parent", "There is no such parent tag."),
}


def _tag_violation(exc: asyncpg.IntegrityConstraintViolationError, detail: str) -> ValidationFailed | Conflict:
    known = _TAG_VIOLATIONS.get(getattr(exc, "constraint_name", None) or "")
    if known is None:
        return Conflict(detail)
    return ValidationFailed(detail, errors=[{"field": known[0], "message": known[1]}])


async def insert_tag(
    conn: Conn, *, parent_id: uuid.UUID | None, name: str, slug: str, path: str, description: str | None
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            f"INSERT INTO tags (parent_id, name, slug, path, description) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {TAG_COLUMNS}",
            parent_id,
            name,
            slug,
            path,
            description,
        )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _tag_violation(exc, "The tag was not created.") from None
    return row


async def update_tag(conn: Conn, tag_id: uuid.UUID, *, name: str, description: str | None) -> asyncpg.Record | None:
    try:
        return await _fetchrow(
            conn,
            f"UPDATE tags SET name = $2, description = $3 WHERE id = $1 RETURNING {TAG_COLUMNS}",
            tag_id,
            name,
            description,
        )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _tag_violation(exc, "The tag was not saved.") from None


async def delete_tag(conn: Conn, tag_id: uuid.UUID) -> bool:
    """Deletes the tag; its children and its taggings go with it (ON DELETE CASCADE)."""
    return await conn.fetchval("DELETE FROM tags WHERE id = $1 RETURNING true", tag_id) is not None


async def get_item_owner_for_update(conn: asyncpg.Connection, item_id: uuid.UUID) -> uuid.UUID | None:
    """The creator of the item, its row locked until the transaction ends (so two changes of its tags or of
    its project's labels take turns)."""
    owner: uuid.UUID | None = await conn.fetchval(
        "SELECT p.user_id FROM items i JOIN projects p ON p.id = i.project_id WHERE i.id = $1 FOR UPDATE OF i",
        item_id,
    )
    return owner


async def replace_item_tags(
    conn: asyncpg.Connection, item_id: uuid.UUID, tag_ids: Sequence[uuid.UUID], primary_id: uuid.UUID | None
) -> None:
    await conn.execute("DELETE FROM item_tags WHERE item_id = $1", item_id)
    await conn.execute(
        "INSERT INTO item_tags (item_id, tag_id, is_primary) "
        "SELECT $1, t.id, t.id = $3 FROM unnest($2::uuid[]) AS t(id)",
        item_id,
        list(tag_ids),
        primary_id,
    )
    # The item's page shows its tags: its revision (updated_at) moves, so kept pages on every daemon go.
    await conn.execute("UPDATE items SET updated_at = now() WHERE id = $1", item_id)


async def list_item_tags(conn: Conn, item_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.id, t.parent_id, t.name, t.slug, t.path, t.description, it.is_primary "
        "FROM item_tags it JOIN tags t ON t.id = it.tag_id WHERE it.item_id = $1 "
        "ORDER BY it.is_primary DESC, t.path",
        item_id,
    )


async def list_items_in_tags(
    conn: Conn, tag_ids: Sequence[uuid.UUID], *, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Public items tagged with any of ``tag_ids``, newest first."""
    return await _fetch(
        conn,
        f"""
        SELECT {ITEM_CARD_COLUMNS}, 0.0::float4 AS score FROM {ITEM_JOINS}
        WHERE {PUBLIC_ITEM}
          AND EXISTS (SELECT 1 FROM item_tags it WHERE it.item_id = i.id AND it.tag_id = ANY($1::uuid[]))
        ORDER BY {NEWEST} DESC, i.id LIMIT $2 OFFSET $3
        """,
        list(tag_ids),
        limit,
        offset,
    )


# Labels


async def list_labels(conn: Conn) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {LABEL_COLUMNS} FROM labels ORDER BY sort_order, display_name")


async def get_label(conn: Conn, label_id: uuid.UUID) -> asyncpg.Record | None:
    return await _fetchrow(conn, f"SELECT {LABEL_COLUMNS} FROM labels WHERE id = $1", label_id)


async def list_labels_by_slug(conn: Conn, slugs: Sequence[str]) -> list[asyncpg.Record]:
    return await _fetch(conn, f"SELECT {LABEL_COLUMNS} FROM labels WHERE slug = ANY($1::text[])", list(slugs))


_LABEL_VIOLATIONS = {
    "labels_slug_key": ("slug", "This slug is taken by another label."),
    "labels_slug_format": ("slug", "Use lowercase letters, digits, - and _, starting with a letter or digit."),
}


def _label_violation(exc: asyncpg.IntegrityConstraintViolationError, detail: str) -> ValidationFailed | Conflict:
    known = _LABEL_VIOLATIONS.get(getattr(exc, "constraint_name", None) or "")
    if known is None:
        return Conflict(detail)
    return ValidationFailed(detail, errors=[{"field": known[0], "message": known[1]}])


async def insert_label(
    conn: Conn,
    *,
    slug: str,
    display_name: str,
    definition: str,
    examples: Sequence[str],
    nonexamples: Sequence[str],
    sort_order: int,
) -> asyncpg.Record:
    try:
        row: asyncpg.Record = await conn.fetchrow(
            f"INSERT INTO labels (slug, display_name, definition, examples, nonexamples, sort_order) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {LABEL_COLUMNS}",
            slug,
            display_name,
            definition,
            list(examples),
            list(nonexamples),
            sort_order,
        )
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _label_violation(exc, "The label was not created.") from None
    return row


async def update_label(
    conn: Conn,
    label_id: uuid.UUID,
    *,
    display_name: str,
    definition: str,
    examples: Sequence[str],
    nonexamples: Sequence[str],
    sort_order: int,
) -> asyncpg.Record | None:
    return await _fetchrow(
        conn,
        f"UPDATE labels SET display_name = $2, definition = $3, examples = $4, nonexamples = $5, sort_order = $6 "
        f"WHERE id = $1 RETURNING {LABEL_COLUMNS}",
        label_id,
        display_name,
        definition,
        list(examples),
        list(nonexamples),
        sort_order,
    )


async def delete_label(conn: Conn, label_id: uuid.UUID) -> bool:
    return await conn.fetchval("DELETE FROM labels WHERE id = $1 RETURNING true", label_id) is not None


async def count_label_projects(conn: Conn, label_id: uuid.UUID) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM project_labels WHERE label_id = $1", label_id)
    return count


async def get_project_owner_for_update(conn: asyncpg.Connection, project_id: uuid.UUID) -> uuid.UUID | None:
    owner: uuid.UUID | None = await conn.fetchval("SELECT user_id FROM projects WHERE id = $1 FOR UPDATE", project_id)
    return owner


async def replace_project_labels(
    conn: asyncpg.Connection, project_id: uuid.UUID, label_ids: Sequence[uuid.UUID]
) -> None:
    await conn.execute("DELETE FROM project_labels WHERE project_id = $1", project_id)
    await conn.execute(
        "INSERT INTO project_labels (project_id, label_id) SELECT $1, unnest($2::uuid[])", project_id, list(label_ids)
    )
    # Its pages and its items' pages show the labels: the project's revision (updated_at) moves.
    await conn.execute("UPDATE projects SET updated_at = now() WHERE id = $1", project_id)


async def list_labels_of_projects(conn: Conn, project_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """``project_id`` and the label's columns, for every label of the given projects."""
    return await _fetch(
        conn,
        f"SELECT pl.project_id, {', '.join('l.' + c.strip() for c in LABEL_COLUMNS.split(','))} "
        "FROM project_labels pl JOIN labels l ON l.id = pl.label_id WHERE pl.project_id = ANY($1::uuid[]) "
        "ORDER BY l.sort_order, l.display_name",
        list(project_ids),
    )


# The home page and the sitemap


async def list_newest_items(conn: Conn, *, limit: int) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        f"SELECT {ITEM_CARD_COLUMNS}, 0.0::float4 AS score FROM {ITEM_JOINS} WHERE {PUBLIC_ITEM} "
        f"ORDER BY {NEWEST} DESC, i.id LIMIT $1",
        limit,
    )


async def list_popular_items(conn: Conn, *, limit: int) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        f"SELECT {ITEM_CARD_COLUMNS}, {POPULARITY}::float4 AS score FROM {ITEM_JOINS} "
        f"WHERE {PUBLIC_ITEM} AND {POPULARITY} > 0 ORDER BY {POPULARITY} DESC, i.id LIMIT $1",
        limit,
    )


async def list_sitemap_entries(conn: Conn, *, limit: int) -> list[asyncpg.Record]:
    """(kind, username, project slug, item slug, last change) of every public creator, project and item,
    creators first; at most ``limit``."""
    return await _fetch(
        conn,
        f"""
        (SELECT 'creator' AS kind, u.username, NULL::text AS project, NULL::text AS item,
                max(p.updated_at) AS updated_at
         FROM {PROJECT_JOINS} WHERE {PUBLIC_PROJECT} GROUP BY u.username ORDER BY u.username)
        UNION ALL
        (SELECT 'project', u.username, p.slug, NULL, p.updated_at
         FROM {PROJECT_JOINS} WHERE {PUBLIC_PROJECT} ORDER BY u.username, p.slug)
        UNION ALL
        (SELECT 'item', u.username, p.slug, i.slug, i.updated_at
         FROM {ITEM_JOINS} WHERE {PUBLIC_ITEM} ORDER BY u.username, p.slug, i.slug)
        LIMIT $1
        """,
        limit,
    )


async def list_tag_paths_with_items(conn: Conn) -> list[asyncpg.Record]:
    """Slug and path of every tag that has a public item (for the sitemap)."""
    return await _fetch(
        conn,
        f"""
        SELECT t.slug, t.updated_at FROM tags t
        WHERE EXISTS (SELECT 1 FROM item_tags it JOIN {ITEM_JOINS} ON i.id = it.item_id
                      WHERE it.tag_id = t.id AND {PUBLIC_ITEM})
        ORDER BY t.path
        """,
    )
