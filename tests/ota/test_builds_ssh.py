"""Builds on push end to end: a real `git push` over SSH to the in-process server, the pushed event through the
LISTEN bus, the build job, the draft release."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.git.conftest import MakeGitUser, git_user, make_commits, ssh_server
from tests.support.oauth import register_app

__all__ = ["git_user", "ssh_server"]


async def test_a_push_over_ssh_builds_a_draft_release(
    git_user: MakeGitUser,
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    ada = await git_user("ada")
    work = tmp_path / "notes"
    await make_commits(ada, work, 1)
    assert (await ada.git("push", "-q", ada.url("ada/notes"), "main", cwd=work)).status == 0  # creates it

    app = await register_app(pool, ada.user_id, slug="notes")
    auth = {"Authorization": f"Bearer {app.api_key}"}
    config = {
        "repo": "ada/notes",
        "build_command": "mkdir -p out && cp VERSION out/notes.tar.gz",
        "artifact_path": "out",
        "targets": ["linux/x86_64/appimage=notes.tar.gz"],
    }
    assert (await client.put("/ota/v1/notes/build", json=config, headers=auth)).status == 200

    (work / "VERSION").write_text("1.0.0\n")
    head = await make_commits(ada, work, 1)
    assert (await ada.git("push", "-q", ada.url("ada/notes"), "main", cwd=work)).status == 0

    async with asyncio.timeout(20):
        while not (await (await client.get("/ota/v1/notes/builds", headers=auth)).json())["builds"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert await services.jobs.run_due() == 1
    [build] = (await (await client.get("/ota/v1/notes/builds", headers=auth)).json())["builds"]
    assert (build["commit"], build["status"]) == (head, "succeeded")
    [release] = (await (await client.get("/ota/v1/notes/releases", headers=auth)).json())["releases"]
    assert (release["version"], release["status"]) == ("1.0.0", "draft")
    assert [(a["bundle_type"], a["size"]) for a in release["artifacts"]] == [("appimage", len(b"1.0.0\n"))]
