"""The examples of README.md and docs/*.md marked ``<!-- test: run -->`` (the line before the fence), run as
written against `mnwd serve`.

A block gets ``BASE`` (the daemon), ``APP`` (the client id of an app registered with the loopback redirect URI
``http://127.0.0.1/callback``), ``PORT`` (a free port), ``BACKUP`` (a file path) and the daemon's own
environment, and runs from the repository's root, where ``.venv/bin`` is. ``sh`` blocks run in bash with
``-e``; ``python`` blocks in this interpreter. When a block prints ``open: URL`` (a page to open in the
browser), the test does what its reader would: signs in as alice and allows the app, and the browser follows
the redirect to the block's loopback listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from html import unescape
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.accounts import PASSWORD, MakeUser
from tests.support.browser import CSRF_INPUT
from tests.support.daemon import RunningDaemon, free_port
from tests.support.docs import ROOT, Example, runnable_examples
from tests.support.oauth import FORM_FIELD, register_app

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 60.0
INTERPRETERS = {"sh": ["bash", "-e", "-c"], "python": [sys.executable, "-c"]}


async def allow_in_browser(base: str, authorization_url: str) -> None:
    """The reader's part: sign in, allow; the redirect then reaches the example's loopback listener."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        login = await (await browser.get(f"{base}/login")).text()
        match = CSRF_INPUT.search(login)
        assert match is not None
        signed_in = await browser.post(
            f"{base}/login",
            data={"login": "alice", "password": PASSWORD, "csrf_token": unescape(match.group(1))},
            allow_redirects=False,
        )
        assert signed_in.status == 303
        page = await (await browser.get(authorization_url)).text()
        assert "Authorize Notes" in page, page[:2000]
        form = {name: unescape(value) for name, value in FORM_FIELD.findall(page)}
        back = await browser.post(f"{base}/oauth/authorize", data={**form, "decision": "allow"})
        assert back.status == 200, await back.text()
        assert "Signed in" in await back.text()


async def run_example(example: Example, env: dict[str, str], base: str) -> str:
    # A session of its own, so that a failure ends the whole example (a listener it started holds the pipe, and
    # the process would never count as finished).
    process = await asyncio.create_subprocess_exec(
        *INTERPRETERS[example.language],
        example.code,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    output: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace")
            output.append(line)
            if line.startswith("open: "):
                await allow_in_browser(base, line.removeprefix("open: ").strip())

    try:
        await asyncio.wait_for(asyncio.gather(read(), process.wait()), RUN_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), RUN_TIMEOUT)
    text = "".join(output)
    assert process.returncode == 0, f"{example.id} exited with {process.returncode}:\n{text}"
    return text


# What each example must have printed when it worked (a block that prints nothing is checked by its exit code).
EXPECTED = {
    "docs/oauth.md#1-python": "signed in as alice",
    "docs/oauth.md#2-sh": '"username":"alice"',
}


@pytest.mark.parametrize("example", runnable_examples(), ids=lambda example: example.id)
async def test_a_marked_example_runs_as_written(
    example: Example, daemon: RunningDaemon, make_user: MakeUser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await make_user("alice")
    maker = await make_user("maker", can_create_projects=True)
    app = await register_app(pool, maker["id"])
    env = {
        **daemon.env,
        "BASE": daemon.base_url,
        "APP": str(app.id),
        "PORT": str(free_port()),
        "BACKUP": str(tmp_path / "backup.sql"),
    }
    output = await run_example(example, env, daemon.base_url)
    assert EXPECTED.get(example.id, "") in output, output
    if "pg_dump" in example.code:
        dump = (tmp_path / "backup.sql").read_text()
        assert "CREATE TABLE public.users" in dump
        assert "PostgreSQL database dump complete" in dump
