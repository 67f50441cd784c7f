"""The SDK as a package: its public surface, its README's quick start run as written, the blocking client."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import mnw_synckit
import pytest
from mnw_synckit import BlockingSyncClient

from tests.sdk.conftest import MakeDevice, SdkApp, server_rows

README = Path(__file__).parents[2] / "sdk-python" / "README.md"
EXAMPLE = Path(__file__).parents[2] / "sdk-python" / "examples" / "notes.py"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_the_public_surface_is_pinned() -> None:
    assert sorted(mnw_synckit.__all__) == [
        "Backoff",
        "BlobCorrupt",
        "Blobs",
        "BlockingSyncClient",
        "Conflicts",
        "DeviceRevoked",
        "EncryptionError",
        "FileTokenStore",
        "KeyringTokenStore",
        "LoginFailed",
        "LoginRequired",
        "OfflineError",
        "Rejected",
        "Row",
        "ServerError",
        "SyncClient",
        "SyncKitError",
        "SyncStatus",
        "TokenStore",
        "Tokens",
        "Transaction",
        "WrongPassphrase",
    ]
    assert (Path(mnw_synckit.__file__).parent / "py.typed").exists()


@pytest.mark.e2e
async def test_the_readme_quick_start_runs_as_written(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    """Both examples, pasted into a file, run in a directory where the user already signed in once."""
    await (await make_device("notes")).close()  # notes.db and its tokens, as `sk.login()` leaves them
    blocks = PYTHON_BLOCK.findall(README.read_text())
    assert len(blocks) == 2
    env = {**os.environ, "MNW_URL": sdk_app.base_url, "MNW_CLIENT_ID": sdk_app.client_id}
    outputs = []
    for number, code in enumerate(blocks):
        script = sdk_app.tmp / f"quickstart{number}.py"
        script.write_text(code)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=sdk_app.tmp, env=env, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        outputs.append(stdout.decode())
    assert outputs == ["['Hello from Python']\n", "done: ['n1']\n"]
    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert (log[0]["row_id"], log[0]["operation"]) == ("n1", "INSERT")


@pytest.mark.e2e
async def test_the_blocking_client_for_scripts(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("script")).close()

    def script() -> list[str]:
        with BlockingSyncClient(sdk_app.base_url, sdk_app.client_id, sdk_app.tmp / "script.db") as sk:
            assert sk.signed_in
            sk.put("notes", "a", {"v": 1})
            sk.update("notes", "a", {"w": 2})
            sk.put("notes", "b", {"v": 3})
            sk.delete("notes", "b")
            sk.sync()
            assert sk.status.pending == 0
            assert sk.get("notes", "a") == {"v": 1, "w": 2}
            return [row.row_id for row in sk.query("notes")]

    assert await asyncio.to_thread(script) == ["a"]
    assert len(await server_rows(sdk_app.pool, sdk_app.app)) == 4


@pytest.mark.e2e
async def test_the_example_notes_app(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    await (await make_device("notes-example")).close()
    env = {
        **os.environ,
        "MNW_URL": sdk_app.base_url,
        "MNW_CLIENT_ID": sdk_app.client_id,
        "NOTES_DB": str(sdk_app.tmp / "notes-example.db"),
    }

    async def notes(*args: str) -> list[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), *args, env=env, stdout=asyncio.subprocess.PIPE
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        return stdout.decode().splitlines()

    await notes("add", "buy", "milk")
    note_id = (await notes("add", "call mum"))[-1].split()[0]
    listed = await notes("done", note_id)
    assert [(entry[0], entry[12:]) for entry in listed] == [(" ", "buy milk"), ("x", "call mum")]
    log = await server_rows(sdk_app.pool, sdk_app.app)
    assert [r["operation"] for r in log] == ["INSERT", "INSERT", "UPDATE"]
