"""``mnw-sync`` against the real daemon: login with the address printed, rows, sync, status, doctor, blobs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.sdk.conftest import SdkApp, consent_as, server_rows

pytestmark = pytest.mark.e2e

MNW_SYNC = Path(sys.executable).with_name("mnw-sync")


class Cli:
    def __init__(self, sdk_app: SdkApp) -> None:
        self.env = {
            **os.environ,
            "MNW_URL": sdk_app.base_url,
            "MNW_CLIENT_ID": sdk_app.client_id,
            "MNW_DB": str(sdk_app.tmp / "cli.db"),
        }

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            str(MNW_SYNC), "--device", "terminal", *args, env=self.env, stdout=asyncio.subprocess.PIPE
        )

    async def __call__(self, *args: str, status: int = 0) -> str:
        process = await self.start(*args)
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == status, stdout
        return stdout.decode()


async def test_help_answers() -> None:
    process = await asyncio.create_subprocess_exec(str(MNW_SYNC), "--help", stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    assert b"login" in stdout
    assert b"doctor" in stdout


async def test_a_session_in_the_shell(sdk_app: SdkApp) -> None:
    cli = Cli(sdk_app)
    login = await cli.start("login", "--no-browser")
    assert login.stdout is not None
    url = (await asyncio.wait_for(login.stdout.readline(), 30)).decode().strip()
    assert url.startswith(f"{sdk_app.base_url}/oauth/authorize?")
    await consent_as(sdk_app.base_url)(url)
    assert (await asyncio.wait_for(login.stdout.readline(), 30)).startswith(b"signed in; device ")
    assert await login.wait() == 0

    await cli("put", "notes", "n1", '{"title": "from the shell", "done": false}')
    await cli("put", "notes", "n2", '{"title": "second", "done": true}')
    await cli("put", "notes", "n3", "[1]", status=2)
    assert json.loads(await cli("status"))["pending"] == 2
    assert (await cli("sync")).startswith("cursor 2, pending 0")
    assert [r["row_id"] for r in map(json.loads, (await cli("ls", "notes", "--where", "done=false")).splitlines())] == [
        "n1"
    ]
    assert json.loads(await cli("get", "notes", "n2")) == {"done": True, "title": "second"}
    await cli("get", "notes", "nope", status=1)
    assert [r["row_id"] for r in await server_rows(sdk_app.pool, sdk_app.app)] == ["n1", "n2"]

    doctor = await cli("doctor")
    assert "FAIL" not in doctor
    assert "token valid for alice" in doctor

    source = sdk_app.tmp / "file.bin"
    source.write_bytes(os.urandom(50_000))
    sha = (await cli("blob", "put", str(source))).strip()
    assert sha == hashlib.sha256(source.read_bytes()).hexdigest()
    await cli("blob", "get", sha, str(sdk_app.tmp / "copy.bin"))
    assert (sdk_app.tmp / "copy.bin").read_bytes() == source.read_bytes()

    await cli("logout")
    assert "not signed in" in await cli("doctor", status=1)
