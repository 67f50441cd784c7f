"""The git SSH server (asyncssh): public-key authentication by fingerprint, and nothing but git.

`GitSshServer` is the daemon's listener (`mnwd.domain.Listener`) on ``MNWD_SSH_HOST:MNWD_SSH_PORT``:

- Host key: Ed25519, generated on first start into ``DATA_DIR/ssh/ssh_host_ed25519_key`` and kept (written
  to a temporary file and linked into place, so two daemons starting at once on one data directory agree).
- Authentication: public key only (no password, no keyboard-interactive). asyncssh asks
  ``validate_public_key`` for the unsigned probe *and* for the signed attempt, before the signature is
  checked, so the identity is bound to the last key asked about (``None`` for an unknown key) and taken only
  in ``auth_completed``, which follows a verified signature: offering someone else's public key and signing
  with one's own gets one's own identity (GHSA-pchf-49fh-w34r in Soft Serve). Any SSH user name works
  (``git@`` by custom); a suspended account's keys open nothing.
- Sessions: the command must be ``git-upload-pack``, ``git-receive-pack`` or ``git-upload-archive`` with one
  quoted ``owner/name[.git]`` (`mnwd.git.service.parse_command`). A session without a command (``ssh -T``,
  a shell, a subsystem) gets the greeting; refused commands one line on stderr; both exit 1 and close.
- Data path: the real git runs on the bare repo (by id, `mnwd.git.repos.repo_dir`) and the channel is piped
  to it in both directions with flow control (each write waits for the other side's drain: a slow client
  slows git, nothing piles up in memory). ``GIT_PROTOCOL`` from the session's environment is passed on
  (protocol v2). A push runs with `mnwd.git.service.prepare_push`'s config and hooks (storage quota, fsck,
  size cap, its own ref report). git's stderr and exit status go back to the client. No idle timeout while git runs;
  keepalives (`KEEPALIVE_SECONDS`) find dead peers. If the client goes away, git is stopped: a cut push
  leaves the refs as they were.
- At most `MAX_GIT_PER_USER` git processes run at once per account; one more is refused with a line.
- Stopping (`stop`): stop accepting, let running git processes finish until the daemon's shutdown budget
  (``MNWD_SHUTDOWN_TIMEOUT`` less its grace), then kill what is left and close the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncssh

from mnwd.git import keys, service
from mnwd.git.service import Refused, User
from mnwd.services import Services

__all__ = ["GitSshServer", "greeting", "load_host_key"]

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30.0
KEEPALIVE_COUNT = 4
LOGIN_TIMEOUT_SECONDS = 60.0
WINDOW_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024
CANCEL_GRACE = 1.0
# git processes one account may run at once over SSH (a CI farm polling with one key stays within it).
MAX_GIT_PER_USER = 32


def greeting(username: str) -> str:
    return f"Hi {username}! You've successfully authenticated, but mnwd does not provide shell access.\n"


def load_host_key(data_dir: Path) -> asyncssh.SSHKey:
    """The server's host key, made on first use and kept."""
    path = data_dir / "ssh" / "ssh_host_ed25519_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="mnwd host key")
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".host-key-")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, key.export_private_key())
            os.fsync(fd)
            os.close(fd)
            with contextlib.suppress(FileExistsError):  # another daemon made one first: use that
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return asyncssh.read_private_key(str(path))


