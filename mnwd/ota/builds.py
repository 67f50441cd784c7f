"""Builds on push: a push to an app's configured branch builds it and makes a draft release (docs/ota.md).

- ``check_config_input(...)`` -> `ConfigInput` or `ValidationFailed` (422, per field);
  ``set_build_config(services, app, data)`` -> `BuildConfig` (one per app; the repository must be the app
  creator's own, else 422 -- nobody builds someone else's code); ``get_build_config``, ``delete_build_config``.
- ``list_builds(pool, config)``, ``get_build(pool, app, build_id)`` (with its log; another app's build is 404).
- ``on_push(services, event)`` (subscribed with `mnwd.git.on_pushed` in the domain's start): for each enabled
  config of the pushed repository and branch, one ``pending`` build row and one durable ``ota.build`` job,
  in one transaction. ``catch_up(services)`` does the same for pushes nobody heard.
- ``run_build_job(services, job)``: claims the build (``building``), checks the commit out of the bare
  repository, runs the command (`mnwd.ota.runner`), reads the version, creates a draft release and uploads
  the artifacts through `mnwd.ota.releases` (the CI API's code: signed with the app's server key when it has
  one, or with a ``FILE.sig`` the build wrote), then ``succeeded`` or ``failed`` with the reason in ``error``.
  The log is written to the row every second while the command runs.

Races handled:

- Every daemon hears every push: each commit is built once per config. Queueing locks the config row and
  skips a commit that has a build; the job's idempotency key ``ota.build:{config}:{commit}`` holds as well.
- A push no daemon heard (best-effort NOTIFY): ``catch_up(services)``, run by every daemon every 30 seconds
  (`Periodic`), queues the branch head of configs whose repository was pushed after their newest build, and
  fails a build still ``building`` an hour past the timeout (its job died on every attempt), starting the
  next one of its app.
- One build per config at a time: claiming locks the config row; a build whose config has another build
  ``building``, or an older one ``pending``, stays ``pending`` and its job ends. Whoever finishes a build
  (in the transaction that marks it finished, under the same lock) enqueues a job for the oldest pending
  one, so the queue runs in push order and nothing waits inside a job slot.
- A daemon dying mid-build: the job comes back after its lease (`mnwd.db.jobs`); the build row records the
  job that claimed it (``job_id``), so that job's next attempt starts the build over, and any other job for
  the same build (a duplicate wake-up) leaves it alone. Outcome and log writes are fenced on ``job_id``.
- A version already released: the build fails (``409 version-taken`` in ``error``), unless the release is
  the one this build made on an earlier attempt (then it is completed).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from mnwd.apps import App, get_app
from mnwd.db.jobs import Job, PermanentJobError, enqueue
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import NotFound, Problem, ValidationFailed
from mnwd.git import PushedEvent, find_repo, repo_path
from mnwd.ota import queries, releases, runner
from mnwd.ota.model import rfc3339
from mnwd.ota.settings import OtaSettings
from mnwd.services import Services

__all__ = [
    "BUILD_JOB",
    "Build",
    "BuildConfig",
    "ConfigInput",
    "catch_up",
    "check_config_input",
    "delete_build_config",
    "get_build",
    "get_build_config",
    "list_builds",
    "on_push",
    "run_build_job",
    "set_build_config",
]

log = logging.getLogger(__name__)

BUILD_JOB = "ota.build"
BUILD_ATTEMPTS = 3
# A build still `building` this long after its timeout is given up (its job died for good).
STALE_GRACE_SECONDS = 3600.0
LOG_FLUSH_SECONDS = 1.0
FILE_CHUNK = 256 * 1024
MAX_COMMAND_CHARS = 4096
MAX_TARGETS = 32
BRANCH = re.compile(r"^(?!/|.*\.\.|.*//|.*/$|.*\.lock$)[A-Za-z0-9._/-]{1,200}$")
REPO = re.compile(r"^([A-Za-z0-9_-]{1,64})/([A-Za-z0-9._-]{1,100})$")


@dataclass(frozen=True)
class BuildConfig:
    id: uuid.UUID
    app_id: uuid.UUID
    repo_id: uuid.UUID
    repo: str
    branch: str
    build_command: str
    artifact_path: str
    targets: list[str]
    enabled: bool
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> BuildConfig:
        return cls(
            id=row["id"],
            app_id=row["app_id"],
            repo_id=row["repo_id"],
            repo=f"{row['repo_owner']}/{row['repo_name']}",
            branch=row["branch"],
            build_command=row["build_command"],
            artifact_path=row["artifact_path"],
            targets=list(row["targets"]),
            enabled=row["enabled"],
            updated_at=row["updated_at"],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "build_command": self.build_command,
            "artifact_path": self.artifact_path,
            "targets": self.targets,
            "enabled": self.enabled,
            "updated_at": rfc3339(self.updated_at),
        }


@dataclass(frozen=True)
class Build:
    id: uuid.UUID
    config_id: uuid.UUID
    release_id: uuid.UUID | None
    status: str
    commit_sha: str
    ref_name: str
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    log: str | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Build:
        return cls(
            id=row["id"],
            config_id=row["config_id"],
            release_id=row["release_id"],
            status=row["status"],
            commit_sha=row["commit_sha"],
            ref_name=row["ref_name"],
            error=row["error"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            created_at=row["created_at"],
            log=row.get("log"),
        )

    @property
    def running(self) -> bool:
        return self.status in ("pending", "building")

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "status": self.status,
            "commit": self.commit_sha,
            "ref": self.ref_name,
            "error": self.error,
            "release_id": None if self.release_id is None else str(self.release_id),
            "created_at": rfc3339(self.created_at),
            "started_at": None if self.started_at is None else rfc3339(self.started_at),
            "finished_at": None if self.finished_at is None else rfc3339(self.finished_at),
        }
        if self.log is not None:
            body["log"] = self.log
        return body


# Configuration


@dataclass(frozen=True)
class ConfigInput:
    repo: str
    branch: str
    build_command: str
    artifact_path: str
    targets: list[str]
    enabled: bool


def check_config_input(
    repo: str, branch: str | None, build_command: str, artifact_path: str | None, targets: list[str], enabled: bool
) -> ConfigInput:
    errors: list[dict[str, str]] = []
    if REPO.fullmatch(repo.strip()) is None:
        errors.append({"field": "repo", "message": "must be owner/name of a repository on this server"})
    branch = (branch or "main").strip()
    if BRANCH.fullmatch(branch) is None:
        errors.append({"field": "branch", "message": "must be a branch name such as main or release/1.x"})
    command = build_command.strip()
    if not command or len(command) > MAX_COMMAND_CHARS or "\x00" in command:
        errors.append({"field": "build_command", "message": f"must be 1 to {MAX_COMMAND_CHARS} characters"})
    directory = (artifact_path or ".").strip() or "."
    if directory.startswith("/") or ".." in Path(directory).parts or "\x00" in directory or len(directory) > 500:
        errors.append({"field": "artifact_path", "message": "must be a directory inside the checkout, such as dist"})
    cleaned = [t.strip() for t in targets if t.strip()]
    if not cleaned:
        errors.append({"field": "targets", "message": "name at least one target/arch[/bundle_type]=file"})
    elif len(cleaned) > MAX_TARGETS:
        errors.append({"field": "targets", "message": f"at most {MAX_TARGETS}"})
    else:
        for text in cleaned:
            try:
                runner.parse_target(text)
            except ValueError as exc:
                errors.append({"field": "targets", "message": str(exc)})
    if errors:
        raise ValidationFailed("The build configuration was not saved.", errors=errors)
    return ConfigInput(repo.strip(), branch, command, directory, cleaned, enabled)


async def set_build_config(services: Services, app: App, data: ConfigInput) -> BuildConfig:
    owner, name = data.repo.split("/", 1)
    repo = await find_repo(services, owner, name)
    if repo is None or repo.user_id != app.creator_id:
        raise ValidationFailed(
            "The build configuration was not saved.",
            errors=[{"field": "repo", "message": "must be a repository of the app's creator on this server"}],
        )

    async def body(tx: Tx) -> BuildConfig:
        await queries.upsert_build_config(
            tx.conn,
            app.id,
            repo_id=repo.id,
            branch=data.branch,
            build_command=data.build_command,
            artifact_path=data.artifact_path,
            targets=data.targets,
            enabled=data.enabled,
        )
        row = await queries.get_build_config(tx.conn, app.id)
        assert row is not None
        return BuildConfig.from_row(row)

    return await run_tx(services.pool, "ota.builds.configure", body, metrics=services.metrics)


async def get_build_config(pool: asyncpg.Pool, app: App) -> BuildConfig | None:
    row = await queries.get_build_config(pool, app.id)
    return None if row is None else BuildConfig.from_row(row)


async def delete_build_config(pool: asyncpg.Pool, app: App) -> None:
    if not await queries.delete_build_config(pool, app.id):
        raise NotFound("This app has no build configuration.")


async def list_builds(pool: asyncpg.Pool, config: BuildConfig, limit: int = 20) -> list[Build]:
    return [Build.from_row(row) for row in await queries.list_builds(pool, config.id, limit)]


async def get_build(pool: asyncpg.Pool, app: App, build_id: uuid.UUID) -> Build:
    config = await get_build_config(pool, app)
    row = await queries.get_build(pool, build_id, with_log=True)
    if config is None or row is None or row["config_id"] != config.id:
        raise NotFound("This app has no such build.")
    return Build.from_row(row)


# The push


async def _queue_build(tx: Tx, config_id: uuid.UUID, commit_sha: str, ref: str) -> bool:
    """One pending build of the commit and its job, unless the config already has a build of that commit."""
    if not await queries.lock_build_config(tx.conn, config_id):
        return False
    if await queries.commit_built(tx.conn, config_id, commit_sha):
        return False
    build_id = uuid.uuid4()
    key = f"{BUILD_JOB}:{config_id}:{commit_sha}"
    if await enqueue(tx.conn, BUILD_JOB, {"build_id": str(build_id)}, key=key) is None:
        return False
    await queries.insert_build(tx.conn, build_id, config_id, commit_sha, ref)
    return True


async def on_push(services: Services, event: PushedEvent) -> None:
    if event.deleted or not event.ref.startswith("refs/heads/"):
        return
    branch = event.ref.removeprefix("refs/heads/")

    async def body(tx: Tx) -> int:
        queued = 0
        for config_id in await queries.configs_for_push(tx.conn, event.repo_id, branch):
            queued += await _queue_build(tx, config_id, event.new_sha, event.ref)
        if queued:
            tx.after_commit(services.jobs.wake)
        return queued

    await run_tx(services.pool, "ota.builds.push", body, metrics=services.metrics)


async def _give_up_stale(services: Services) -> int:
    """Fails the builds ``building`` for far longer than any build runs (the runner kills its command at the
    timeout), so a job that died for good does not hold its app's queue; starts the next build of each."""
    seconds = services.config.section(OtaSettings).build_timeout + STALE_GRACE_SECONDS

    async def body(tx: Tx) -> int:
        started = 0
        for row in await queries.fail_stale_builds(tx.conn, seconds):
            following = await queries.oldest_pending_build(tx.conn, row["config_id"])
            if following is not None:
                key = f"{BUILD_JOB}:after:{row['id']}"
                started += await enqueue(tx.conn, BUILD_JOB, {"build_id": str(following)}, key=key) is not None
        return started

    return await run_tx(services.pool, "ota.builds.give_up", body, metrics=services.metrics)


