"""SQL of the issue tracker: `issues`, `issue_comments`, `issue_labels`, `issue_label_assignments`."""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.git.queries.repos import Conn

ISSUE_COLUMNS = """
    i.id, i.repo_id, i.number, i.title, i.body, i.status, i.closed_at, i.created_at, i.updated_at,
    i.author_user_id, u.username AS author,
    (SELECT count(*) FROM issue_comments c WHERE c.issue_id = i.id) AS comment_count
"""


async def take_issue_number(conn: Conn, repo_id: uuid.UUID) -> int | None:
    """The repo's next number, taken for good: the row lock orders concurrent takers, so no two get one."""
    number: int | None = await conn.fetchval(
        "UPDATE git_repos SET next_issue_number = next_issue_number + 1 WHERE id = $1 RETURNING next_issue_number - 1",
        repo_id,
    )
    return number


async def insert_issue(
    conn: Conn, repo_id: uuid.UUID, number: int, author_id: uuid.UUID, title: str, body: str
) -> uuid.UUID:
    issue_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO issues (repo_id, number, author_user_id, title, body) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        repo_id,
        number,
        author_id,
        title,
        body,
    )
    return issue_id


async def get_issue(conn: Conn, repo_id: uuid.UUID, number: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ISSUE_COLUMNS} FROM issues i JOIN users u ON u.id = i.author_user_id "
        "WHERE i.repo_id = $1 AND i.number = $2",
        repo_id,
        number,
    )


async def list_issues(
    conn: Conn, repo_id: uuid.UUID, *, status: str | None, label: str | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {ISSUE_COLUMNS} FROM issues i JOIN users u ON u.id = i.author_user_id "
        "WHERE i.repo_id = $1 AND ($2::text IS NULL OR i.status = $2) AND ($3::text IS NULL OR EXISTS ("
        "  SELECT 1 FROM issue_label_assignments a JOIN issue_labels l ON l.id = a.label_id"
        "  WHERE a.issue_id = i.id AND l.name = $3)) "
        "ORDER BY i.number DESC LIMIT $4 OFFSET $5",
        repo_id,
        status,
        label,
        limit,
        offset,
    )
    return rows


async def count_issues(conn: Conn, repo_id: uuid.UUID, *, label: str | None) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT i.status, count(*) AS n FROM issues i WHERE i.repo_id = $1 AND ($2::text IS NULL OR EXISTS ("
        "  SELECT 1 FROM issue_label_assignments a JOIN issue_labels l ON l.id = a.label_id"
        "  WHERE a.issue_id = i.id AND l.name = $2)) GROUP BY i.status",
        repo_id,
        label,
    )
    return {row["status"]: row["n"] for row in rows}


async def set_issue_status(conn: Conn, issue_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE issues SET status = $2, closed_at = CASE WHEN $2 = 'closed' THEN coalesce(closed_at, now()) END "
        "WHERE id = $1",
        issue_id,
        status,
    )


async def update_issue_text(conn: Conn, issue_id: uuid.UUID, title: str, body: str) -> None:
    await conn.execute("UPDATE issues SET title = $2, body = $3 WHERE id = $1", issue_id, title, body)


async def insert_comment(conn: Conn, issue_id: uuid.UUID, author_id: uuid.UUID, body: str) -> uuid.UUID:
    comment_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO issue_comments (issue_id, author_user_id, body) VALUES ($1, $2, $3) RETURNING id",
        issue_id,
        author_id,
        body,
    )
    await conn.execute("UPDATE issues SET updated_at = now() WHERE id = $1", issue_id)
    return comment_id


async def list_comments(conn: Conn, issue_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT c.id, c.body, c.created_at, u.username AS author FROM issue_comments c "
        "JOIN users u ON u.id = c.author_user_id WHERE c.issue_id = $1 ORDER BY c.created_at, c.id",
        issue_id,
    )
    return rows


async def list_labels(conn: Conn, repo_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name, color, description FROM issue_labels WHERE repo_id = $1 ORDER BY lower(name), name",
        repo_id,
    )
    return rows


async def labels_of_issues(conn: Conn, issue_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT a.issue_id, l.id, l.name, l.color, l.description FROM issue_label_assignments a "
        "JOIN issue_labels l ON l.id = a.label_id WHERE a.issue_id = ANY($1::uuid[]) ORDER BY lower(l.name)",
        issue_ids,
    )
    return rows


async def insert_label(
    conn: asyncpg.Connection, repo_id: uuid.UUID, name: str, color: str, description: str | None
) -> uuid.UUID | None:
    """``None`` when the repo already has a label of that name (``issue_labels_repo_id_name_key``)."""
    label_id: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO issue_labels (repo_id, name, color, description) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT ON CONSTRAINT issue_labels_repo_id_name_key DO NOTHING RETURNING id",
        repo_id,
        name,
        color,
        description,
    )
    return label_id


async def delete_label(conn: Conn, repo_id: uuid.UUID, label_id: uuid.UUID) -> bool:
    status: str = await conn.execute("DELETE FROM issue_labels WHERE repo_id = $1 AND id = $2", repo_id, label_id)
    return status == "DELETE 1"


async def set_issue_labels(conn: Conn, repo_id: uuid.UUID, issue_id: uuid.UUID, names: list[str]) -> list[str]:
    """Assigns exactly the repo's labels named ``names``; the names that are not labels of the repo."""
    await conn.execute("DELETE FROM issue_label_assignments WHERE issue_id = $1", issue_id)
    found: list[str] = [
        row["name"]
        for row in await conn.fetch(
            "INSERT INTO issue_label_assignments (issue_id, label_id) "
            "SELECT $2, l.id FROM issue_labels l WHERE l.repo_id = $1 AND l.name = ANY($3::text[]) "
            "ON CONFLICT DO NOTHING RETURNING (SELECT name FROM issue_labels WHERE id = label_id)",
            repo_id,
            issue_id,
            names,
        )
    ]
    return [name for name in names if name not in found]


async def get_issue_mail(conn: Conn, issue_id: uuid.UUID) -> asyncpg.Record | None:
    """What the new-issue mail says, and to whom: the repo owner's address and ``notify_issues``."""
    return await conn.fetchrow(
        "SELECT i.number, i.title, i.body, a.username AS author, r.name AS repo, o.username AS owner, o.email, "
        "o.notify_issues, i.author_user_id = r.user_id AS by_owner, r.user_id AS owner_id "
        "FROM issues i JOIN git_repos r ON r.id = i.repo_id JOIN users o ON o.id = r.user_id "
        "JOIN users a ON a.id = i.author_user_id WHERE i.id = $1",
        issue_id,
    )
