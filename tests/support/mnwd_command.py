"""`mnwd` as a program on PATH for the shell scripts a test runs (examples from the docs): each call is forked
from this test process's warm fork server (tests/support/forkserver.py), as `tests.support.daemon.mnwd` is,
instead of a fresh interpreter importing mnwd again (1 to 3 s per command on a loaded machine).

Interface: ``bin_dir = mnwd_on_path(tmp_path)`` writes the program ``bin_dir/mnwd``; put ``bin_dir`` first on
the script's PATH. The program hands the command its own stdin, stdout and stderr, environment, working
directory and arguments, and exits with the command's status (128 + N after signal N, as a shell says it).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from tests.support import forkserver

__all__ = ["main", "mnwd_on_path"]


def mnwd_on_path(directory: Path) -> Path:
    """A directory holding an executable ``mnwd`` that runs its commands through this process's fork server."""
    bin_dir = directory / "mnwd-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / "mnwd"
    server = forkserver._the_server().path
    program.write_text(
        f"#!{sys.executable} -I\n"
        "import sys\n"
        f"sys.path.insert(0, {str(forkserver.PROJECT_ROOT)!r})\n"
        "from tests.support.mnwd_command import main\n"
        f"sys.exit(main({server!r}, sys.argv[1:]))\n"
    )
    program.chmod(0o755)
    return bin_dir


def main(server: str, args: list[str]) -> int:
    """Run ``mnwd ARGS`` forked from the fork server listening at ``server``; its exit status."""
    request = {"module": "mnwd", "args": args, "env": dict(os.environ), "cwd": os.getcwd()}
    body = json.dumps(request).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(server)
        socket.send_fds(conn, [forkserver.HEADER.pack(len(body)) + body], [0, 1, 2])
        forkserver._read_line(conn)  # the child's pid: it runs now
        conn.sendall(b"!")
        status = int(forkserver._read_line(conn))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
