"""Builds on push: a real bare repository (the `git` CLI), the pushed event published as a push publishes it,
the durable job queue run in-process, real `/bin/sh` builds, and the draft release they make."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.db.jobs import Job
from mnwd.git import PushedEvent
from mnwd.git.events import publish_pushed
from mnwd.ota import builds
from mnwd.ota.runner import CappedLog
from mnwd.ota.settings import OtaSettings
from mnwd.services import Services
from tests.git.repos_fixture import MakeGitRepo, commit_files, git, make_git_repo, push
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, register_app

__all__ = ["make_git_repo"]

ZERO = "0" * 40
MAKE_DIST = "mkdir -p dist && printf 'built %s' \"$(cat VERSION)\" > dist/notes.tar.gz"


class Setup:
    def __init__(self, services: Services, client: TestClient, app: RegisteredApp, repo_id: uuid.UUID, work: Path):  # type: ignore[type-arg]
        self.services = services
        self.client = client
        self.app = app
        self.repo_id = repo_id
        self.work = work
        self.head = git(work, "rev-parse", "HEAD")

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.app.api_key}"}

    async def configure(self, command: str, status: int = 200, **fields: Any) -> dict[str, Any]:
        body = {
            "repo": "maker/notes-app",
            "branch": "main",
            "build_command": command,
            "artifact_path": "dist",
            "targets": ["linux/x86_64=notes.tar.gz"],
            **fields,
        }
        response = await self.client.put("/ota/v1/notes/build", json=body, headers=self.auth())
        assert response.status == status, await response.text()
        result: dict[str, Any] = await response.json()
        return result

    async def commit(self, files: dict[str, str]) -> tuple[str, str]:
        old = self.head
        self.head = commit_files(self.work, files, "change")
        push(self.work, "main")
        return old, self.head

    def event(self, old: str, new: str, ref: str = "refs/heads/main") -> PushedEvent:
        return PushedEvent(self.repo_id, "maker", "notes-app", ref, old, new, uuid.uuid4(), "maker")

    async def builds(self) -> list[dict[str, Any]]:
        response = await self.client.get("/ota/v1/notes/builds", headers=self.auth())
        assert response.status == 200, await response.text()
        found: list[dict[str, Any]] = (await response.json())["builds"]
        return found

    async def build(self, build_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/ota/v1/notes/builds/{build_id}", headers=self.auth())
        assert response.status == 200, await response.text()
        found: dict[str, Any] = await response.json()
        return found

    async def releases(self) -> list[dict[str, Any]]:
        response = await self.client.get("/ota/v1/notes/releases", headers=self.auth())
        found: list[dict[str, Any]] = (await response.json())["releases"]
        return found


@pytest.fixture
async def setup(
    services: Services,
    client: TestClient,  # type: ignore[type-arg]
    make_user: MakeUser,
    make_git_repo: MakeGitRepo,
    pool: asyncpg.Pool,
) -> Setup:
    maker = await make_user("maker", can_create_projects=True)
    app = await register_app(pool, maker["id"], slug="notes")
    repo, work = await make_git_repo(maker, "notes-app", {"VERSION": "1.0.0\n", "README.md": "# Notes"})
    return Setup(services, client, app, repo.id, work)


async def wait_for(predicate: Any, seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():  # noqa: ASYNC110 - polling what the server shows
            await asyncio.sleep(0.05)


async def test_a_push_builds_a_draft_release_with_the_artifact(setup: Setup) -> None:
    config = await setup.configure(MAKE_DIST)
    assert config["repo"] == "maker/notes-app"
    assert config["targets"] == ["linux/x86_64=notes.tar.gz"]
    old, new = await setup.commit({"VERSION": "1.2.0\n"})

    # As a push publishes it: NOTIFY through the LISTEN bus, heard by the ota domain's subscriber.
    publish_pushed(setup.services, [setup.event(old, new)])

    async def queued() -> bool:
        return len(await setup.builds()) == 1

    await wait_for(queued)
    [build] = await setup.builds()
    assert build["status"] == "pending"
    assert build["commit"] == new
    assert build["ref"] == "refs/heads/main"
    assert await setup.services.jobs.run_due() == 1

    done = await setup.build(build["id"])
    assert done["status"] == "succeeded", done
    assert "$ " + MAKE_DIST in done["log"]
    [release] = await setup.releases()
    assert release["version"] == "1.2.0"
    assert release["status"] == "draft"
    assert done["release_id"] == release["id"]
    [artifact] = release["artifacts"]
    assert (artifact["target"], artifact["arch"], artifact["file_name"]) == ("linux", "x86_64", "notes.tar.gz")
    assert artifact["size"] == len(b"built 1.2.0")

    # The same push heard again (another daemon, a replay) builds nothing more.
    await builds.on_push(setup.services, setup.event(old, new))
    assert len(await setup.builds()) == 1


async def test_the_server_signs_the_artifact_and_the_bytes_are_the_built_ones(setup: Setup) -> None:
    response = await setup.client.post("/ota/v1/notes/signing-key", headers=setup.auth())
    assert response.status == 200
    await setup.configure("mkdir -p dist && printf 'exact bytes' > dist/notes.tar.gz")
    old, new = await setup.commit({"VERSION": "2.0.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [release] = await setup.releases()
    [artifact] = release["artifacts"]
    assert artifact["signature"]
    assert artifact["size"] == len(b"exact bytes")
    publish = await setup.client.post("/ota/v1/notes/releases/2.0.0/publish", headers=setup.auth())
    assert publish.status == 200, await publish.text()
    check = await setup.client.get("/ota/v1/notes/linux/x86_64/1.0.0")
    answer = await check.json()
    download = await setup.client.get(urlsplit(answer["url"]).path)
    assert await download.read() == b"exact bytes"


async def test_a_failing_command_fails_the_build_with_its_log(setup: Setup) -> None:
    await setup.configure("echo compiling; echo 'error: no such crate' >&2; exit 3")
    old, new = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [build] = await setup.builds()
    done = await setup.build(build["id"])
    assert done["status"] == "failed"
    assert done["error"] == "The build command exited with status 3."
    assert "compiling\nerror: no such crate\n" in done["log"]
    assert done["finished_at"]
    assert done["release_id"] is None
    assert await setup.releases() == []


async def test_other_branches_tags_and_deletions_build_nothing(setup: Setup) -> None:
    await setup.configure(MAKE_DIST)
    old, new = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old, new, "refs/heads/feature"))
    await builds.on_push(setup.services, setup.event(old, new, "refs/tags/v1.1.0"))
    await builds.on_push(setup.services, setup.event(new, ZERO))
    assert await setup.builds() == []


async def test_a_timeout_kills_the_whole_process_group(setup: Setup, tmp_path: Path) -> None:
    setup.services.config._sections[OtaSettings] = OtaSettings(build_timeout=2.0)
    pid_file = tmp_path / "grandchild.pid"
    await setup.configure(f"sh -c 'sleep 300 & echo $! > {pid_file}; wait' ; echo never")
    old, new = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [build] = await setup.builds()
    done = await setup.build(build["id"])
    assert done["status"] == "failed"
    assert "longer than 2 seconds" in done["error"]
    assert "\nnever\n" not in done["log"]
    pid = int(pid_file.read_text())

    async def gone() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"

    await wait_for(gone, 5)


async def test_a_push_while_building_queues_a_build_that_runs_after(setup: Setup, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    await setup.configure(f"while [ ! -f {gate} ]; do sleep 0.05; done; {MAKE_DIST}")
    old1, new1 = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old1, new1))
    first_run = asyncio.ensure_future(setup.services.jobs.run_due())
    try:

        async def building() -> bool:
            return [b["status"] for b in await setup.builds()] == ["building"]

        await wait_for(building)
        old2, new2 = await setup.commit({"VERSION": "1.2.0"})
        await builds.on_push(setup.services, setup.event(old2, new2))
        # Its job runs now and leaves it waiting: one build per config at a time.
        assert await setup.services.jobs.run_due() == 1
        assert [b["status"] for b in await setup.builds()] == ["pending", "building"]
        gate.write_text("go")
        await first_run
    finally:
        gate.write_text("go")
        await first_run
    assert [b["status"] for b in await setup.builds()] == ["pending", "succeeded"]
    assert await setup.services.jobs.run_due() == 1  # the finished build started the next one
    second, first = await setup.builds()
    assert (first["commit"], first["status"]) == (new1, "succeeded")
    assert (second["commit"], second["status"]) == (new2, "succeeded")
    assert sorted(r["version"] for r in await setup.releases()) == ["1.1.0", "1.2.0"]


async def test_the_build_sees_no_secret_of_the_daemon(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNWD_SECRET_KEY", "s3cret-of-the-daemon-" + "x" * 20)
    monkeypatch.setenv("DATABASE_URL", "postgresql://leak@nowhere/db")
    await setup.configure(f"env; echo HOME-IS=$HOME; {MAKE_DIST}")
    old, new = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [build] = await setup.builds()
    done = await setup.build(build["id"])
    assert done["status"] == "succeeded", done
    assert "s3cret-of-the-daemon" not in done["log"]
    assert "leak@nowhere" not in done["log"]
    names = {line.split("=", 1)[0] for line in done["log"].splitlines() if "=" in line and not line.startswith("$")}
    assert names - {"HOME-IS"} <= {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}
    home = next(line for line in done["log"].splitlines() if line.startswith("HOME-IS="))
    assert home.startswith("HOME-IS=/")
    assert "mnwd-build-" in home
    assert not os.path.exists(home.split("=", 1)[1])


async def test_a_version_already_released_fails_the_build(setup: Setup) -> None:
    created = await setup.client.post("/ota/v1/notes/releases", json={"version": "1.0.0"}, headers=setup.auth())
    assert created.status == 201
    await setup.configure(MAKE_DIST)
    old, new = await setup.commit({"README.md": "# Notes 2"})  # VERSION still 1.0.0
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [build] = await setup.builds()
    done = await setup.build(build["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("409 version-taken")


async def test_a_missing_artifact_or_a_path_leading_out_fails(setup: Setup) -> None:
    await setup.configure("ln -s /etc/passwd out; mkdir -p dist; ln -s ../out dist/notes.tar.gz")
    old, new = await setup.commit({"VERSION": "1.1.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    await setup.services.jobs.run_due()
    [build] = await setup.builds()
    done = await setup.build(build["id"])
    assert done["status"] == "failed"
    assert "leads outside the checkout" in done["error"]
    assert await setup.releases() == []


async def test_the_config_api_checks_its_input_and_its_caller(setup: Setup, make_user: MakeUser) -> None:
    bad = await setup.configure("", status=422, branch="../x", artifact_path="../up", targets=["mac/x=a"])
    fields = {e["field"] for e in bad["errors"]}
    assert fields == {"build_command", "branch", "artifact_path", "targets"}
    # Someone else's repository (private or not) cannot be built by this app.
    other = await make_user("other")
    await builds_repo(setup, other)
    taken = await setup.configure(MAKE_DIST, status=422, repo="other/theirs")
    assert taken["errors"][0]["field"] == "repo"
    missing = await setup.configure(MAKE_DIST, status=422, repo="maker/nope")
    assert missing["errors"][0]["field"] == "repo"
    unknown = await setup.client.put(
        "/ota/v1/notes/build", json={"repo": "maker/notes-app", "x": 1}, headers=setup.auth()
    )
    assert unknown.status in (400, 422)
    anonymous = await setup.client.get("/ota/v1/notes/build")
    assert anonymous.status == 401
    assert (await setup.client.get("/ota/v1/notes/build", headers=setup.auth())).status == 404
    await setup.configure(MAKE_DIST)
    got = await setup.client.get("/ota/v1/notes/build", headers=setup.auth())
    assert (await got.json())["build_command"] == MAKE_DIST
    nobody = await setup.client.get(f"/ota/v1/notes/builds/{uuid.uuid4()}", headers=setup.auth())
    assert nobody.status == 404
    malformed = await setup.client.get("/ota/v1/notes/builds/not-a-uuid", headers=setup.auth())
    assert malformed.status == 404


async def builds_repo(setup: Setup, owner: asyncpg.Record) -> None:
    from mnwd.git.repos import ensure_repo

    await ensure_repo(setup.services, owner["id"], "theirs", is_private=False)


async def test_the_creator_configures_builds_and_reads_the_log_on_the_dashboard(
    setup: Setup, browser: Browser, make_user: MakeUser, tmp_path: Path
) -> None:
    await sign_in(browser, "maker")
    app_page = f"/dashboard/apps/{setup.app.id}"
    form_page = f"{app_page}/ota/build"
    page = await browser.get(app_page)
    assert page.has('id="ota-build-setup"')
    fields = {
        "repo": "maker/notes-app",
        "branch": "main",
        "artifact_path": "dist",
        "targets": "linux/x86_64=notes.tar.gz\r\n",
        "enabled": "on",
    }
    bad = await browser.submit(form_page, form_page, {**fields, "build_command": "", "branch": "a..b"})
    assert bad.status == 422
    assert bad.has("must be a branch name")
    gate = tmp_path / "gate"
    command = f"printf '<b>%s</b>\\n' step-one; while [ ! -f {gate} ]; do sleep 0.05; done; {MAKE_DIST}"
    saved = await browser.submit(form_page, form_page, {**fields, "build_command": command})
    assert saved.status == 303
    page = await browser.get(app_page)
    assert page.has("Every push to <code>main</code> of <code>maker/notes-app</code> is built")

    old, new = await setup.commit({"VERSION": "3.0.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    running = asyncio.ensure_future(setup.services.jobs.run_due())
    try:
        [build] = await setup.builds()
        log_page = f"{app_page}/ota/builds/{build['id']}"

        async def shows_output() -> bool:
            return "&lt;b&gt;step-one&lt;/b&gt;" in (await browser.get(log_page)).text  # escaped, shown

        await wait_for(shows_output)
        page = await browser.get(log_page)
        assert page.has('<meta http-equiv="refresh" content="2">')
        assert page.has(">building<")
    finally:
        gate.write_text("go")
        await running
    page = await browser.get(log_page)
    assert page.has(">succeeded<")
    assert not page.has('http-equiv="refresh"')
    assert (await browser.get(app_page)).has(new[:12])

    # Someone else sees none of it.
    await make_user("other", can_create_projects=True)
    other = Browser(browser.client)
    browser.client.session.cookie_jar.clear()
    await sign_in(other, "other")
    assert (await other.get(log_page)).status == 404
    assert (await other.get(form_page)).status == 404
    assert (await other.get(f"{app_page}/ota/builds/not-a-uuid")).status == 404


async def test_a_push_nobody_heard_is_built_by_the_catch_up(setup: Setup) -> None:
    await setup.configure(MAKE_DIST)
    assert await builds.catch_up(setup.services) == 0  # nothing pushed since the config was saved
    old, new = await setup.commit({"VERSION": "1.4.0"})
    # The push's NOTIFY was lost: only git_repos.pushed_at says something happened.
    await setup.services.pool.execute("UPDATE git_repos SET pushed_at = now() WHERE id = $1", setup.repo_id)
    assert await builds.catch_up(setup.services) == 1
    assert await builds.catch_up(setup.services) == 0
    await builds.on_push(setup.services, setup.event(old, new))  # heard late: the commit is built once
    [build] = await setup.builds()
    assert (build["commit"], build["ref"], build["status"]) == (new, "refs/heads/main", "pending")
    await setup.services.jobs.run_due()
    assert (await setup.build(build["id"]))["status"] == "succeeded"
    assert [r["version"] for r in await setup.releases()] == ["1.4.0"]


async def test_a_job_rerun_after_its_daemon_died_starts_the_build_over(setup: Setup) -> None:
    await setup.configure(MAKE_DIST)
    old, new = await setup.commit({"VERSION": "1.5.0"})
    await builds.on_push(setup.services, setup.event(old, new))
    [build] = await setup.builds()
    pool = setup.services.pool
    job_row = await pool.fetchrow("SELECT id, created_at FROM jobs WHERE kind = 'ota.build'")
    # The daemon that claimed it died mid-build: the row says building, by that job.
    await pool.execute(
        "UPDATE ota_builds SET status = 'building', job_id = $2, started_at = now(), log = 'half' WHERE id = $1",
        uuid.UUID(build["id"]),
        job_row["id"],
    )

    def job(job_id: uuid.UUID, attempt: int) -> Job:
        return Job(job_id, "ota.build", {"build_id": build["id"]}, attempt, 3, None, job_row["created_at"])

    await builds.run_build_job(setup.services, job(uuid.uuid4(), 1))  # another job: leaves it alone
    assert (await setup.build(build["id"]))["status"] == "building"
    await builds.run_build_job(setup.services, job(job_row["id"], 2))  # its own job, again: builds it
    done = await setup.build(build["id"])
    assert done["status"] == "succeeded"
    assert "half" not in done["log"]
    await builds.run_build_job(setup.services, job(job_row["id"], 3))  # once more: nothing to do
    assert [r["version"] for r in await setup.releases()] == ["1.5.0"]


def test_the_log_keeps_its_head_and_tail_within_its_limit() -> None:
    log = CappedLog(limit=100)
    log.write(b"H" * 30)
    log.write(b"x" * 1000 + b"\x00")
    log.write(b"T" * 20)
    text = log.text()
    assert text.startswith("H" * 30 + "x" * 20)
    assert text.endswith("x" * 29 + "\ufffd" + "T" * 20)
    assert "[… 951 bytes of output cut …]" in text
    short = CappedLog(limit=100)
    short.line("ok")
    assert short.text() == "ok\n"


async def test_a_build_whose_job_died_for_good_is_given_up_and_the_next_runs(setup: Setup) -> None:
    await setup.configure(MAKE_DIST)
    old1, new1 = await setup.commit({"VERSION": "1.6.0"})
    await builds.on_push(setup.services, setup.event(old1, new1))
    pool = setup.services.pool
    # Its job died on every attempt (dead), leaving the build `building` since long ago.
    await pool.execute("DELETE FROM jobs")
    await pool.execute(
        "UPDATE ota_builds SET status = 'building', job_id = gen_random_uuid(), started_at = now() - interval '1 day'"
    )
    old2, new2 = await setup.commit({"VERSION": "1.7.0"})
    await builds.on_push(setup.services, setup.event(old2, new2))
    assert await setup.services.jobs.run_due() == 1  # waits behind the stuck one
    assert [b["status"] for b in await setup.builds()] == ["pending", "building"]
    assert await builds.catch_up(setup.services) == 1
    assert await setup.services.jobs.run_due() == 1
    second, first = await setup.builds()
    assert first["status"] == "failed"
    assert "given up" in (await setup.build(first["id"]))["error"]
    assert (second["commit"], second["status"]) == (new2, "succeeded")
