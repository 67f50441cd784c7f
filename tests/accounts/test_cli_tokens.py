"""`mnwd token …` as operators run it: a separate process on this test's database; the token it prints works
on the API of the in-process app, and its revocation takes effect there."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.support.accounts import MakeUser
from tests.support.daemon import RunningDaemon, daemon_env, mnwd
from tests.support.mnwd_command import mnwd_on_path

TOKEN_LINE = re.compile(r"^token=(mnwd_pat_[A-Za-z0-9_-]{43})$")


async def test_operators_create_list_and_revoke_tokens(
    db_url: str,
    tmp_path: Path,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    await make_user("alice")
    await make_user("bob")
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url})
    created = mnwd(
        env, "token", "create", "Alice", "--name", "ci", "--scope", "user:read", "apps:read", "--expires", "30"
    )
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""  # no log lines from a command
    id_line, token_line = created.stdout.splitlines()
    token_id = uuid.UUID(id_line.removeprefix("id="))
    match = TOKEN_LINE.match(token_line)
    assert match, token_line
    secret = match.group(1)
    row = await pool.fetchrow("SELECT * FROM personal_access_tokens WHERE id = $1", token_id)
    assert row["token_hash"] == hashlib.sha256(secret.encode()).digest()
    assert row["name"] == "ci"
    assert row["scopes"] == ["apps:read", "user:read"]
    assert row["expires_at"] is not None

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status == 200
    assert (await me.json())["user"]["username"] == "alice"

    listed = mnwd(env, "token", "list", "alice")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPES", "EXPIRES", "LAST", "USED"]
    assert lines[1].startswith(f"{token_id}  ci")
    assert "user:read" in lines[1]
    assert secret not in listed.stdout

    not_bobs = mnwd(env, "token", "revoke", "bob", str(token_id))
    assert not_bobs.returncode == 1
    assert not_bobs.stderr.strip() == "mnwd: There is no such token."
    revoked = mnwd(env, "token", "revoke", "alice", str(token_id))
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"token {token_id} revoked"
    refused = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status == 401
    assert mnwd(env, "token", "list", "alice").stdout.splitlines()[1:] == []


async def test_token_create_refuses_bad_input(db_url: str, tmp_path: Path, make_user: MakeUser) -> None:
    await make_user("alice")
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url})
    unknown = mnwd(env, "token", "create", "alice", "--name", "x", "--scope", "root:all")
    assert unknown.returncode == 2
    assert "invalid choice: 'root:all'" in unknown.stderr
    zero = mnwd(env, "token", "create", "alice", "--name", "x", "--expires", "0")
    assert zero.returncode == 1
    assert zero.stderr.strip() == "mnwd: The token was not created. expires: Expire the token after 1 to 3650 days."
    nobody = mnwd(env, "token", "create", "nobody", "--name", "x")
    assert nobody.stderr.strip() == "mnwd: There is no user named 'nobody'."


@pytest.mark.e2e
async def test_the_example_in_the_docs_runs(daemon: RunningDaemon, make_user: MakeUser, tmp_path: Path) -> None:
    """docs/tokens.md's shell example, as written (only the port is this daemon's)."""
    await make_user("alice")
    text = (Path(__file__).resolve().parents[2] / "docs" / "tokens.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) == 1
    script = blocks[0].replace("http://127.0.0.1:8080", daemon.base_url)
    # `mnwd` forked from the warm fork server, not a fresh interpreter per command (seconds each).
    env = {**daemon.env, "PATH": f"{mnwd_on_path(tmp_path)}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = ["bash", "-euo", "pipefail", "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["user"]["username"] == "alice"
    assert lines[1].split()[:3] == ["ID", "NAME", "SCOPES"]
    assert "backup script" in lines[2]
    assert lines[3].startswith("token ")
    assert lines[3].endswith(" revoked")
    assert lines[4] == "401"
