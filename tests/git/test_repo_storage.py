"""A repo's size counts in its owner's ``storage_used_bytes``: recorded after each push by difference, given
back by the trigger of migration 0019 when the repo (or its owner) goes, whoever deletes it."""

from __future__ import annotations

import asyncpg

from mnwd.git.queries import repos as queries


async def test_sizes_are_added_by_difference_and_given_back_on_delete(tx_conn: asyncpg.Connection) -> None:
    user_id = await tx_conn.fetchval(
        "INSERT INTO users (username, email, storage_used_bytes) VALUES ('alice', 'a@example.org', 1000) RETURNING id"
    )
    site = await tx_conn.fetchval("INSERT INTO git_repos (user_id, name) VALUES ($1, 'site') RETURNING id", user_id)
    docs = await tx_conn.fetchval("INSERT INTO git_repos (user_id, name) VALUES ($1, 'docs') RETURNING id", user_id)
    used = "SELECT storage_used_bytes FROM users WHERE id = $1"

    row = await queries.update_after_push(tx_conn, site, "main", 5000)
    assert row is not None
    assert row["size_bytes"] == 5000
    assert row["pushed_at"] is not None
    assert await tx_conn.fetchval(used, user_id) == 6000
    await queries.update_after_push(tx_conn, site, "trunk", 3000)  # gc made it smaller
    await queries.update_after_push(tx_conn, docs, "main", 700)
    assert await tx_conn.fetchval(used, user_id) == 4700
    assert await tx_conn.fetchval("SELECT default_branch FROM git_repos WHERE id = $1", site) == "trunk"

    await queries.delete_repo(tx_conn, site)
    assert await tx_conn.fetchval(used, user_id) == 1700
    assert await queries.update_after_push(tx_conn, site, "main", 1) is None  # gone: nothing recorded
    # Never below zero, even if the account's figure was reset meanwhile.
    await tx_conn.execute("UPDATE users SET storage_used_bytes = 0 WHERE id = $1", user_id)
    await queries.delete_repo(tx_conn, docs)
    assert await tx_conn.fetchval(used, user_id) == 0
