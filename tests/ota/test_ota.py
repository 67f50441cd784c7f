"""The OTA server as Tauri's updater and a CI job see it: real PostgreSQL, the in-process server, the local blob
store, and every signature checked with the real ``minisign -V``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.config import Config
from mnwd.ota.cache import CACHE
from mnwd.ota.versions import parse_version
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.oauth import RegisteredApp, register_app

PROBLEM = "https://mnwd.dev/problems/"
V1 = {"User-Agent": "tauri/updater", "Accept": "application/json"}
V2 = {"User-Agent": "tauri-plugin-updater/2.9.0", "Accept": "application/json"}
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
APPIMAGE = b"appimage bytes " * 5000
PLAIN = b"tarball bytes " * 3000


@dataclass
class Ota:
    client: TestClient  # type: ignore[type-arg]
    app: RegisteredApp
    slug: str

    def auth(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.app.api_key}", **headers}

    async def create(self, version: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/ota/v1/{self.slug}/releases", json={"version": version, **fields}, headers=self.auth()
        )
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def upload(
        self,
        version: str,
        data: bytes,
        *,
        target: str = "linux",
        arch: str = "x86_64",
        bundle_type: str | None = None,
        signature: str | None = None,
        status: int = 201,
    ) -> dict[str, Any]:
        path = f"/ota/v1/{self.slug}/releases/{version}/artifacts/{target}/{arch}"
        if bundle_type:
            path += f"?bundle_type={bundle_type}"
        headers = self.auth(**({"X-Signature": signature} if signature is not None else {}))
        response = await self.client.put(path, data=data, headers=headers)
        assert response.status == status, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def post(self, version: str, action: str, status: int = 200, **json: Any) -> dict[str, Any]:
        response = await self.client.post(
            f"/ota/v1/{self.slug}/releases/{version}/{action}", json=json or None, headers=self.auth()
        )
        assert response.status == status, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def signing_key(self) -> str:
        response = await self.client.post(f"/ota/v1/{self.slug}/signing-key", headers=self.auth())
        assert response.status == 200
        key: str = (await response.json())["public_key"]
        return key

    async def check(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.client.get(f"/ota/v1/{self.slug}/{path}", headers=headers or V1)
        if response.status == 204:
            assert await response.read() == b""
            return 204, None
        return response.status, await response.json(content_type=None)

    async def fetch_url(self, url: str, **headers: str) -> bytes:
        response = await self.client.get(urlsplit(url).path, headers=headers)
        assert response.status in (200, 206)
        return await response.read()


@pytest.fixture
async def ota(client: TestClient, make_user: MakeUser, pool: asyncpg.Pool) -> Ota:  # type: ignore[type-arg]
    maker = await make_user("maker", can_create_projects=True)
    return Ota(client, await register_app(pool, maker["id"], slug="notes"), "notes")


def minisign_verify(tmp_path: Path, public_key_b64: str, data: bytes, signature_b64: str) -> str:
    """``minisign -V`` over the bytes served, with the public key as tauri.conf.json holds it; the trusted comment."""
    public_text = base64.b64decode(public_key_b64).decode()
    (tmp_path / "file").write_bytes(data)
    (tmp_path / "file.sig").write_bytes(base64.b64decode(signature_b64))
    result = subprocess.run(
        ["minisign", "-V", "-P", public_text.splitlines()[1], "-m", tmp_path / "file", "-x", tmp_path / "file.sig"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def minisign_keypair(tmp_path: Path, name: str) -> tuple[Path, str]:
    """A developer's key made by the real minisign (as ``tauri signer generate`` does): its secret key file and
    the base64 of its public key file."""
    subprocess.run(
        ["minisign", "-G", "-W", "-p", tmp_path / f"{name}.pub", "-s", tmp_path / f"{name}.key"],
        check=True,
        capture_output=True,
    )
    return tmp_path / f"{name}.key", base64.b64encode((tmp_path / f"{name}.pub").read_bytes()).decode()


def minisign_sign(tmp_path: Path, key: Path, data: bytes) -> str:
    (tmp_path / "upload").write_bytes(data)
    subprocess.run(
        ["minisign", "-S", "-W", "-s", key, "-m", tmp_path / "upload", "-t", "timestamp:1\tfile:upload"],
        check=True,
        capture_output=True,
    )
    return base64.b64encode((tmp_path / "upload.minisig").read_bytes()).decode()


async def publish_signed(ota: Ota, version: str, data: bytes = APPIMAGE, **fields: Any) -> dict[str, Any]:
    await ota.create(version, **fields)
    await ota.upload(version, data, bundle_type="appimage")
    await ota.upload(version, PLAIN)
    return await ota.post(version, "publish")


def test_versions_order_as_rust_semver() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1"]
    ordered += ["1.0.0", "1.0.0+1", "1.0.0+2", "1.0.1", "1.2.0", "1.10.0", "2.0.0"]
    parsed = [parse_version(v) for v in ordered]
    assert all(p is not None for p in parsed)
    assert [str(p) for p in sorted(parsed, key=lambda v: v)] == ordered  # type: ignore[arg-type,return-value]
    assert parse_version("v1.2.3") == parse_version("1.2.3")
    for bad in ("1.0", "01.0.0", "latest", "../", "1.0.0-", "1.0.0+", "1.0.0-01", "", "1" * 10_000 + ".0.0"):
        assert parse_version(bad) is None, bad


async def test_tauri_v1_and_v2_clients_get_a_server_signed_update(ota: Ota, tmp_path: Path) -> None:
    public_key = await ota.signing_key()
    assert await ota.signing_key() == public_key  # generated once
    assert base64.b64decode(public_key).decode().startswith("untrusted comment: minisign public key ")
    await publish_signed(ota, "1.1.0", notes="Faster **sync**.")

    # v1: {{target}}/{{arch}}/{{current_version}}, no bundle type: the plain build.
    status, body = await ota.check("linux/x86_64/1.0.0")
    assert status == 200
    assert set(body) == {"version", "notes", "pub_date", "url", "signature"}
    assert body["version"] == "1.1.0"
    assert body["notes"] == "Faster **sync**."
    assert RFC3339_Z.match(body["pub_date"])
    assert body["url"].startswith("http")
    assert "/ota/v1/notes/download/" in body["url"]
    served = await ota.fetch_url(body["url"])
    assert served == PLAIN
    comment = minisign_verify(tmp_path, public_key, served, body["signature"])
    assert "version:1.1.0" in comment
    assert "\n" not in body["signature"]

    # v2 with bundle_type: the AppImage; an older v2 leaves the placeholder, which means none.
    status, body = await ota.check("linux/x86_64/1.0.0?bundle_type=appimage", V2)
    assert status == 200
    assert await ota.fetch_url(body["url"]) == APPIMAGE
    minisign_verify(tmp_path, public_key, APPIMAGE, body["signature"])
    status, body = await ota.check("linux/x86_64/1.0.0?bundle_type={{bundle_type}}", V2)
    assert status == 200
    assert await ota.fetch_url(body["url"]) == PLAIN
    status, body = await ota.check("linux/x86_64/1.0.0?bundle_type=unknown", V2)
    assert status == 200

    # Nothing newer: 204 with no body, build metadata and pre-releases ordered as the client orders them.
    assert (await ota.check("linux/x86_64/1.1.0"))[0] == 204
    assert (await ota.check("linux/x86_64/1.1.0%2B1"))[0] == 204
    assert (await ota.check("linux/x86_64/v1.2.0"))[0] == 204
    assert (await ota.check("linux/x86_64/1.1.0-rc.1"))[0] == 200
    # No build for this platform: 204.
    assert (await ota.check("windows/x86_64/1.0.0"))[0] == 204

    # latest.json: both keys, every entry complete.
    status, manifest = await ota.check("latest.json")
    assert status == 200
    assert set(manifest) == {"version", "notes", "pub_date", "platforms"}
    assert manifest["version"] == "1.1.0"
    assert set(manifest["platforms"]) == {"linux-x86_64", "linux-x86_64-appimage"}
    for entry in manifest["platforms"].values():
        assert set(entry) == {"signature", "url"}
        minisign_verify(tmp_path, public_key, await ota.fetch_url(entry["url"]), entry["signature"])


async def test_bad_update_checks_are_400_problems(ota: Ota) -> None:
    await ota.signing_key()
    await publish_signed(ota, "1.1.0")
    for path in (
        "linux/x86_64/1.0",
        "linux/x86_64/latest",
        "linux/x86_64/..%2F",
        # aiohttp refuses request lines past 8 kB itself (plain text, before any handler): 5 kB reach us.
        "linux/x86_64/" + "1" * 5_000,
        "linux/sparc/1.0.0",
        "Linux/x86_64/1.0.0",
        "linux/x86_64/1.0.0?bundle_type=exe",
        "linux/x86_64/1.0.0?channel=" + "x" * 5_000,
    ):
        response = await ota.client.get(f"/ota/v1/notes/{path}", headers=V1)
        assert response.status == 400, path
        assert response.content_type == "application/problem+json"
        assert (await response.json())["type"] == PROBLEM + "bad-request"
    for app in ("nobody", str(uuid.uuid4()), "x" * 5_000):
        response = await ota.client.get(f"/ota/v1/{app}/linux/x86_64/1.0.0", headers=V1)
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert (await ota.client.get(f"/ota/v1/{app}/latest.json")).status == 404
    # The app by id works as by slug.
    response = await ota.client.get(f"/ota/v1/{ota.app.id}/linux/x86_64/1.0.0", headers=V1)
    assert response.status == 200


async def test_developer_signatures_served_byte_for_byte_and_wrong_ones_refused(
    ota: Ota, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    key, public_key = minisign_keypair(tmp_path, "dev")
    await ota.create("2.0.0")
    signature = minisign_sign(tmp_path, key, APPIMAGE)
    artifact = await ota.upload("2.0.0", APPIMAGE, bundle_type="appimage", signature=signature)
    assert artifact["signature"] == signature
    await ota.post("2.0.0", "publish")
    status, body = await ota.check("linux/x86_64/1.0.0?bundle_type=appimage", V2)
    assert status == 200
    assert body["signature"] == signature
    minisign_verify(tmp_path, public_key, await ota.fetch_url(body["url"]), body["signature"])

    # Once the server knows the app's key, an upload signed by another key, or over other bytes, is refused.
    await ota.post("2.0.0", "yank")
    server_key = await ota.signing_key()
    await ota.create("2.1.0")
    for bad in (signature, minisign_sign(tmp_path, key, b"other bytes"), "bm90IGEgc2lnbmF0dXJl", "%%%", "x" * 6_000):
        problem = await ota.upload("2.1.0", PLAIN, signature=bad, status=422)
        assert problem["type"] == PROBLEM + "signature-invalid"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM ota_artifacts a JOIN ota_releases r ON r.id = a.release_id WHERE r.version = '2.1.0'"
        )
        == 0
    )
    problem = await ota.post("2.1.0", "publish", status=409)
    assert problem["type"] == PROBLEM + "conflict"
    # Without X-Signature the server signs.
    signed = await ota.upload("2.1.0", PLAIN)
    minisign_verify(tmp_path, server_key, PLAIN, signed["signature"])


async def test_an_unsigned_release_cannot_be_published(ota: Ota) -> None:
    await ota.create("1.0.1")
    artifact = await ota.upload("1.0.1", PLAIN)
    assert artifact["signature"] is None
    problem = await ota.post("1.0.1", "publish", status=409)
    assert problem["unsigned"] == ["linux-x86_64"]
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 204
    assert (await ota.client.get("/ota/v1/notes/latest.json")).status == 404


async def test_an_upload_cut_halfway_stores_and_publishes_nothing(
    ota: Ota, services: Services, pool: asyncpg.Pool
) -> None:
    await ota.signing_key()
    await ota.create("1.2.0")
    assert ota.client.server.host is not None
    _reader, writer = await asyncio.open_connection(ota.client.server.host, ota.client.server.port)
    body = b"half of the file " * 100
    writer.write(
        (
            "PUT /ota/v1/notes/releases/1.2.0/artifacts/linux/x86_64 HTTP/1.1\r\n"
            f"Host: localhost\r\nAuthorization: Bearer {ota.app.api_key}\r\n"
            f"Content-Length: {len(body) * 2}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT count(*) FROM ota_artifacts") == 0
    assert not await services.blobs.exists(hashlib.sha256(body).hexdigest())
    assert list(services.blobs.staging_dir.glob("put-*")) == []
    await ota.post("1.2.0", "publish", status=409)
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 204


async def test_releases_sharing_one_file_keep_it_until_the_last_goes(ota: Ota, services: Services) -> None:
    await ota.signing_key()
    await publish_signed(ota, "1.1.0")
    await publish_signed(ota, "1.2.0")
    sha = hashlib.sha256(APPIMAGE).hexdigest()
    assert await services.blobs.exists(sha)
    response = await ota.client.delete("/ota/v1/notes/releases/1.2.0", headers=ota.auth())
    assert response.status == 204
    assert await services.blobs.exists(sha)
    _status, body = await ota.check("linux/x86_64/1.0.0?bundle_type=appimage", V2)
    assert body["version"] == "1.1.0"
    assert await ota.fetch_url(body["url"]) == APPIMAGE
    response = await ota.client.delete("/ota/v1/notes/releases/1.1.0", headers=ota.auth())
    assert response.status == 204
    assert not await services.blobs.exists(sha)
    assert not await services.blobs.exists(hashlib.sha256(PLAIN).hexdigest())
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 204
    response = await ota.client.delete("/ota/v1/notes/releases/1.1.0", headers=ota.auth())
    assert response.status == 404


async def test_yank_channels_rollouts_and_forced_updates(ota: Ota, services: Services, pool: asyncpg.Pool) -> None:
    await ota.signing_key()
    await publish_signed(ota, "1.1.0")
    await publish_signed(ota, "1.2.0", min_version="1.1.0")
    await publish_signed(ota, "2.0.0-beta.1", channel="beta")

    # A forced update is marked for clients below the minimum version.
    _, body = await ota.check("linux/x86_64/1.0.0")
    assert (body["version"], body.get("mandatory")) == ("1.2.0", True)
    _, body = await ota.check("linux/x86_64/1.1.0")
    assert body["version"] == "1.2.0"
    assert "mandatory" not in body

    # Yanked: nobody is offered it; those on it get nothing older (204), the others the next good one.
    await ota.post("1.2.0", "yank")
    assert (await ota.check("linux/x86_64/1.0.0"))[1]["version"] == "1.1.0"
    assert (await ota.check("linux/x86_64/1.2.0"))[0] == 204
    assert (await ota.check("latest.json"))[1]["version"] == "1.1.0"

    # Channels by query parameter or header; stable clients never see beta.
    assert (await ota.check("linux/x86_64/1.1.0?channel=beta"))[1]["version"] == "2.0.0-beta.1"
    _, body = await ota.check("linux/x86_64/1.1.0", {**V2, "X-Update-Channel": "beta"})
    assert body["version"] == "2.0.0-beta.1"
    assert (await ota.check("linux/x86_64/1.1.0"))[0] == 204
    assert (await ota.check("latest.json?channel=beta"))[1]["version"] == "2.0.0-beta.1"

    # A staged rollout: the same devices in or out every time, all of them once raised to 100 %.
    await ota.post("2.0.0-beta.1", "rollout", rollout_percent=30)
    devices = [f"device-{n}" for n in range(60)]

    async def offered() -> set[str]:
        got = set()
        for device in devices:
            status, _ = await ota.check("linux/x86_64/1.1.0?channel=beta", {**V2, "X-Device-Id": device})
            if status == 200:
                got.add(device)
        return got

    first = await offered()
    assert 5 <= len(first) <= 35
    assert await offered() == first
    await ota.post("2.0.0-beta.1", "rollout", rollout_percent=60)
    raised = await offered()
    assert first <= raised
    assert len(raised) > len(first)
    await ota.post("2.0.0-beta.1", "rollout", rollout_percent=100)
    assert await offered() == set(devices)
    problem = await ota.post("2.0.0-beta.1", "rollout", status=422, rollout_percent=101)
    assert problem["type"] == PROBLEM + "validation-failed"

    # Counts: checks answered with a release, downloads started from byte 0 (a Range request is a resume).
    await services[CACHE].flush(pool)
    counts = await ota.client.get("/ota/v1/notes/releases", headers=ota.auth())
    beta = next(r for r in (await counts.json())["releases"] if r["version"] == "2.0.0-beta.1")
    assert beta["check_count"] == len(first) * 2 + len(raised) + len(devices) + 2
    _status, body = await ota.check("linux/x86_64/1.1.0?channel=beta")
    path = urlsplit(body["url"]).path
    assert (await ota.client.get(path)).status == 200
    partial = await ota.client.get(path, headers={"Range": "bytes=10-19"})
    assert partial.status == 206
    assert await partial.read() == PLAIN[10:20]
    assert partial.headers["Content-Range"] == f"bytes 10-19/{len(PLAIN)}"
    assert await pool.fetchval("SELECT download_count FROM ota_releases WHERE version = '2.0.0-beta.1'") == 1
    assert (await ota.client.get(f"/ota/v1/notes/download/{uuid.uuid4()}")).status == 404
    assert (await ota.client.get("/ota/v1/notes/download/..%2F..%2Fetc")).status == 404


async def test_ci_api_needs_the_apps_own_key_and_valid_input(ota: Ota, make_user: MakeUser, pool: asyncpg.Pool) -> None:
    path = "/ota/v1/notes/releases"
    assert (await ota.client.post(path, json={"version": "1.0.0"})).status == 401
    bad_key = {"Authorization": "Bearer mnwd_sk_nope"}
    assert (await ota.client.post(path, json={"version": "1.0.0"}, headers=bad_key)).status == 401
    other = await make_user("other", can_create_projects=True)
    other_app = await register_app(pool, other["id"], slug="other")
    response = await ota.client.post(
        path, json={"version": "1.0.0"}, headers={"Authorization": f"Bearer {other_app.api_key}"}
    )
    assert response.status == 403
    for body in (
        {"version": "1.0"},
        {"version": "latest"},
        {"version": "../"},
        {"version": "1" * 10_000},
        {"version": "1.0.0", "channel": "Beta!"},
        {"version": "1.0.0", "notes": "x" * 70_000},
        {"version": "1.0.0", "notes": "nul \u0000"},
        {"version": "1.0.0", "min_version": "soon"},
    ):
        response = await ota.client.post(path, json=body, headers=ota.auth())
        assert response.status == 422, body
        assert (await response.json())["type"] == PROBLEM + "validation-failed"
    assert await pool.fetchval("SELECT count(*) FROM ota_releases") == 0
    created = await ota.create("v1.0.0", notes="<script>alert(1)</script>")
    assert created["version"] == "1.0.0"
    assert created["status"] == "draft"
    response = await ota.client.post(path, json={"version": "1.0.0"}, headers=ota.auth())
    assert response.status == 409
    assert (await response.json())["type"] == PROBLEM + "version-taken"
    response = await ota.client.put(
        "/ota/v1/notes/releases/1.0.0/artifacts/linux/x86_64?file_name=..%2F..%2Fx", data=b"x", headers=ota.auth()
    )
    assert response.status == 400
    response = await ota.client.put(
        "/ota/v1/notes/releases/9.9.9/artifacts/linux/x86_64", data=b"x", headers=ota.auth()
    )
    assert response.status == 404


async def test_a_deactivated_app_is_not_served(ota: Ota, services: Services) -> None:
    from mnwd.apps.registry import change_active

    await ota.signing_key()
    await publish_signed(ota, "1.1.0")
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 200
    await change_active(services, ota.app.id, False)
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 404
    assert (await ota.check("latest.json"))[0] == 404
    await change_active(services, ota.app.id, True)
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 200


async def test_the_creator_sees_releases_and_makes_a_key_on_the_app_page(
    ota: Ota, browser: Browser, make_user: MakeUser, tmp_path: Path
) -> None:
    await sign_in(browser, "maker")
    page_path = f"/dashboard/apps/{ota.app.id}"
    page = await browser.get(page_path)
    assert page.status == 200
    assert page.has("No releases yet.")
    assert page.has("/ota/v1/notes/{{target}}/{{arch}}/{{current_version}}")
    page = await browser.submit(page_path, f"{page_path}/ota/signing-key", {})
    assert page.status in (302, 303)
    page = await browser.get(page_path)
    match = re.search(r'<pre id="ota-public-key">([^<]+)</pre>', page.text)
    assert match is not None
    public_key = match.group(1)
    assert public_key == await ota.signing_key()

    await ota.create("1.1.0", channel="beta")
    await ota.upload("1.1.0", PLAIN)
    page = await browser.get(page_path)
    assert page.has("linux-x86_64")
    page = await browser.submit(page_path, f"{page_path}/ota/releases/1.1.0/publish", {})
    assert page.status in (302, 303)
    status, body = await ota.check("linux/x86_64/1.0.0?channel=beta")
    assert status == 200
    minisign_verify(tmp_path, public_key, PLAIN, body["signature"])
    page = await browser.get(page_path)
    assert re.search(r'data-version="1.1.0">.*?published', page.text, re.S)

    # Someone else: not found, and no key made for them.
    other = Browser(browser.client)
    await make_user("other", can_create_projects=True)
    browser.client.session.cookie_jar.clear()
    await sign_in(other, "other")
    page = await other.submit("/dashboard/apps", f"{page_path}/ota/releases/1.1.0/yank", {})
    assert page.status == 404
    assert (await ota.check("linux/x86_64/1.0.0?channel=beta"))[0] == 200


async def test_mnwd_ota_publish_uploads_with_a_progress_bar(
    ota: Ota, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mnwd.cli import _parser
    from mnwd.domain import CommandError
    from mnwd.ota.commands import publish

    key, public_key = minisign_keypair(tmp_path, "dev")
    bundle = tmp_path / "Notes_1.3.0_amd64.AppImage.tar.gz"
    bundle.write_bytes(APPIMAGE)
    signature = minisign_sign(tmp_path, key, APPIMAGE)
    # tauri signer writes the base64 of the minisign text next to the file.
    (tmp_path / (bundle.name + ".sig")).write_text(signature)
    plain = tmp_path / "notes.tar.gz"
    plain.write_bytes(PLAIN)
    server = str(ota.client.make_url("")).rstrip("/")
    argv = ["ota", "publish", "--server", server, "--app", "notes", "--version", "1.3.0", "--notes", "New"]
    args = _parser().parse_args([*argv, f"linux/x86_64/appimage={bundle}", f"linux/x86_64={plain}"])

    monkeypatch.delenv("OTA_API_KEY", raising=False)
    with pytest.raises(CommandError, match="OTA_API_KEY"):
        await publish(None, args)
    monkeypatch.setenv("OTA_API_KEY", ota.app.api_key)
    # notes.tar.gz has no .sig and the server has no key: nothing is published.
    with pytest.raises(CommandError, match="publishing: 409"):
        await publish(None, args)
    # minisign's own .minisig text works as well as tauri signer's base64; the rerun completes the draft.
    (tmp_path / (plain.name + ".sig")).write_bytes(base64.b64decode(minisign_sign(tmp_path, key, PLAIN)))
    await publish(None, args)
    out, err = capsys.readouterr()
    assert f"{bundle.name} [{'#' * 30}] 100%" in err
    shown = json.loads(out[out.index("{") :])
    assert shown["status"] == "published"
    _, body = await ota.check("linux/x86_64/1.0.0?bundle_type=appimage", V2)
    assert body["version"] == "1.3.0"
    assert body["signature"] == signature
    minisign_verify(tmp_path, public_key, await ota.fetch_url(body["url"]), body["signature"])
    _, body = await ota.check("linux/x86_64/1.0.0", V1)
    minisign_verify(tmp_path, public_key, await ota.fetch_url(body["url"]), body["signature"])
    with pytest.raises(CommandError, match="not a draft"):
        await publish(None, args)
    bad = _parser().parse_args([*argv, "linux=missing"])
    with pytest.raises(CommandError, match="TARGET/ARCH"):
        await publish(None, bad)


async def test_another_daemons_publish_reaches_this_daemons_cache_by_notify(
    ota: Ota, config: Config, services: Services
) -> None:
    from mnwd.apps import get_app_by_slug
    from mnwd.domains import open_all_services
    from mnwd.ota.releases import publish

    await ota.signing_key()
    await ota.create("1.1.0")
    await ota.upload("1.1.0", PLAIN)
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 204  # now cached here: nothing published
    assert (await ota.check("linux/x86_64/1.0.0"))[0] == 204
    assert services[CACHE].holds(ota.app.id, "stable")
    async with open_all_services(config, run_migrations=False) as other:
        app = await get_app_by_slug(other.pool, "notes")
        assert app is not None
        await publish(other, app, "1.1.0")
        for _ in range(100):
            if (await ota.check("linux/x86_64/1.0.0"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("this daemon kept serving its cached releases after another published")


async def test_downloads_answer_head_and_conditional_requests(ota: Ota, pool: asyncpg.Pool) -> None:
    await ota.signing_key()
    await publish_signed(ota, "1.1.0")
    _, body = await ota.check("linux/x86_64/1.0.0")
    path = urlsplit(body["url"]).path
    head = await ota.client.head(path)
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(PLAIN))
    assert head.headers["Accept-Ranges"] == "bytes"
    etag = head.headers["ETag"]
    assert (await ota.client.get(path, headers={"If-None-Match": etag})).status == 304
    stale = await ota.client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status == 200
    assert await stale.read() == PLAIN
    assert await pool.fetchval("SELECT download_count FROM ota_releases WHERE version = '1.1.0'") == 1
    # A draft's artifacts are not served.
    await ota.create("1.2.0")
    draft = await ota.upload("1.2.0", b"draft bytes")
    assert (await ota.client.get(f"/ota/v1/notes/download/{draft['id']}")).status == 404
