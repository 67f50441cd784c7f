"""SQL of the mailing domain: lists, subscribers, imports, broadcasts (the only module that talks to the pool).

A subscriber's address is its own ``email`` or, for a user subscriber, the user's; ``status`` is derived:
``unsubscribed`` (``unsubscribed_at`` set), ``confirmed`` (``confirmed_at`` set), else ``pending``. Addresses in
``email_suppressions`` (compared case-insensitively) are never chosen as recipients.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

__all__ = [
    "count_existing_and_suppressed",
    "count_imported",
    "count_recipients_after",
    "count_subscribers",
    "delete_list",
    "delete_subscriber",
    "get_broadcast",
    "get_broadcast_counts",
    "get_import",
    "get_list",
    "get_project",
    "get_subscriber",
    "insert_broadcast",
    "insert_import",
    "insert_imported_subscribers",
    "insert_list",
    "insert_manual_subscriber",
    "insert_recipient",
    "insert_signup",
    "is_suppressed",
    "list_broadcasts",
    "list_imports",
    "list_lists",
    "list_next_recipients",
    "list_projects_of",
    "list_subscribers",
    "update_broadcast",
    "update_broadcast_state",
    "update_import",
    "update_import_progress",
    "update_list_name",
    "update_stale_imports",
    "update_subscriber_confirmed",
    "update_subscriber_unsubscribed",
    "upsert_signup_subscriber",
    "upsert_user_subscriber",
]


async def _fetch(conn: Conn, sql: str, *args: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows


async def _fetchrow(conn: Conn, sql: str, *args: Any) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
    return row


_ADDRESS = "coalesce(s.email, u.email)"
_STATUS = (
    "CASE WHEN s.unsubscribed_at IS NOT NULL THEN 'unsubscribed' "
    "WHEN s.confirmed_at IS NOT NULL THEN 'confirmed' ELSE 'pending' END"
)
_SUPPRESSED = f"EXISTS (SELECT 1 FROM email_suppressions x WHERE lower(x.email) = lower({_ADDRESS}))"
# An address subscribed twice, once bare and once as a user's account, gets the user's row only.
_SHADOWED = (
    "(s.email IS NOT NULL AND EXISTS (SELECT 1 FROM users u2 JOIN mailing_list_subscribers s2 ON s2.user_id = u2.id"
    " WHERE lower(u2.email) = lower(s.email) AND s2.list_id = s.list_id AND s2.confirmed_at IS NOT NULL"
    " AND s2.unsubscribed_at IS NULL))"
)


# --- projects and lists ---------------------------------------------------------------------------------------


async def get_project(conn: Conn, project_id: uuid.UUID) -> asyncpg.Record | None:
    return await _fetchrow(
        conn,
        "SELECT p.id, p.user_id, p.slug, p.title, p.is_public, u.username FROM projects p"
        " JOIN users u ON u.id = p.user_id WHERE p.id = $1",
        project_id,
    )


async def list_projects_of(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn, "SELECT id, slug, title, is_public FROM projects WHERE user_id = $1 ORDER BY title, id", user_id
    )


async def list_lists(conn: Conn, project_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT l.id, l.project_id, l.list_type, l.name, l.description, l.created_at,"
        " count(*) FILTER (WHERE s.id IS NOT NULL AND s.unsubscribed_at IS NULL AND s.confirmed_at IS NOT NULL)"
        "   AS confirmed,"
        " count(*) FILTER (WHERE s.id IS NOT NULL AND s.unsubscribed_at IS NULL AND s.confirmed_at IS NULL)"
        "   AS pending,"
        " count(*) FILTER (WHERE s.unsubscribed_at IS NOT NULL) AS unsubscribed"
        " FROM mailing_lists l LEFT JOIN mailing_list_subscribers s ON s.list_id = l.id"
        " WHERE l.project_id = $1 GROUP BY l.id ORDER BY l.created_at, l.id",
        project_id,
    )


async def insert_list(conn: Conn, project_id: uuid.UUID, list_type: str, name: str) -> uuid.UUID:
    """Raises `asyncpg.UniqueViolationError` (``mailing_lists_project_id_list_type_key``) for a taken type."""
    list_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, $2, $3) RETURNING id",
        project_id,
        list_type,
        name,
    )
    return list_id


async def get_list(conn: Conn, list_id: uuid.UUID) -> asyncpg.Record | None:
    return await _fetchrow(
        conn,
        "SELECT l.id, l.project_id, l.list_type, l.name, l.description, p.user_id AS owner_id,"
        " p.title AS project_title, p.slug AS project_slug, p.is_public, u.username AS owner_username,"
        " u.email AS owner_email"
        " FROM mailing_lists l JOIN projects p ON p.id = l.project_id JOIN users u ON u.id = p.user_id"
        " WHERE l.id = $1",
        list_id,
    )


async def update_list_name(conn: Conn, list_id: uuid.UUID, name: str) -> None:
    await conn.execute("UPDATE mailing_lists SET name = $2 WHERE id = $1", list_id, name)


async def delete_list(conn: Conn, list_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM mailing_lists WHERE id = $1", list_id)


# --- subscribers ----------------------------------------------------------------------------------------------


async def count_subscribers(conn: Conn, list_id: uuid.UUID) -> asyncpg.Record:
    return await _fetchrow(
        conn,
        f"SELECT count(*) FILTER (WHERE {_STATUS} = 'confirmed' AND NOT {_SUPPRESSED}) AS confirmed,"
        f" count(*) FILTER (WHERE {_STATUS} = 'pending') AS pending,"
        f" count(*) FILTER (WHERE {_STATUS} = 'unsubscribed') AS unsubscribed,"
        f" count(*) FILTER (WHERE {_SUPPRESSED}) AS suppressed"
        " FROM mailing_list_subscribers s LEFT JOIN users u ON u.id = s.user_id WHERE s.list_id = $1",
        list_id,
    )


async def list_subscribers(conn: Conn, list_id: uuid.UUID, limit: int, offset: int) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        f"SELECT s.id, {_ADDRESS} AS email, s.name, u.username, s.created_at, s.confirmed_at,"
        f" s.unsubscribed_at, s.consent_source, {_STATUS} AS status, {_SUPPRESSED} AS suppressed"
        " FROM mailing_list_subscribers s LEFT JOIN users u ON u.id = s.user_id WHERE s.list_id = $1"
        " ORDER BY s.created_at DESC, s.id LIMIT $2 OFFSET $3",
        list_id,
        limit,
        offset,
    )


async def get_subscriber(conn: Conn, subscriber_id: uuid.UUID) -> asyncpg.Record | None:
    return await _fetchrow(
        conn,
        f"SELECT s.id, s.list_id, {_ADDRESS} AS email, s.confirmed_at, s.unsubscribed_at, {_STATUS} AS status"
        " FROM mailing_list_subscribers s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        subscriber_id,
    )


async def is_suppressed(conn: Conn, email: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM email_suppressions WHERE lower(email) = lower($1))", email
    )
    return found


async def upsert_signup_subscriber(
    conn: Conn, list_id: uuid.UUID, email: str, token_hash: bytes, consent: dict[str, Any]
) -> asyncpg.Record | None:
    """A signup of ``email``: a new pending row, or a pending or unsubscribed one made pending again with a new
    confirmation token. A confirmed subscriber is left alone (``None``); so is one whose row is locked."""
    return await _fetchrow(
        conn,
        "INSERT INTO mailing_list_subscribers (list_id, email, confirm_token_hash, consent_source, consent)"
        " VALUES ($1, $2, $3, 'signup', $4::jsonb)"
        " ON CONFLICT (list_id, lower(email)) WHERE email IS NOT NULL DO UPDATE"
        " SET confirm_token_hash = EXCLUDED.confirm_token_hash, confirmed_at = NULL, unsubscribed_at = NULL,"
        "     unsubscribed_broadcast_id = NULL, consent_source = 'signup', consent = EXCLUDED.consent"
        " WHERE mailing_list_subscribers.confirmed_at IS NULL OR mailing_list_subscribers.unsubscribed_at IS NOT NULL"
        " RETURNING id",
        list_id,
        email,
        token_hash,
        consent,
    )


async def upsert_user_subscriber(conn: Conn, list_id: uuid.UUID, user_id: uuid.UUID, consent: dict[str, Any]) -> None:
    """A signed-in user subscribing themselves: confirmed at once (their address is their account's)."""
    await conn.execute(
        "INSERT INTO mailing_list_subscribers (list_id, user_id, confirmed_at, consent_source, consent)"
        " VALUES ($1, $2, now(), 'signup', $3::jsonb)"
        " ON CONFLICT (list_id, user_id) DO UPDATE SET confirmed_at = now(), unsubscribed_at = NULL,"
        "     unsubscribed_broadcast_id = NULL, consent = EXCLUDED.consent",
        list_id,
        user_id,
        consent,
    )


async def insert_manual_subscriber(
    conn: Conn, list_id: uuid.UUID, email: str, name: str | None, consent: dict[str, Any]
) -> bool:
    """Added by the list's creator, confirmed; ``False`` if the address is on the list already."""
    row = await conn.fetchval(
        "INSERT INTO mailing_list_subscribers (list_id, email, name, confirmed_at, consent_source, consent)"
        " VALUES ($1, $2, $3, now(), 'manual', $4::jsonb)"
        " ON CONFLICT (list_id, lower(email)) WHERE email IS NOT NULL DO NOTHING RETURNING id",
        list_id,
        email,
        name,
        consent,
    )
    return bool(row is not None)


async def delete_subscriber(conn: Conn, list_id: uuid.UUID, subscriber_id: uuid.UUID) -> bool:
    done = await conn.execute(
        "DELETE FROM mailing_list_subscribers WHERE id = $1 AND list_id = $2", subscriber_id, list_id
    )
    return bool(done != "DELETE 0")


async def get_subscriber_by_confirm_token(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    return await _fetchrow(
        conn,
        "SELECT s.id, s.list_id, s.email, l.name AS list_name, p.title AS project_title"
        " FROM mailing_list_subscribers s JOIN mailing_lists l ON l.id = s.list_id"
        " JOIN projects p ON p.id = l.project_id WHERE s.confirm_token_hash = $1",
        token_hash,
    )


async def update_subscriber_confirmed(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """Confirm the subscriber holding this token (once: the token is spent), and the address's signup."""
    return await _fetchrow(
        conn,
        "WITH confirmed AS (UPDATE mailing_list_subscribers SET confirmed_at = now(), unsubscribed_at = NULL,"
        "   confirm_token_hash = NULL, consent = consent || jsonb_build_object('confirmed_at', now())"
        "   WHERE confirm_token_hash = $1 RETURNING id, list_id, email),"
        " signup AS (UPDATE email_signups SET confirmed_at = now() WHERE confirmed_at IS NULL"
        "   AND lower(email) = (SELECT lower(email) FROM confirmed))"
        " SELECT id, list_id, email FROM confirmed",
        token_hash,
    )


async def update_subscriber_unsubscribed(conn: Conn, subscriber_id: uuid.UUID, broadcast_id: uuid.UUID | None) -> bool:
    """Unsubscribe (idempotent: a second call changes nothing and answers ``False``)."""
    done = await conn.execute(
        "UPDATE mailing_list_subscribers SET unsubscribed_at = now(), confirm_token_hash = NULL,"
        " unsubscribed_broadcast_id = $2 WHERE id = $1 AND unsubscribed_at IS NULL",
        subscriber_id,
        broadcast_id,
    )
    return bool(done != "UPDATE 0")


async def insert_signup(conn: Conn, email: str, source: str) -> None:
    await conn.execute(
        "INSERT INTO email_signups (email, source) VALUES ($1, $2) ON CONFLICT (lower(email)) DO NOTHING",
        email,
        source,
    )


# --- imports --------------------------------------------------------------------------------------------------


async def count_existing_and_suppressed(conn: Conn, list_id: uuid.UUID, emails: list[str]) -> tuple[int, int]:
    """Of these (lower-cased, distinct) addresses: how many are on the list already, how many suppressed."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM email_suppressions x WHERE lower(x.email) = e)"
        "   AND (EXISTS (SELECT 1 FROM mailing_list_subscribers s WHERE s.list_id = $1 AND lower(s.email) = e)"
        "     OR EXISTS (SELECT 1 FROM users u JOIN mailing_list_subscribers s ON s.user_id = u.id"
        "                WHERE lower(u.email) = e AND s.list_id = $1))) AS existing,"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM email_suppressions x WHERE lower(x.email) = e)) AS suppressed"
        " FROM unnest($2::text[]) AS e",
        list_id,
        emails,
    )
    return int(row["existing"]), int(row["suppressed"])


async def insert_import(
    conn: Conn,
    *,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    list_id: uuid.UUID,
    source: str,
    file_name: str,
    upload: bytes,
    options: dict[str, Any],
    preview: dict[str, Any],
    total_rows: int,
) -> uuid.UUID:
    import_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO import_jobs (user_id, project_id, list_id, source, file_name, upload, options, preview,"
        " total_rows) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9) RETURNING id",
        user_id,
        project_id,
        list_id,
        source,
        file_name,
        upload,
        options,
        preview,
        total_rows,
    )
    return import_id


async def get_import(conn: Conn, import_id: uuid.UUID, *, with_upload: bool = False) -> asyncpg.Record | None:
    upload = "upload" if with_upload else "NULL::bytea AS upload"
    return await _fetchrow(
        conn,
        "SELECT id, user_id, project_id, list_id, source, status, file_name, options, preview, total_rows,"
        f" processed_rows, failed_rows, error, started_at, finished_at, created_at, {upload}"
        " FROM import_jobs WHERE id = $1",
        import_id,
    )


async def list_imports(conn: Conn, list_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT id, source, status, file_name, preview, total_rows, processed_rows, failed_rows, created_at"
        " FROM import_jobs WHERE list_id = $1 ORDER BY created_at DESC LIMIT 20",
        list_id,
    )


async def update_import(
    conn: Conn,
    import_id: uuid.UUID,
    *,
    status: str,
    expect: tuple[str, ...],
    options: dict[str, Any] | None = None,
    preview: dict[str, Any] | None = None,
    error: str | None = None,
    drop_upload: bool = False,
) -> bool:
    """Move an import from one of the ``expect``ed states to ``status`` (``False`` if it was in none)."""
    done = await conn.execute(
        "UPDATE import_jobs SET status = $2, options = coalesce($4::jsonb, options),"
        " preview = coalesce($5::jsonb, preview), error = coalesce($6, error),"
        " upload = CASE WHEN $7 THEN NULL ELSE upload END,"
        " started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) ELSE started_at END,"
        " finished_at = CASE WHEN $2 IN ('succeeded', 'failed', 'canceled') THEN now() ELSE finished_at END"
        " WHERE id = $1 AND status = ANY($3::text[])",
        import_id,
        status,
        list(expect),
        None if options is None else options,
        None if preview is None else preview,
        error,
        drop_upload,
    )
    return bool(done != "UPDATE 0")


async def update_stale_imports(conn: Conn, older_than: datetime) -> int:
    """Cancel imports previewed before ``older_than`` and never started, dropping their uploads."""
    done = await conn.execute(
        "UPDATE import_jobs SET status = 'canceled', upload = NULL, finished_at = now(),"
        " error = 'not started within a week' WHERE status = 'pending' AND list_id IS NOT NULL AND created_at < $1",
        older_than,
    )
    return int(done.split()[-1])


async def update_import_progress(conn: Conn, import_id: uuid.UUID, processed: int, failed: int) -> None:
    await conn.execute(
        "UPDATE import_jobs SET processed_rows = $2, failed_rows = $3 WHERE id = $1", import_id, processed, failed
    )


async def insert_imported_subscribers(
    conn: Conn,
    list_id: uuid.UUID,
    emails: list[str],
    names: list[str | None],
    consents: list[str],
) -> int:
    """Subscribe these addresses, confirmed, with their provenance; addresses already on the list (whatever
    their state: an unsubscribed one stays unsubscribed) and suppressed ones are skipped. Returns how many
    were added."""
    done = await conn.execute(
        "INSERT INTO mailing_list_subscribers (list_id, email, name, confirmed_at, consent_source, consent)"
        " SELECT $1, e, n, now(), 'import', c::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS t(e, n, c)"
        " WHERE NOT EXISTS (SELECT 1 FROM email_suppressions x WHERE lower(x.email) = lower(e))"
        "   AND NOT EXISTS (SELECT 1 FROM mailing_list_subscribers s JOIN users u ON u.id = s.user_id"
        "                   WHERE s.list_id = $1 AND lower(u.email) = lower(e))"
        " ON CONFLICT (list_id, lower(email)) WHERE email IS NOT NULL DO NOTHING",
        list_id,
        emails,
        names,
        consents,
    )
    return int(done.split()[-1])


# --- broadcasts -----------------------------------------------------------------------------------------------


async def insert_broadcast(
    conn: Conn, list_id: uuid.UUID, author_id: uuid.UUID, subject: str, body_markdown: str
) -> uuid.UUID:
    broadcast_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO mailing_broadcasts (list_id, author_id, subject, body_markdown) VALUES ($1, $2, $3, $4)"
        " RETURNING id",
        list_id,
        author_id,
        subject,
        body_markdown,
    )
    return broadcast_id


async def get_broadcast(conn: Conn, broadcast_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF b" if for_update else ""
    return await _fetchrow(
        conn,
        "SELECT b.id, b.list_id, b.author_id, b.subject, b.body_markdown, b.status, b.scheduled_at, b.started_at,"
        " b.finished_at, b.cursor_subscriber, b.created_at, l.project_id, l.name AS list_name,"
        " p.title AS project_title, p.user_id AS owner_id"
        " FROM mailing_broadcasts b JOIN mailing_lists l ON l.id = b.list_id JOIN projects p ON p.id = l.project_id"
        f" WHERE b.id = $1{lock}",
        broadcast_id,
    )


async def list_broadcasts(conn: Conn, list_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT id, subject, status, scheduled_at, started_at, finished_at, created_at FROM mailing_broadcasts"
        " WHERE list_id = $1 ORDER BY created_at DESC",
        list_id,
    )


async def update_broadcast(conn: Conn, broadcast_id: uuid.UUID, subject: str, body_markdown: str) -> bool:
    done = await conn.execute(
        "UPDATE mailing_broadcasts SET subject = $2, body_markdown = $3 WHERE id = $1 AND status = 'draft'",
        broadcast_id,
        subject,
        body_markdown,
    )
    return bool(done != "UPDATE 0")


async def update_broadcast_state(
    conn: Conn,
    broadcast_id: uuid.UUID,
    *,
    status: str,
    expect: tuple[str, ...],
    scheduled_at: datetime | None = None,
    cursor: uuid.UUID | None = None,
) -> bool:
    done = await conn.execute(
        "UPDATE mailing_broadcasts SET status = $2, scheduled_at = CASE WHEN $2 = 'scheduled' THEN $4"
        "   WHEN $2 = 'draft' THEN NULL ELSE scheduled_at END,"
        " started_at = CASE WHEN $2 = 'sending' THEN coalesce(started_at, now()) ELSE started_at END,"
        " finished_at = CASE WHEN $2 = 'sent' THEN now() ELSE finished_at END,"
        " cursor_subscriber = coalesce($5, cursor_subscriber)"
        " WHERE id = $1 AND status = ANY($3::text[])",
        broadcast_id,
        status,
        list(expect),
        scheduled_at,
        cursor,
    )
    return bool(done != "UPDATE 0")


async def list_next_recipients(
    conn: Conn, list_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Confirmed, subscribed, unsuppressed subscribers after ``after`` in id order."""
    return await _fetch(
        conn,
        f"SELECT s.id, {_ADDRESS} AS email, s.name FROM mailing_list_subscribers s"
        " LEFT JOIN users u ON u.id = s.user_id"
        " WHERE s.list_id = $1 AND ($2::uuid IS NULL OR s.id > $2) AND s.confirmed_at IS NOT NULL"
        f" AND s.unsubscribed_at IS NULL AND NOT {_SUPPRESSED} AND NOT {_SHADOWED} ORDER BY s.id LIMIT $3",
        list_id,
        after,
        limit,
    )


async def count_recipients_after(conn: Conn, list_id: uuid.UUID, after: uuid.UUID | None) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM mailing_list_subscribers s LEFT JOIN users u ON u.id = s.user_id"
        " WHERE s.list_id = $1 AND ($2::uuid IS NULL OR s.id > $2) AND s.confirmed_at IS NOT NULL"
        f" AND s.unsubscribed_at IS NULL AND NOT {_SUPPRESSED} AND NOT {_SHADOWED}",
        list_id,
        after,
    )
    return found


async def insert_recipient(conn: Conn, broadcast_id: uuid.UUID, subscriber_id: uuid.UUID) -> bool:
    """Claim (broadcast, subscriber): ``False`` if it was claimed before, by this run or an earlier one."""
    row = await conn.fetchval(
        "INSERT INTO mailing_broadcast_recipients (broadcast_id, subscriber_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        broadcast_id,
        subscriber_id,
    )
    return bool(row is not None)


async def update_recipient_mail(
    conn: Conn, broadcast_id: uuid.UUID, subscriber_id: uuid.UUID, mail_id: uuid.UUID | None
) -> None:
    await conn.execute(
        "UPDATE mailing_broadcast_recipients SET mail_id = $3 WHERE broadcast_id = $1 AND subscriber_id = $2",
        broadcast_id,
        subscriber_id,
        mail_id,
    )


async def get_broadcast_counts(conn: Conn, broadcast_id: uuid.UUID) -> asyncpg.Record:
    """queued (recipients), unsubscribed (through this broadcast's links), and the recipients' mail ids."""
    return await _fetchrow(
        conn,
        "SELECT (SELECT count(*) FROM mailing_broadcast_recipients WHERE broadcast_id = $1) AS queued,"
        " (SELECT count(*) FROM mailing_list_subscribers WHERE unsubscribed_broadcast_id = $1) AS unsubscribed",
        broadcast_id,
    )


async def count_imported(conn: Conn, list_id: uuid.UUID, import_id: uuid.UUID) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM mailing_list_subscribers WHERE list_id = $1 AND consent_source = 'import'"
        " AND consent->>'import_id' = $2",
        list_id,
        str(import_id),
    )
    return found


async def list_recipient_mail_ids(conn: Conn, broadcast_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT mail_id FROM mailing_broadcast_recipients WHERE broadcast_id = $1 AND mail_id IS NOT NULL",
        broadcast_id,
    )
    return [r["mail_id"] for r in rows]


# --- the outbound queue's rows, read for a broadcast's counts -------------------------------------------------


async def count_mail_states(conn: Conn, mail_ids: list[uuid.UUID]) -> dict[str, int]:
    """How many of these ``outbound_mails`` are in each state (read only; the outbound package owns the table)."""
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM outbound_mails WHERE id = ANY($1::uuid[]) GROUP BY state", mail_ids
    )
    return {r["state"]: int(r["n"]) for r in rows}
