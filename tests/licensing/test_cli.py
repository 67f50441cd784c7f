"""`mnwd license rotate-key` run as operators run it: a separate process on this test's database."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.support.daemon import daemon_env, mnwd


async def test_rotate_key_retires_the_current_one_and_keeps_it_listed(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url, "MNWD_LOG_LEVEL": "warning"})
    first = mnwd(env, "license", "rotate-key")
    assert first.returncode == 0, first.stderr
    second = mnwd(env, "license", "rotate-key")
    assert second.returncode == 0, second.stderr
    kids = [out.stdout.strip().removeprefix("kid=") for out in (first, second)]
    rows = await pool.fetch("SELECT kid, retired_at FROM license_signing_keys ORDER BY created_at")
    assert [r["kid"] for r in rows] == kids
    assert rows[0]["retired_at"] is not None
    assert rows[1]["retired_at"] is None
    listed = mnwd(env, "license", "signing-keys")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["KID", "STATE", "CREATED"]
    assert f"{kids[1]}  current" in listed.stdout
    assert f"{kids[0]}  retired" in listed.stdout
