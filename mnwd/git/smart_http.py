"""Read-only smart HTTP (``git clone http://host/source/owner/name.git``): anonymous, public repos only.

- ``public_repo_path(services, owner, repo)`` → the bare repo's directory; ``NotFound`` for a path that is
  not ``owner/name[.git]``, a missing repo and a private one alike (signed in or not: HTTP clone is anonymous).
- ``advertisement(path, protocol)``: the answer to ``GET …/info/refs?service=git-upload-pack``, by
  ``git upload-pack --stateless-rpc --advertise-refs`` (protocol v0 answers start with the
  ``# service=git-upload-pack`` packet, as git's own http-backend does; v2 answers do not).
- ``upload_pack(path, protocol, body, write)``: ``POST …/git-upload-pack``: the request body (inflated by
  aiohttp when git sent it gzipped; at most `MAX_REQUEST_BYTES`) is fed to ``git upload-pack
  --stateless-rpc`` while its output is written out as it comes (each ``write`` awaited: a slow client
  slows git). If the client goes away, git is stopped.

Pushing over HTTP is not offered (``service=git-receive-pack`` is refused): push over SSH.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from mnwd.errors import Forbidden, NotFound, PayloadTooLarge
from mnwd.git import repos, service
from mnwd.services import Services

__all__ = ["MAX_REQUEST_BYTES", "advertisement", "check_service", "public_repo_path", "upload_pack"]

MAX_REQUEST_BYTES = 64 * 1024 * 1024
CHUNK = 256 * 1024


def check_service(name: str | None) -> None:
    if name == "git-receive-pack":
        raise Forbidden("Pushing over HTTP is not offered: push over SSH (see /settings/keys).")
    if name != "git-upload-pack":
        raise Forbidden("Only git's smart HTTP protocol is served: ?service=git-upload-pack.")


async def public_repo_path(services: Services, owner: str, repo: str) -> Path:
    parsed = repos.parse_repo_path(f"{owner}/{repo}")
    found = None if parsed is None else await repos.find_repo(services, parsed[0].lower(), parsed[1])
    if found is None or found.is_private:
        raise NotFound("Repository not found.")
    path = repos.repo_dir(services, found.id)
    if not path.is_dir():
        raise NotFound("Repository not found.")
    return path


def _pkt(line: bytes) -> bytes:
    return f"{len(line) + 4:04x}".encode() + line


def _is_v2(protocol: str | None) -> bool:
    return bool(protocol) and "version=2" in (protocol or "").split(":")


async def advertisement(path: Path, protocol: str | None) -> bytes:
    git = await service.git_process(service.UPLOAD_PACK, path, protocol, "--stateless-rpc", "--advertise-refs")
    out, err = await git.communicate(b"")
    if git.returncode != 0:
        raise RuntimeError(f"git upload-pack --advertise-refs failed: {err.decode(errors='replace').strip()}")
    prefix = b"" if _is_v2(protocol) else _pkt(b"# service=git-upload-pack\n") + b"0000"
    return prefix + out


async def _limited(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    total = 0
    async for data in body:
        total += len(data)
        if total > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(f"The request is larger than {MAX_REQUEST_BYTES} bytes.", limit=MAX_REQUEST_BYTES)
        yield data


async def upload_pack(
    path: Path,
    protocol: str | None,
    body: AsyncIterator[bytes],
    *,
    write: Callable[[bytes], Awaitable[None]],
) -> int:
    """Runs one stateless upload-pack round; returns git's exit status."""
    git = await service.git_process(service.UPLOAD_PACK, path, protocol, "--stateless-rpc")
    assert git.stdin is not None
    assert git.stdout is not None
    assert git.stderr is not None
    stdin, stdout, stderr = git.stdin, git.stdout, git.stderr

    async def feed() -> None:
        # git may stop reading before the body ends (it has what it needs, or failed): the rest is not wanted.
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                async for data in _limited(body):
                    stdin.write(data)
                    await stdin.drain()
        finally:
            with contextlib.suppress(Exception):
                stdin.close()

    async def drain_stderr() -> None:
        # Read so git never blocks on a full pipe; an HTTP client has no side band to show it on.
        while await stderr.read(CHUNK):
            continue

    feeding = asyncio.create_task(feed())
    errors = asyncio.create_task(drain_stderr())
    try:
        while data := await stdout.read(CHUNK):
            await write(data)
        await feeding  # raises what reading the body raised (too large, bad gzip)
        await errors
        return await git.wait()
    finally:
        feeding.cancel()
        errors.cancel()
        if git.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                git.kill()
            await git.wait()