async def catch_up(services: Services) -> int:
    """Builds for pushes no daemon heard (a daemon died between the push's commit and its NOTIFY, or the
    LISTEN connection was down): every enabled config whose repository was pushed after its newest build
    gets a build of its branch's head, unless that commit was built. The number of builds queued."""
    queued = await _give_up_stale(services)
    for row in await queries.configs_pushed_since_built(services.pool):
        head = await runner.branch_head(repo_path(services, row["repo_id"]), row["branch"])
        if head is None:
            continue

        async def body(tx: Tx, config_id: uuid.UUID = row["id"], sha: str = head, ref: str = row["branch"]) -> bool:
            return await _queue_build(tx, config_id, sha, f"refs/heads/{ref}")

        if await run_tx(services.pool, "ota.builds.catch_up", body, metrics=services.metrics):
            queued += 1
    if queued:
        services.jobs.wake()
    return queued


# The job


@dataclass(frozen=True)
class Claimed:
    config: BuildConfig
    build: Build


async def _claim(services: Services, job: Job, build_id: uuid.UUID) -> Claimed | None:
    async def body(tx: Tx) -> Claimed | None:
        first = await queries.get_build(tx.conn, build_id)
        if first is None:
            return None
        config_row = await queries.get_build_config_by_id(tx.conn, first["config_id"], lock=True)
        row = await queries.get_build(tx.conn, build_id)
        if config_row is None or row is None or row["status"] in ("succeeded", "failed"):
            return None
        if row["status"] == "building" and row["job_id"] != job.id:
            return None  # another job runs it
        if row["status"] == "pending":
            if await queries.other_build_running(tx.conn, row["config_id"], build_id):
                return None  # the running build starts the next one when it finishes
            if await queries.oldest_pending_build(tx.conn, row["config_id"]) != build_id:
                return None  # an older one goes first
        await queries.start_build(tx.conn, build_id, job.id)
        return Claimed(BuildConfig.from_row(config_row), Build.from_row(row))

    return await run_tx(services.pool, "ota.builds.claim", body, metrics=services.metrics)


