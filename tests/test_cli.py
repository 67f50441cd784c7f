"""The `mnwd` command as operators meet it: --version, help on every argument, warnings about misspelt
settings, effective values in `mnwd config`, and one clear line when the database or the port is not there."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnwd.cli import _parser
from tests.support import forkserver
from tests.support.daemon import daemon_env, free_port


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return forkserver.run(
        [sys.executable, "-m", "mnwd", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((f"{path} {name}", argparse.Action([], name, help=helps.get(name))))
                found.extend(_actions(sub, f"{path} {name}"))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            found.append((path, action))
    return found


def test_every_command_and_argument_has_help() -> None:
    missing = [f"{path}: {action.dest}" for path, action in _actions(_parser(), "mnwd") if not action.help]
    assert not missing, missing


def test_version(tmp_path: Path) -> None:
    result = run(daemon_env(tmp_path), "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"mnwd \d+\.\d+\.\d+\S*\n", result.stdout)


def test_unknown_settings_are_named_with_a_suggestion(tmp_path: Path) -> None:
    env = daemon_env(tmp_path, {"MNWD_HTTP_PROT": "9000", "MNWD_ZZZZ": "1"})
    result = run(env, "config")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "mnwd: warning: unknown setting MNWD_HTTP_PROT is ignored (did you mean MNWD_HTTP_PORT?)",
        "mnwd: warning: unknown setting MNWD_ZZZZ is ignored",
    ]


def shown_config(env: dict[str, str]) -> dict[str, str]:
    result = run(env, "config")
    assert result.returncode == 0, result.stderr
    return {name: value.strip() for name, _, value in (line.partition(" ") for line in result.stdout.splitlines())}


def test_config_shows_effective_public_url_and_where_the_secret_key_is(tmp_path: Path) -> None:
    env = daemon_env(tmp_path)
    port = env["MNWD_HTTP_PORT"]
    shown = shown_config(env)
    assert shown["MNWD_PUBLIC_URL"].startswith(f"http://localhost:{port} ")
    assert shown["MNWD_SECRET_KEY"] == f"*** (generated at first start into {tmp_path / 'secret_key'})"
    assert shown["DATABASE_URL"] == f"(unset: the embedded PostgreSQL in {tmp_path / 'pg'})"
    (tmp_path / "secret_key").write_text("k" * 44)
    shown = shown_config(env)
    assert shown["MNWD_SECRET_KEY"] == f"*** (generated, stored in {tmp_path / 'secret_key'})"
    assert "k" * 44 not in run(env, "config").stdout
    env["MNWD_SECRET_KEY"] = "s" * 40
    env["MNWD_PUBLIC_URL"] = "https://mnw.example"
    shown = shown_config(env)
    assert (shown["MNWD_SECRET_KEY"], shown["MNWD_PUBLIC_URL"]) == ("***", "https://mnw.example")


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


@pytest.mark.parametrize(
    ("url", "message", "retried"),
    [
        ("postgresql://mnwd:hunter2@127.0.0.1:{port}/mnwd", "127.0.0.1:{port}/mnwd: connection refused", True),
        ("postgresql://mnwd:hunter2@nowhere.invalid/mnwd", "nowhere.invalid:5432/mnwd: unknown host", True),
    ],
)
@pytest.mark.parametrize("command", ["serve", "user list"])
def test_an_unreachable_database_is_one_line_after_a_bounded_retry(
    tmp_path: Path, url: str, message: str, retried: bool, command: str
) -> None:
    port = _closed_port()
    env = daemon_env(tmp_path, {"DATABASE_URL": url.format(port=port), "MNWD_DB_START_WAIT": "1.5"})
    started = time.monotonic()
    result = run(env, *command.split())
    took = time.monotonic() - started
    assert result.returncode == 1
    expected = f"mnwd: DATABASE_URL: cannot connect to {message.format(port=port)} (tried for 1.5 s)"
    assert result.stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    assert 1.5 <= took < 45  # generous: the interpreter alone takes seconds on a busy machine


def test_a_missing_database_is_one_line_at_once(tmp_path: Path, db_url: str) -> None:
    missing = re.sub(r"/([^/?]+)(\?|$)", r"/no_such_db\2", db_url, count=1)
    env = daemon_env(tmp_path, {"DATABASE_URL": missing, "MNWD_DB_START_WAIT": "120"})
    started = time.monotonic()
    result = run(env, "serve")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mnwd: DATABASE_URL: cannot connect to ")
    assert last.endswith("/no_such_db: the database does not exist")
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60  # not retried for the 120 s allowed


@pytest.mark.e2e
def test_a_busy_port_is_found_before_the_database_starts(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = daemon_env(tmp_path, {"MNWD_HTTP_PORT": str(port)})  # embedded PostgreSQL: slow to start
        result = run(env, "serve")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mnwd: cannot listen on 127.0.0.1:{port}: Address already in use (is another mnwd running? set MNWD_HTTP_PORT)"
    ]
    assert not (tmp_path / "pg").exists()  # found before the database was started, let alone migrated
