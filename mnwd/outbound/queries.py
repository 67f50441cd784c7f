"""SQL of the outbound mail queue: ``outbound_mails``, ``email_suppressions`` and the notification flags of
``users``. Each state change is one statement; a mail leaves ``queued`` once, so a second worker running the
same mail after a crash finds it finished and sends nothing."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

NOTIFY_COLUMNS = frozenset({"notify_sale", "notify_follower", "notify_release", "notify_issues"})


async def insert_mail(
    conn: Conn, stream: str, recipient: str, recipient_domain: str, message_json: str, key: str | None
) -> uuid.UUID | None:
    """The new mail's id; None if ``recipient`` is suppressed or ``key`` was used."""
    mail_id: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO outbound_mails (stream, recipient, recipient_domain, message, idempotency_key)
        SELECT $1, $2, $3, $4::text::jsonb, $5
        WHERE NOT EXISTS (SELECT 1 FROM email_suppressions WHERE lower(email) = lower($2))
        ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id
        """,
        stream,
        recipient,
        recipient_domain,
        message_json,
        key,
    )
    return mail_id


async def get_queued_mail(conn: Conn, mail_id: uuid.UUID) -> asyncpg.Record | None:
    """A queued mail with its message as text and whether its recipient is suppressed now; None if finished."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT m.id, m.stream, m.recipient, m.recipient_domain, m.message::text AS message, m.attempts,
               EXISTS (SELECT 1 FROM email_suppressions s WHERE lower(s.email) = lower(m.recipient)) AS suppressed
        FROM outbound_mails m
        WHERE m.id = $1 AND m.state = 'queued'
        """,
        mail_id,
    )
    return row


async def update_mail_finished(conn: Conn, mail_id: uuid.UUID, state: str, error: str | None) -> bool:
    """Finish a queued mail (sent, failed or suppressed) and forget its message; False if already finished."""
    status: str = await conn.execute(
        """
        UPDATE outbound_mails
        SET state = $2, message = '{}', finished_at = now(), attempts = attempts + 1,
            last_error = left($3, 2000)
        WHERE id = $1 AND state = 'queued'
        """,
        mail_id,
        state,
        error,
    )
    return status == "UPDATE 1"


async def update_mail_attempt(conn: Conn, mail_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        """
        UPDATE outbound_mails SET attempts = attempts + 1, last_error = left($2, 2000)
        WHERE id = $1 AND state = 'queued'
        """,
        mail_id,
        error,
    )


async def get_mail_state(conn: Conn, mail_id: uuid.UUID) -> str | None:
    state: str | None = await conn.fetchval("SELECT state FROM outbound_mails WHERE id = $1", mail_id)
    return state


async def delete_finished_mails(conn: Conn, older_than_seconds: float, batch: int) -> int:
    status: str = await conn.execute(
        """
        DELETE FROM outbound_mails WHERE id IN (
            SELECT id FROM outbound_mails
            WHERE finished_at < now() - make_interval(secs => $1)
            LIMIT $2
        )
        """,
        older_than_seconds,
        batch,
    )
    return int(status.split()[-1])


async def upsert_suppression(conn: Conn, email: str, reason: str, details_json: str) -> bool:
    """True if the address was not suppressed before (an existing entry keeps its first reason)."""
    status: str = await conn.execute(
        """
        INSERT INTO email_suppressions (email, reason, details) VALUES ($1, $2, $3::text::jsonb)
        ON CONFLICT (lower(email)) DO NOTHING
        """,
        email,
        reason,
        details_json,
    )
    return status == "INSERT 0 1"


async def delete_suppression(conn: Conn, email: str) -> bool:
    status: str = await conn.execute("DELETE FROM email_suppressions WHERE lower(email) = lower($1)", email)
    return status == "DELETE 1"


async def get_suppression(conn: Conn, email: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT email, reason, details::text AS details, created_at FROM email_suppressions "
        "WHERE lower(email) = lower($1)",
        email,
    )
    return row


async def list_suppressions(conn: Conn, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT email, reason, details::text AS details, created_at FROM email_suppressions "
        "ORDER BY created_at DESC, lower(email) LIMIT $1",
        limit,
    )
    return rows


async def get_user_notify(conn: Conn, user_id: uuid.UUID, column: str) -> asyncpg.Record | None:
    """The user's address and ``column`` (one of NOTIFY_COLUMNS) as ``enabled``; None if no such user."""
    if column not in NOTIFY_COLUMNS:
        raise ValueError(f"{column} is not a notification flag")
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT email, {column} AS enabled FROM users WHERE id = $1", user_id
    )
    return row


async def update_user_notify(conn: Conn, user_id: uuid.UUID, column: str, enabled: bool) -> bool:
    if column not in NOTIFY_COLUMNS:
        raise ValueError(f"{column} is not a notification flag")
    status: str = await conn.execute(f"UPDATE users SET {column} = $2 WHERE id = $1", user_id, enabled)
    return status == "UPDATE 1"
