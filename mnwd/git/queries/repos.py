"""SQL of git repositories (`git_repos`). Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

REPO_COLUMNS = """
    r.id, r.user_id, u.username AS owner, r.name, r.description, r.is_private, r.default_branch,
    r.next_issue_number, r.pushed_at, r.created_at, r.updated_at, r.size_bytes
"""


async def get_repo_by_path(conn: Conn, owner: str, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id "
        "WHERE u.username = $1 AND r.name = $2",
        owner,
        name,
    )


async def get_owned_repo(conn: Conn, user_id: uuid.UUID, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id WHERE r.user_id = $1 AND r.name = $2",
        user_id,
        name,
    )


async def get_repo(conn: Conn, repo_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id WHERE r.id = $1", repo_id
    )


async def insert_repo(
    conn: Conn, user_id: uuid.UUID, name: str, *, is_private: bool, description: str = ""
) -> asyncpg.Record | None:
    """The new repo, or ``None`` when the owner already has one by that name (a concurrent create won)."""
    inserted = await conn.fetchval(
        "INSERT INTO git_repos (user_id, name, is_private, description) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT ON CONSTRAINT git_repos_user_id_name_key DO NOTHING RETURNING id",
        user_id,
        name,
        is_private,
        description,
    )
    return None if inserted is None else await get_repo(conn, inserted)


async def list_repos(conn: Conn, owner_id: uuid.UUID, *, include_private: bool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {REPO_COLUMNS} FROM git_repos r JOIN users u ON u.id = r.user_id "
        "WHERE r.user_id = $1 AND ($2 OR NOT r.is_private) ORDER BY coalesce(r.pushed_at, r.created_at) DESC",
        owner_id,
        include_private,
    )
    return rows


async def get_user_by_name(conn: Conn, username: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, username FROM users WHERE username = lower($1) AND suspended_at IS NULL", username
    )
    return row


async def delete_repo(conn: Conn, repo_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM git_repos WHERE id = $1", repo_id)


async def update_after_push(
    conn: asyncpg.Connection, repo_id: uuid.UUID, default_branch: str, size_bytes: int
) -> asyncpg.Record | None:
    """Records a push: default branch, pushed_at, the new size, and the size's difference on the owner's
    ``storage_used_bytes`` (the row is locked first, so two pushes at once add their differences in turn)."""
    old = await conn.fetchrow("SELECT user_id, size_bytes FROM git_repos WHERE id = $1 FOR UPDATE", repo_id)
    if old is None:
        return None
    await conn.execute(
        "UPDATE git_repos SET default_branch = $2, size_bytes = $3, pushed_at = now() WHERE id = $1",
        repo_id,
        default_branch,
        size_bytes,
    )
    await conn.execute(
        "UPDATE users SET storage_used_bytes = GREATEST(storage_used_bytes + $2, 0) WHERE id = $1",
        old["user_id"],
        size_bytes - old["size_bytes"],
    )
    return await get_repo(conn, repo_id)


async def get_owner_quota(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    """The owner's tier, largest-file override and storage used (for the push quota)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT creator_effective_tier(creator_tier, grandfathered_until) AS creator_tier, max_file_override_bytes, "
        "storage_used_bytes FROM users WHERE id = $1",
        user_id,
    )
    return row