async def _finish(
    services: Services, job: Job, build: Build, *, succeeded: bool, output: runner.CappedLog, error: str | None
) -> None:
    async def body(tx: Tx) -> None:
        await queries.get_build_config_by_id(tx.conn, build.config_id, lock=True)
        if not await queries.finish_build(
            tx.conn, build.id, job.id, succeeded=succeeded, log=output.text(), error=error
        ):
            return
        following = await queries.oldest_pending_build(tx.conn, build.config_id)
        if following is not None:
            await enqueue(tx.conn, BUILD_JOB, {"build_id": str(following)}, key=f"{BUILD_JOB}:after:{build.id}")
            tx.after_commit(services.jobs.wake)

    await run_tx(services.pool, "ota.builds.finish", body, metrics=services.metrics)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := await asyncio.to_thread(file.read, FILE_CHUNK):
            yield chunk


async def _release(services: Services, app: App, build: Build, version: str) -> str:
    """The draft release of this build: created, or the one an earlier attempt of this build created."""
    notes = f"Built from {build.commit_sha[:12]} ({build.ref_name.removeprefix('refs/heads/')})."
    data = releases.check_release_input(version, notes, None, True, None, None)
    try:
        release = await releases.create_release(services, app, data)
    except releases.VersionTaken:
        existing = await releases.get_release(services.pool, app, data.version)
        if existing.id != build.release_id or existing.is_published:
            raise
        return existing.version
    await queries.set_build_release(services.pool, build.id, release.id)
    return release.version


