"""A fork server for `python -m mnwd` in tests: one warm process per test process (xdist worker) that has
imported mnwd once and forks a child for each command, instead of a fresh interpreter importing everything
again (~1 s of CPU each on a loaded machine).

Interface: ``Popen`` is `subprocess.Popen`; ``run`` is `subprocess.run` on it. For ``[sys.executable, "-m",
"mnwd", ...]`` without the options a fork cannot honour (``preexec_fn``, ``pass_fds``, a new session or process
group, user, group or umask changes, ``shell``, ``executable``) the child is forked from the server; anything
else runs as `subprocess.Popen` would. The child is what a fresh interpreter would be: its argv, environment
(``os.environ`` replaced, so its own subprocesses see it too), cwd and ``sys.path[0]``, its stdin, stdout and
stderr (the caller's pipes or files, passed over the socket), ``__main__`` run by `runpy` as ``-m`` does, and
a normal interpreter exit (atexit, flushes, uncaught exception → traceback and 1, KeyboardInterrupt → SIGINT).
Its exit status is the real one (``returncode`` is ``-N`` for a signal), read by the server with
``waitpid`` and sent back; signals go to the child itself through a pidfd (``send_signal``, ``terminate``,
``kill``: SIGTERM and SIGKILL behave as with a fresh process).

Races handled: the server reaps a child only after the caller has opened a pidfd on it (the ack), so a
signal can never reach a recycled pid; a caller that goes away leaves its child running (as a forgotten
``Popen`` does), the status is then dropped; the server forks with no other thread alive, and exits (killing
children still running) when its test process closes its stdin, or dies.

Protocol, one Unix socket connection per child: caller → length-prefixed JSON ``{module, args, env, cwd}``
with the three stdio fds attached (SCM_RIGHTS); server → ``pid\\n``; caller → one byte (ack); server →
``status\\n`` (the raw wait status) when the child ends.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# What the children run: modules imported once by the server, ahead of any fork (the git SSH server's too:
# `mnwd serve` imports it, and asyncssh with it, only when it starts its listener).
MODULES = ("mnwd",)
PRELOAD = ("mnwd.cli", "mnwd.daemon", "mnwd.app", "mnwd.domains", "mnwd.git.ssh")
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
HEADER = struct.Struct("!I")
START_TIMEOUT = 60.0


# The server side.


class _Job:
    """What a forked child runs once it has left the server's loop."""

    def __init__(self, module: str, args: list[str], cwd: str) -> None:
        self.module = module
        self.args = args
        self.cwd = cwd


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    conn.settimeout(30)
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    if len(data) < HEADER.size:
        raise ConnectionError("short request")
    (size,) = HEADER.unpack_from(data)
    body = bytearray(data[HEADER.size :])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("request cut short")
        body += chunk
    return json.loads(body), fds


def _child_setup(request: dict[str, Any], fds: list[int]) -> _Job:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    return _Job(request["module"], request["args"], request["cwd"])


