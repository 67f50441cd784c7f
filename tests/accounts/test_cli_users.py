from __future__ import annotations

import os
import pty
import select
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from argon2 import PasswordHasher

from tests.support.accounts import PASSWORD, MakeUser
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


async def test_operators_list_users_set_passwords_and_grant_roles(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    await make_user("zoe", email_verified=True)
    await make_user("alice", is_admin=True, can_create_projects=True, email_verified=True)
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url})

    listed = mnwd(env, "user", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "EMAIL", "ROLES", "2FA", "STATE", "CREATED"]
    assert lines[1].split()[:5] == ["alice", "alice@example.org", "admin,creator", "no", "active"]
    assert lines[2].split()[:5] == ["zoe", "zoe@example.org", "-", "no", "active"]

    granted = mnwd(env, "user", "grant", "zoe", "creator")
    assert (granted.returncode, granted.stdout.strip()) == (0, "zoe: creator granted")
    assert mnwd(env, "user", "grant", "zoe", "admin").returncode == 0
    assert await pool.fetchval("SELECT is_admin AND can_create_projects FROM users WHERE username = 'zoe'")
    assert mnwd(env, "user", "revoke", "zoe", "admin").returncode == 0
    assert await pool.fetchrow("SELECT is_admin, can_create_projects FROM users WHERE username = 'zoe'") == (
        False,
        True,
    )
    bad_role = mnwd(env, "user", "grant", "zoe", "root")
    assert bad_role.returncode == 2
    assert "invalid choice: 'root'" in bad_role.stderr
    assert mnwd(env, "user", "grant", "nobody", "admin").stderr.strip() == "mnwd: There is no user named 'nobody'."

    await pool.execute(
        "INSERT INTO user_sessions (user_id, token_hash, expires_at) "
        "SELECT id, sha256('s'), now() + interval '1 day' FROM users WHERE username = 'zoe'"
    )
    await pool.execute("UPDATE users SET failed_login_attempts = 5, locked_until = now() + interval '1 hour'")
    new_password = "a different horse 42"
    changed = mnwd(env, "user", "set-password", "zoe", "--password-stdin", stdin=new_password + "\n")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "zoe: password set; every session signed out"
    row = await pool.fetchrow("SELECT * FROM users WHERE username = 'zoe'")
    assert PasswordHasher().verify(row["password_hash"], new_password)
    assert (row["failed_login_attempts"], row["locked_until"]) == (0, None)
    assert (
        await pool.fetchval("SELECT count(*) FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL", row["id"])
        == 0
    )
    weak = mnwd(env, "user", "set-password", "zoe", "--password-stdin", stdin="123\n")
    assert weak.returncode == 1
    assert weak.stderr.strip() == "mnwd: The password was not set. password: Use at least 10 characters."
    empty = mnwd(env, "user", "set-password", "zoe", "--password-stdin", stdin="")
    assert empty.stderr.strip() == "mnwd: --password-stdin: standard input held no password"


def test_set_password_prompts_without_echo_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the password is asked twice, never echoed; two different answers change nothing."""
    env = daemon_env(tmp_path, {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    output = run_on_terminal(env, ["user", "set-password", "zoe", "--password-stdin"], ["first secret 1", "other 2"])
    assert "Password: " in output
    assert "Password again: " in output
    assert "first secret" not in output
    assert "the two passwords differ; nothing was changed" in output


def run_on_terminal(env: dict[str, str], args: list[str], answers: list[str]) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "mnwd", *args], env)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        answered = len(answers) - len(pending)
        if pending and output.endswith(b": ") and output.count(b"Password") > answered:
            os.write(fd, pending.pop(0).encode() + b"\n")
    os.waitpid(pid, 0)
    os.close(fd)
    return output.decode(errors="replace")