class _Auth(asyncssh.SSHServer):
    """One connection's authentication (see the module docstring on binding to the signing key)."""

    def __init__(self, server: GitSshServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None
        self._pending: keys.KeyOwner | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._pending = None
        owner = await keys.key_owner(self._server.services, keys.fingerprint_of(key))
        self._pending = owner
        return owner is not None

    def auth_completed(self) -> None:
        assert self._conn is not None
        assert self._pending is not None
        self._conn.set_extra_info(mnwd_user=self._pending)


class GitSshServer:
    name = "git-ssh"

    def __init__(self, services: Services) -> None:
        self.services = services
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._sessions: set[asyncio.Task[None]] = set()
        self._processes: set[asyncio.subprocess.Process] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._stopping = False
        self._running: dict[uuid.UUID, int] = {}
        self.max_git_per_user = MAX_GIT_PER_USER
        self.port: int | None = None

    async def start(self) -> None:
        config = self.services.config
        host_key = await asyncio.to_thread(load_host_key, config.data_dir)
        self._acceptor = await asyncssh.create_server(
            lambda: _Auth(self),
            config.ssh_host,
            config.ssh_port,
            server_host_keys=[host_key],
            process_factory=self._session,
            encoding=None,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            sftp_factory=None,
            allow_scp=False,
            line_editor=False,
            password_auth=False,
            kbdint_auth=False,
            keepalive_interval=KEEPALIVE_SECONDS,
            keepalive_count_max=KEEPALIVE_COUNT,
            login_timeout=LOGIN_TIMEOUT_SECONDS,
            window=WINDOW_BYTES,
            server_version="mnwd",
        )
        self.port = self._acceptor.get_port()
        log.info("git SSH server listening", extra={"ssh": f"{config.ssh_host}:{self.port}"})

    async def stop(self) -> None:
        """Stop accepting; let running git finish within the shutdown budget; then kill and close."""
        self._stopping = True
        if self._acceptor is not None:
            self._acceptor.close()
        timeout = self.services.config.shutdown_timeout
        budget = max(timeout - CANCEL_GRACE, timeout / 2)
        if self._sessions:
            log.info("git SSH: waiting for running git", extra={"sessions": len(self._sessions)})
            _, pending = await asyncio.wait(set(self._sessions), timeout=budget)
            if pending:
                log.warning("git SSH: git still running at the deadline is stopped", extra={"sessions": len(pending)})
                for process in list(self._processes):
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                await asyncio.wait(pending, timeout=CANCEL_GRACE / 2)
        for conn in list(self.connections):
            conn.close()
        if self._acceptor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._acceptor.wait_closed(), CANCEL_GRACE / 2)

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        pushed: Path | None = None
        try:
            try:
                status, pushed = await self._serve(process)
            except Exception:
                log.exception("git SSH session failed")
                status = 1
                with contextlib.suppress(Exception):
                    process.stderr.write(b"mnwd: internal error; try again later\n")
            with contextlib.suppress(Exception):
                process.exit(status)
            if pushed is not None and not self._stopping:  # the client has its answer: keep the repo packed
                await self._gc_auto(pushed)
        finally:
            self._sessions.discard(task)

    async def _gc_auto(self, path: Path) -> None:
        """``git gc --auto``: packs loose objects and small packs once there are enough of them (cheap
        otherwise), so fetches stay fast after many pushes. Killed at shutdown like any git (gc is safe to
        stop)."""
        gc = await service.git_maintenance(path)
        self._processes.add(gc)
        try:
            await gc.wait()
        finally:
            self._processes.discard(gc)

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> tuple[int, Path | None]:
        """The exit status, and the repo's path after a push that changed something."""
        owner: keys.KeyOwner = process.get_extra_info("mnwd_user")
        user = User(owner.user_id, owner.username)
        await keys.note_key_used(self.services, owner.key_id)
        command = process.command
        if not command:
            process.stderr.write(greeting(user.username).encode())
            return 1, None
        if self._stopping:
            process.stderr.write(b"mnwd: the server is restarting; try again in a moment\n")
            return 1, None
        try:
            verb, repo_owner, name = service.parse_command(command)
            opened = await service.open_repo(self.services, user, verb, repo_owner, name)
        except Refused as refused:
            process.stderr.write(f"{refused}\n".encode())
            return 1, None
        running = self._running.get(user.user_id, 0)
        if running >= self.max_git_per_user:
            busy = f"mnwd: {user.username} has {running} git operations running; try again when one has finished\n"
            process.stderr.write(busy.encode())
            return 1, None
        self._running[user.user_id] = running + 1
        try:
            setup = await service.prepare_push(self.services, opened) if verb == service.RECEIVE_PACK else None
            try:
                protocol = (process.env or {}).get("GIT_PROTOCOL")
                status = await self._run_git(
                    process, verb, opened.path, protocol if isinstance(protocol, str) else None, setup
                )
                if setup is not None and await service.finish_push(self.services, opened, user, setup):
                    return status, opened.path
                return status, None
            finally:
                if setup is not None:
                    with contextlib.suppress(OSError):
                        setup.report.unlink(missing_ok=True)
        finally:
            left = self._running.pop(user.user_id) - 1
            if left:
                self._running[user.user_id] = left

    async def _run_git(
        self,
        process: asyncssh.SSHServerProcess[bytes],
        verb: str,
        path: Path,
        protocol: str | None,
        setup: service.PushSetup | None,
    ) -> int:
        git = await service.git_process(
            verb, path, protocol, config=setup.config if setup else (), env=setup.env if setup else None
        )
        self._processes.add(git)
        assert git.stdin is not None
        assert git.stdout is not None
        assert git.stderr is not None
        feeding = asyncio.create_task(_feed(process.stdin, git.stdin))
        try:

            def client_gone() -> None:  # stop git: a cut push updates no ref, a cut clone sends no more
                with contextlib.suppress(ProcessLookupError):
                    git.kill()

            await asyncio.gather(
                _pump(git.stdout, process.stdout, client_gone), _pump(git.stderr, process.stderr, client_gone)
            )
            return await git.wait()
        finally:
            feeding.cancel()
            self._processes.discard(git)
            if git.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    git.kill()
                await git.wait()


async def _feed(source: asyncssh.SSHReader[bytes], target: asyncio.StreamWriter) -> None:
    """Client → git; git's stdin is closed at the client's EOF (or when the channel goes)."""
    try:
        # git may exit before the client's EOF, or the channel may go: either way nothing more is fed.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, asyncssh.Error):
            while data := await source.read(CHUNK):
                target.write(data)
                await target.drain()
    finally:
        with contextlib.suppress(Exception):
            target.close()


async def _pump(source: asyncio.StreamReader, target: asyncssh.SSHWriter[bytes], gone: Callable[[], None]) -> None:
    """git → client until git's EOF; ``gone()`` when the client cannot take it any more."""
    ok = True
    while True:
        data = await source.read(CHUNK)
        if not data:
            return
        if not ok:
            continue  # read on until git, being stopped, closes the pipe
        try:
            target.write(data)
            await target.drain()
        except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
            ok = False
            gone()