def serve(path: str) -> _Job | None:
    """Forks a child per request; returns in a child only (its job), or None when the server is to exit."""
    assert threading.active_count() == 1, "a fork server must have no other thread"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, ("accept", None))
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, ("parent", None))
    children: dict[int, socket.socket | None] = {}  # pid → its caller's connection
    server_pid = os.getpid()
    print("ready", flush=True)
    try:
        while True:
            for key, _ in selector.select():
                kind, data = key.data
                if kind == "parent":
                    if not os.read(sys.stdin.fileno(), 1024):
                        return None
                elif kind == "accept":
                    conn, _ = listener.accept()
                    selector.register(conn, selectors.EVENT_READ, ("request", None))
                elif kind == "request":
                    conn = key.fileobj  # type: ignore[assignment]
                    selector.unregister(conn)
                    try:
                        request, fds = _read_request(conn)
                    except (OSError, ValueError):
                        conn.close()
                        continue
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pid = os.fork()
                    if pid == 0:
                        # The child: nothing of the server's stays open.
                        selector.close()
                        listener.close()
                        conn.close()
                        for other in children.values():
                            if other is not None:
                                other.close()
                        return _child_setup(request, fds)
                    for fd in fds:
                        os.close(fd)
                    children[pid] = conn
                    try:
                        conn.sendall(f"{pid}\n".encode())
                    except OSError:
                        children[pid] = None
                    selector.register(conn, selectors.EVENT_READ, ("ack", pid))
                elif kind == "ack":
                    conn = key.fileobj  # type: ignore[assignment]
                    selector.unregister(conn)
                    with contextlib.suppress(OSError):
                        if not conn.recv(1):
                            conn.close()
                            children[data] = None
                    pidfd = os.pidfd_open(data)
                    selector.register(pidfd, selectors.EVENT_READ, ("exit", data))
                elif kind == "exit":
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    _, status = os.waitpid(data, 0)
                    caller = children.pop(data)
                    if caller is not None:
                        with contextlib.suppress(OSError):
                            caller.sendall(f"{status}\n".encode())
                        caller.close()
    finally:
        if os.getpid() == server_pid:
            for pid in children:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def _server_main(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    job = serve(path)
    if job is None:
        return
    sys.path[0] = job.cwd  # as ``python -m`` sets it
    sys.argv[1:] = job.args
    runpy.run_module(job.module, run_name="__main__", alter_sys=True)


# The caller's side.


class _Server:
    """The running fork server of this process."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="mnwd-forkserver-")
        self.path = os.path.join(self.dir, "socket")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.forkserver", self.path],
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line != b"ready\n":
            self.process.kill()
            raise RuntimeError(f"the fork server did not start (exit {self.process.wait()})")
        self.pid = os.getpid()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.process.poll() is None

    def close(self) -> None:
        if self.pid != os.getpid():
            return
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)


_server: _Server | None = None
_server_lock = threading.Lock()


def _the_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            _server = _Server()
            atexit.register(_server.close)
        return _server


def _forkable(args: Any, kwargs: dict[str, Any]) -> str | None:
    """The module to run if this Popen call can be a fork of the server, else None (always None with
    ``MNWD_TEST_FRESH_PROCESSES=1`` in the environment of the tests: fresh interpreters, to compare)."""
    if os.environ.get("MNWD_TEST_FRESH_PROCESSES") == "1":
        return None
    if isinstance(args, (str, bytes)) or len(args) < 3:
        return None
    if list(args[:2]) != [sys.executable, "-m"] or args[2] not in MODULES:
        return None
    if not all(isinstance(a, str) for a in args):
        return None
    defaults: dict[str, Any] = {
        "executable": None,
        "preexec_fn": None,
        "close_fds": True,
        "pass_fds": (),
        "shell": False,
        "start_new_session": False,
        "process_group": None,
        "user": None,
        "group": None,
        "extra_groups": None,
        "umask": -1,
    }
    for name, default in defaults.items():
        if kwargs.get(name, default) != default:
            return None
    return str(args[2])


class Popen(subprocess.Popen[Any]):
    """`subprocess.Popen`, forked from the fork server when it can be (see the module docstring)."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        self._fork_module = None if rest else _forkable(args, kwargs)
        self._fork_conn: socket.socket | None = None
        self._fork_pidfd = -1
        super().__init__(args, *rest, **kwargs)

    def _execute_child(  # type: ignore[override]
        self,
        args: Any,
        executable: Any,
        preexec_fn: Any,
        close_fds: Any,
        pass_fds: Any,
        cwd: Any,
        env: Any,
        startupinfo: Any,
        creationflags: Any,
        shell: Any,
        p2cread: int,
        p2cwrite: int,
        c2pread: int,
        c2pwrite: int,
        errread: int,
        errwrite: int,
        *rest: Any,
    ) -> None:
        if self._fork_module is None:
            super()._execute_child(  # type: ignore[misc]
                args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo, creationflags, shell,
                p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, *rest,
            )  # fmt: skip
            return
        request = {
            "module": self._fork_module,
            "args": list(args[3:]),
            "env": {os.fsdecode(k): os.fsdecode(v) for k, v in (os.environ if env is None else env).items()},
            "cwd": os.path.abspath(os.fsdecode(cwd)) if cwd is not None else os.getcwd(),
        }
        body = json.dumps(request).encode()
        stdio = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1, errwrite if errwrite != -1 else 2]
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(_the_server().path)
            socket.send_fds(conn, [HEADER.pack(len(body)) + body], stdio)
            self.pid = int(_read_line(conn))
            self._fork_pidfd = os.pidfd_open(self.pid)  # before the ack: the child cannot have been reaped yet
            conn.sendall(b"!")
        except BaseException:
            conn.close()
            raise
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]
        self._fork_conn = conn
        self._child_created = True

    def _fork_status(self, block: bool) -> int | None:
        """The child's wait status once the server has sent it; None while it runs (if not ``block``)."""
        assert self._fork_conn is not None
        if not block and not select.select([self._fork_conn], [], [], 0)[0]:
            return None
        line = _read_line(self._fork_conn)
        self._fork_conn.close()
        os.close(self._fork_pidfd)
        self._fork_pidfd = -1
        return int(line)

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if self._fork_conn is None:
            return super()._try_wait(wait_flags)  # type: ignore[misc,no-any-return]
        status = self._fork_status(block=not wait_flags & os.WNOHANG)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate: int | None = None, **_: Any) -> int | None:
        if self._fork_conn is None:
            return super()._internal_poll(_deadstate)  # type: ignore[misc,no-any-return]
        if self.returncode is None and self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            try:
                if self.returncode is None:
                    try:
                        pid, status = self._try_wait(os.WNOHANG)
                    except (OSError, ValueError):
                        if _deadstate is not None:
                            self.returncode = _deadstate
                    else:
                        if pid == self.pid:
                            self._handle_exitstatus(status)  # type: ignore[attr-defined]
            finally:
                self._waitpid_lock.release()  # type: ignore[attr-defined]
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self._fork_conn is None:
            super().send_signal(sig)
            return
        self.poll()
        if self.returncode is None and self._fork_pidfd != -1:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._fork_pidfd, sig)


def _read_line(conn: socket.socket) -> bytes:
    """One ``\\n``-ended line, read a byte at a time (nothing after it is consumed)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            raise ConnectionError("the fork server closed the connection")
        line += byte
    return line[:-1]


def run(
    args: Sequence[str],
    *,
    input: str | bytes | None = None,
    timeout: float | None = None,
    check: bool = False,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run`, on `Popen`."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if kwargs.pop("capture_output", False):
        kwargs["stdout"] = subprocess.PIPE
        kwargs["stderr"] = subprocess.PIPE
    with Popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            exc.stdout, exc.stderr = process.communicate()
            raise
        except BaseException:
            process.kill()
            raise
        code = process.poll()
        assert code is not None
    if check and code:
        raise subprocess.CalledProcessError(code, process.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, code, stdout, stderr)


if __name__ == "__main__":
    _server_main(sys.argv[1])
