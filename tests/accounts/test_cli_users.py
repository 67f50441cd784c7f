from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from tests.support.accounts import PASSWORD
from tests.support.daemon import daemon_env, mnwd


async def test_operators_create_suspend_and_unsuspend_users(db_url: str, tmp_path: Path, pool: asyncpg.Pool) -> None:
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_LOG_LEVEL": "warning"})
    created = mnwd(
        env,
        "user",
        "create",
        "--username",
        "Root_1",
        "--email",
        "root@example.org",
        "--password-stdin",
        "--admin",
        "--creator",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    user_id = uuid.UUID(created.stdout.strip())
    row = await pool.fetchrow(
        "SELECT username, is_admin, can_create_projects, password_hash FROM users WHERE id = $1", user_id
    )
    assert row["username"] == "root_1"
    assert row["is_admin"]
    assert row["can_create_projects"]
    assert row["password_hash"].startswith("$argon2id$")

    no_password = mnwd(env, "user", "create", "--username", "linkonly", "--email", "l@example.org")
    assert no_password.returncode == 0, no_password.stderr
    assert await pool.fetchval("SELECT password_hash FROM users WHERE username = 'linkonly'") is None

    duplicate = mnwd(env, "user", "create", "--username", "ROOT_1", "--email", "other@example.org")
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "mnwd: The account could not be created. username: This username is taken."

    weak = mnwd(
        env, "user", "create", "--username", "weak", "--email", "w@example.org", "--password-stdin", stdin="123\n"
    )
    assert weak.returncode == 1
    assert "password: Use at least 10 characters." in weak.stderr

    suspended = mnwd(env, "user", "suspend", "root_1")
    assert suspended.returncode == 0, suspended.stderr
    assert suspended.stdout.strip() == "root_1 suspended"
    assert await pool.fetchval("SELECT suspended_at IS NOT NULL FROM users WHERE id = $1", user_id)
    assert mnwd(env, "user", "unsuspend", "root_1").returncode == 0
    assert await pool.fetchval("SELECT suspended_at FROM users WHERE id = $1", user_id) is None

    missing = mnwd(env, "user", "suspend", "nobody")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "mnwd: There is no user named 'nobody'."
