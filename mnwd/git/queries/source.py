"""SQL of the /source/ pages and repo settings: owners, repo lists, settings updates, rename and delete."""

from __future__ import annotations

import uuid

import asyncpg

from mnwd.git.queries.repos import REPO_COLUMNS, Conn


async def get_user_id(conn: Conn, username: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
    return user_id


async def list_repos_of(conn: Conn, owner_id: uuid.UUID, *, include_private: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id "
        "WHERE r.user_id = $1 AND ($2 OR NOT r.is_private) ORDER BY coalesce(r.pushed_at, r.created_at) DESC, r.name",
        owner_id,
        include_private,
    )
    return rows


async def list_recent_public_repos(conn: Conn, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id "
        "WHERE NOT r.is_private ORDER BY coalesce(r.pushed_at, r.created_at) DESC, r.id LIMIT $1",
        limit,
    )
    return rows


async def update_repo_settings(
    conn: Conn, repo_id: uuid.UUID, *, description: str, is_private: bool, default_branch: str
) -> bool:
    status: str = await conn.execute(
        "UPDATE git_repos SET description = $2, is_private = $3, default_branch = $4 WHERE id = $1",
        repo_id,
        description,
        is_private,
        default_branch,
    )
    return status == "UPDATE 1"


async def rename_repo(conn: asyncpg.Connection, repo_id: uuid.UUID, name: str) -> bool:
    """``False`` when the owner already has a repo of that name (``git_repos_user_id_name_key``); the
    savepoint keeps the caller's transaction usable after the violation."""
    try:
        async with conn.transaction():
            status: str = await conn.execute("UPDATE git_repos SET name = $2 WHERE id = $1", repo_id, name)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "git_repos_user_id_name_key":
            return False
        raise
    return status == "UPDATE 1"


async def delete_repo(conn: Conn, repo_id: uuid.UUID) -> bool:
    """Deletes the row; a trigger (migration 0019) gives its accounted size back to the owner's storage."""
    status: str = await conn.execute("DELETE FROM git_repos WHERE id = $1", repo_id)
    return status == "DELETE 1"
