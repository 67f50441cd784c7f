"""`mnwd app …` run as operators run it: a separate process on this test's database."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import asyncpg

from mnwd.apps import get_app_by_api_key
from tests.support.accounts import MakeUser
from tests.support.daemon import daemon_env, mnwd
from tests.support.sync import REDIRECT

KEY_LINE = re.compile(r"^api_key=(mnwd_sk_[A-Za-z0-9_-]{43})$")


async def test_operators_register_rotate_and_deactivate_apps(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    maker = await make_user("maker")  # not a creator: operators are trusted
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_LOG_LEVEL": "warning"})
    created = mnwd(
        env,
        "app",
        "create",
        "--owner",
        "Maker",
        "--name",
        "Notes",
        "--slug",
        "notes",
        "--redirect-uri",
        REDIRECT,
        "--redirect-uri",
        "http://127.0.0.1/callback",
    )
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("client_id=")
    client_id = uuid.UUID(lines[0].removeprefix("client_id="))
    key = KEY_LINE.match(lines[1])
    assert key is not None, lines[1]
    api_key = key.group(1)
    row = await pool.fetchrow("SELECT * FROM sync_apps WHERE id = $1", client_id)
    assert row["creator_id"] == maker["id"]
    assert (row["name"], row["slug"], row["redirect_uris"]) == (
        "Notes",
        "notes",
        [REDIRECT, "http://127.0.0.1/callback"],
    )
    assert row["api_key_hash"] == hashlib.sha256(api_key.encode()).digest()
    assert api_key not in await pool.fetchval("SELECT row_to_json(a)::text FROM sync_apps a")

    rotated = mnwd(env, "app", "rotate-key", "notes")
    assert rotated.returncode == 0, rotated.stderr
    new_key = KEY_LINE.match(rotated.stdout.strip())
    assert new_key is not None, rotated.stdout
    assert await get_app_by_api_key(pool, api_key) is None
    app = await get_app_by_api_key(pool, new_key.group(1))
    assert app is not None
    assert app.id == client_id

    deactivated = mnwd(env, "app", "deactivate", "notes")
    assert deactivated.returncode == 0, deactivated.stderr
    assert deactivated.stdout.strip() == "notes deactivated"
    assert not await pool.fetchval("SELECT is_active FROM sync_apps")
    listed = mnwd(env, "app", "list")
    assert (listed.returncode, listed.stderr) == (0, "")
    header, row_line = listed.stdout.splitlines()
    assert header.split() == ["SLUG", "NAME", "OWNER", "STATE", "CREATED", "CLIENT", "ID"]
    assert row_line.split()[:4] == ["notes", "Notes", "maker", "deactivated"]
    assert row_line.split()[-1] == str(client_id)
    activated = mnwd(env, "app", "activate", "notes")
    assert activated.stdout.strip() == "notes activated"
    assert await pool.fetchval("SELECT is_active FROM sync_apps")


async def test_operator_mistakes_are_one_line(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    await make_user("maker", can_create_projects=True)
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_LOG_LEVEL": "warning"})

    def create(owner: str, slug: str, *uris: str) -> tuple[int, str]:
        args = ["app", "create", "--owner", owner, "--name", "Notes", "--slug", slug]
        for uri in uris:
            args += ["--redirect-uri", uri]
        done = mnwd(env, *args)
        assert done.stdout == "" or done.returncode == 0
        return done.returncode, done.stderr

    assert create("maker", "notes", REDIRECT)[0] == 0
    assert create("maker", "notes", REDIRECT) == (1, "mnwd: The app was not registered. slug: This slug is taken.\n")
    assert create("nobody", "other", REDIRECT) == (1, "mnwd: There is no user named 'nobody'.\n")
    status, stderr = create("maker", "other", "http://localhost:9/cb", "javascript:alert(1)")
    assert status == 1
    assert stderr.count("\n") == 1
    assert stderr.startswith("mnwd: The app was not registered. redirect_uris: http://localhost:9/cb: Use http://127")
    assert "javascript:alert(1): javascript: URIs are not allowed." in stderr
    linked = mnwd(
        env,
        "app",
        "create",
        "--owner",
        "maker",
        "--name",
        "N",
        "--slug",
        "n2",
        "--redirect-uri",
        REDIRECT,
        "--project",
        str(uuid.uuid4()),
    )
    assert (linked.returncode, linked.stderr) == (
        1,
        "mnwd: The app was not registered. project_id: There is no such project.\n",
    )
    for action in ("rotate-key", "deactivate", "activate"):
        missing = mnwd(env, "app", action, "ghost")
        assert (missing.returncode, missing.stderr) == (1, "mnwd: There is no app with the slug 'ghost'.\n")
    assert await pool.fetchval("SELECT count(*) FROM sync_apps") == 1