async def _upload(services: Services, app: App, version: str, artifacts: list[tuple[Any, Path]]) -> None:
    for slot, path in artifacts:
        sig = path.with_name(path.name + ".sig")
        signature = base64.b64encode(sig.read_bytes()).decode() if sig.is_file() else None
        try:
            file_name = releases.check_file_name(path.name)
        except Problem:
            file_name = None
        await releases.store_artifact(
            services,
            app,
            version,
            slot,
            _file_chunks(path),
            size=path.stat().st_size,
            file_name=file_name,
            signature_b64=signature,
        )


async def _build(services: Services, job: Job, claimed: Claimed, app: App, output: runner.CappedLog) -> str:
    """Runs the build in a temporary directory; the version released. Raises BuildError or a Problem."""
    config, build = claimed.config, claimed.build
    timeout = services.config.section(OtaSettings).build_timeout
    top = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mnwd-build-"))
    try:
        home = top / "home"
        home.mkdir()
        work = top / "src"
        output.line(f"$ git checkout {build.commit_sha}  # {config.repo} {build.ref_name}")
        await runner.checkout(repo_path(services, config.repo_id), build.commit_sha, work, home)
        output.line(f"$ {config.build_command}")

        dirty = asyncio.Event()
        flusher = asyncio.ensure_future(_flush_log(services, job, build, output, dirty))
        try:
            status = await runner.run_command(
                config.build_command, cwd=work, home=home, seconds=timeout, log=output, on_output=dirty.set
            )
        finally:
            flusher.cancel()
        if status is None:
            raise runner.BuildError(f"The build ran longer than {timeout:g} seconds; its processes were killed.")
        if status != 0:
            raise runner.BuildError(f"The build command exited with status {status}.")
        version = await runner.version_of(work, home)
        artifacts = runner.collect(work, config.artifact_path, config.targets)
        version = await _release(services, app, build, version)
        for slot, path in artifacts:
            output.line(f"uploading {path.relative_to(work)} as {slot.platform} of {version}")
        await _upload(services, app, version, artifacts)
        output.line(f"draft release {version} is ready to publish")
        return version
    finally:
        await asyncio.to_thread(shutil.rmtree, top, True)


async def _flush_log(
    services: Services, job: Job, build: Build, output: runner.CappedLog, dirty: asyncio.Event
) -> None:
    while True:
        await dirty.wait()
        dirty.clear()
        try:
            await queries.set_build_log(services.pool, build.id, job.id, output.text())
        except (asyncpg.PostgresError, OSError):
            log.warning("ota: could not write a build's log", extra={"build_id": str(build.id)})
        await asyncio.sleep(LOG_FLUSH_SECONDS)


async def run_build_job(services: Services, job: Job) -> None:
    try:
        build_id = uuid.UUID(str(job.payload["build_id"]))
    except (KeyError, ValueError):
        raise PermanentJobError("an ota.build job without a build id") from None
    claimed = await _claim(services, job, build_id)
    if claimed is None:
        return
    output = runner.CappedLog()
    app = await get_app(services.pool, claimed.config.app_id)
    if app is None or not app.is_active:
        await _finish(services, job, claimed.build, succeeded=False, output=output, error="The app is not active.")
        return
    try:
        await _build(services, job, claimed, app, output)
    except runner.BuildError as exc:
        output.line(f"error: {exc}")
        await _finish(services, job, claimed.build, succeeded=False, output=output, error=str(exc))
        return
    except Problem as exc:
        output.line(f"error: {exc.detail}")
        error = f"{exc.status} {exc.slug}: {exc.detail}"
        await _finish(services, job, claimed.build, succeeded=False, output=output, error=error)
        return
    except Exception:
        if not job.last_attempt:
            raise  # retried: the next attempt starts the build over
        log.exception("ota: a build failed", extra={"build_id": str(build_id)})
        await _finish(services, job, claimed.build, succeeded=False, output=output, error="internal error")
        return
    await _finish(services, job, claimed.build, succeeded=True, output=output, error=None)
