"""Running one build on this machine, without the database (`mnwd.ota.builds` drives it).

- ``checkout(bare, sha, into)``: ``git clone --no-checkout`` of the bare repository, then a detached checkout of
  the pushed commit (no hooks, no submodules, no system or global git config).
- ``run_command(command, cwd=, home=, seconds=, log=, on_output=)`` -> the exit status, or None on timeout:
  ``/bin/sh -c command`` in a process group of its own (``start_new_session``), stdin closed, stdout and stderr
  together into ``log``, with an environment of ``PATH``, ``HOME`` (the build's temporary directory) and
  ``LANG`` only: nothing of the daemon's (``MNWD_SECRET_KEY``, ``DATABASE_URL``) reaches the build. On timeout
  the whole group is killed (``SIGKILL``), grandchildren included; when the shell exits, whatever it left
  running in its group is killed too, so nothing outlives its build.
- `CappedLog`: the output kept for people, at most ``limit`` bytes: the head and the tail, with a line saying
  how much was cut between them.
- ``version_of(work)`` -> the release's version: the first line of ``VERSION`` at the checkout's root after the
  command ran, else a tag ``vX.Y.Z``/``X.Y.Z`` on the commit; None when neither gives a SemVer version.
- ``collect(work, artifact_path, targets)`` -> the files to upload, each inside the checkout (``../`` and
  symlinks leading out are refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnwd.ota.model import Slot
from mnwd.ota.versions import parse_version

__all__ = [
    "BuildError",
    "CappedLog",
    "Output",
    "branch_head",
    "checkout",
    "collect",
    "parse_target",
    "run_command",
    "version_of",
]

LOG_LIMIT = 1024 * 1024
READ_CHUNK = 64 * 1024
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


class BuildError(Exception):
    """A build that cannot go on; its message is shown to the creator."""


class CappedLog:
    """At most ``limit`` bytes of output: the first half as it came, then the newest bytes."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def write(self, data: bytes) -> None:
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        keep = self.limit - self.limit // 2
        if len(self.tail) > keep:
            extra = len(self.tail) - keep
            del self.tail[:extra]
            self.cut += extra

    def line(self, text: str) -> None:
        self.write(text.encode() + b"\n")

    def text(self) -> str:
        middle = f"\n[… {self.cut:,} bytes of output cut …]\n".encode() if self.cut else b""
        # PostgreSQL text holds no NUL.
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace").replace("\x00", "\ufffd")


def build_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", SAFE_PATH) or SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8"}


async def _git(home: Path, cwd: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env={**build_env(home), **GIT_ENV},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BuildError(f"git {args[0]} failed: {err.decode('utf-8', 'replace').strip()[-500:]}")
    return out.decode("utf-8", "replace")


async def checkout(bare: Path, sha: str, into: Path, home: Path) -> None:
    if not await asyncio.to_thread(bare.is_dir):
        raise BuildError("The repository is not on this server's disk.")
    await _git(home, into.parent, "clone", "--quiet", "--no-checkout", "--no-hardlinks", str(bare), into.name)
    await _git(home, into, "-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--detach", sha)


async def branch_head(bare: Path, branch: str) -> str | None:
    """The commit ``refs/heads/{branch}`` of the bare repository names, or None."""
    process = await asyncio.create_subprocess_exec(
        "git",
        "--git-dir",
        str(bare),
        "rev-parse",
        "--verify",
        "--quiet",
        f"refs/heads/{branch}^{{commit}}",
        env={**build_env(bare), **GIT_ENV},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    head = out.decode().strip()
    return head if process.returncode == 0 and head else None


Output = Callable[[], None]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def run_command(
    command: str, *, cwd: Path, home: Path, seconds: float, log: CappedLog, on_output: Output | None = None
) -> int | None:
    """The shell's exit status, or None when ``seconds`` passed (the group was killed)."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        env=build_env(home),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    pgid = process.pid
    assert process.stdout is not None
    stdout = process.stdout

    async def read() -> None:
        while chunk := await stdout.read(READ_CHUNK):
            log.write(chunk)
            if on_output is not None:
                on_output()

    reader = asyncio.ensure_future(read())
    status: int | None
    try:
        try:
            async with asyncio.timeout(seconds):
                status = await process.wait()
        except TimeoutError:
            status = None
    finally:
        # The shell is gone (or timed out): nothing of its group may outlive the build.
        _kill_group(pgid)
        if process.returncode is None:
            await process.wait()
        try:
            async with asyncio.timeout(5):
                await reader
        except TimeoutError:
            reader.cancel()
    return status


def version_of_file(work: Path) -> str | None:
    path = work / "VERSION"
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as file:
        first = file.read(200).split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    parsed = parse_version(first)
    if parsed is None:
        raise BuildError(f"VERSION holds {first[:60]!r}, not a SemVer version such as 1.2.3.")
    return str(parsed)


async def version_of(work: Path, home: Path) -> str:
    found = version_of_file(work)
    if found is not None:
        return found
    tags = (await _git(home, work, "tag", "--points-at", "HEAD")).split()
    for tag in sorted(tags):
        parsed = parse_version(tag)
        if parsed is not None:
            return str(parsed)
    raise BuildError("No version: write it to a VERSION file (or tag the commit v1.2.3).")


@dataclass(frozen=True)
class Target:
    slot: Slot
    file: str


def parse_target(text: str) -> Target:
    """``target/arch[/bundle_type]=file``; raises ValueError (its message for the creator) when malformed."""
    platform, sep, file = text.partition("=")
    parts = platform.strip().split("/")
    if not sep or not file.strip() or len(parts) not in (2, 3):
        raise ValueError(f"{text[:80]!r} is not target/arch[/bundle_type]=file")
    try:
        slot = Slot.parse(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
    except Exception:
        raise ValueError(f"{platform[:80]!r} is not a known target/arch[/bundle_type]") from None
    relative = file.strip()
    if relative.startswith("/") or ".." in Path(relative).parts or "\x00" in relative:
        raise ValueError(f"{relative[:80]!r} must be a path inside the artifact directory")
    return Target(slot, relative)


def _inside(work: Path, relative: str) -> Path:
    root = work.resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise BuildError(f"{relative} leads outside the checkout.")
    return path


def collect(work: Path, artifact_path: str, targets: list[str]) -> list[tuple[Slot, Path]]:
    directory = _inside(work, artifact_path)
    found = []
    for text in targets:
        try:
            target = parse_target(text)
        except ValueError as exc:
            raise BuildError(str(exc)) from None
        path = _inside(work, str(directory.relative_to(work.resolve()) / target.file))
        if not path.is_file():
            raise BuildError(f"The build made no {artifact_path.rstrip('/')}/{target.file}.")
        found.append((target.slot, path))
    if not found:
        raise BuildError("The build configuration names no artifact (targets).")
    return found
