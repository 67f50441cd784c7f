"""Handlers of the OTA domain (see docs/ota.md).

What Tauri's updater calls, without credentials:
- ``GET /ota/v1/{app}/{target}/{arch}/{current_version}[?bundle_type=&channel=]`` -> 200 JSON or 204;
- ``GET /ota/v1/{app}/latest.json[?channel=]`` -> the static manifest;
- ``GET /ota/v1/{app}/download/{artifact}`` -> the bytes (Range supported), counted.

What CI calls with ``Authorization: Bearer <the app's API key>`` (no cookies, so no CSRF check):
- ``POST /ota/v1/{app}/releases`` ``{version, notes, channel, draft, rollout_percent, min_version}``;
  ``GET`` lists them;
- ``PUT /ota/v1/{app}/releases/{version}/artifacts/{target}/{arch}[?bundle_type=&file_name=]`` with the
  file as body (Content-Length required) and an optional ``X-Signature``;
- ``POST .../releases/{version}/publish``, ``.../yank``, ``.../rollout`` ``{rollout_percent, min_version}``,
  ``DELETE .../releases/{version}``;
- ``POST /ota/v1/{app}/signing-key``: the server's key for the app, generated on first call;
- ``PUT /ota/v1/{app}/build`` ``{repo, branch, build_command, artifact_path, targets, enabled}``, ``GET``,
  ``DELETE``: the app's build on push (`mnwd.ota.builds`); ``GET /ota/v1/{app}/builds`` (newest 20),
  ``GET /ota/v1/{app}/builds/{id}`` (with its log).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from aiohttp import web

from mnwd.apps import App, get_app_by_api_key
from mnwd.errors import BadRequest, Forbidden, NotFound, Unauthorized
from mnwd.ota import builds, releases
from mnwd.ota.model import Artifact, Release, Slot
from mnwd.services import Services
from mnwd.web.body import json_response, read_json
from mnwd.web.client_address import client_address
from mnwd.web.csrf import csrf_exempt
from mnwd.web.http import byte_range, close_blob, etag_matches, open_blob, send_blob, strong_etag
from mnwd.web.keys import SERVICES
from mnwd.web.uploads import declared_length, defer_continue, send_continue

__all__ = ["setup"]

BASE = "/ota/v1/{app}"
BODY_CHUNK = 256 * 1024
MAX_JSON_BYTES = 128 * 1024
MAX_DEVICE_ID_CHARS = 200
CHANNEL_HEADER = "X-Update-Channel"
DEVICE_HEADER = "X-Device-Id"


class ReleaseIn(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    notes: str | None = None
    channel: str | None = None
    draft: bool = True
    rollout_percent: int | None = None
    min_version: str | None = None


class RolloutIn(msgspec.Struct, forbid_unknown_fields=True):
    rollout_percent: int | None = None
    min_version: str | msgspec.UnsetType | None = msgspec.UNSET


class BuildConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    repo: str
    build_command: str
    targets: list[str]
    branch: str | None = None
    artifact_path: str | None = None
    enabled: bool = True


async def _app(services: Services, name: str) -> App:
    return await releases.find_app(services, name)


async def _ci_app(request: web.Request) -> App:
    """The app of the path, which the bearer API key must be the key of."""
    services = request.app[SERVICES]
    app = await _app(services, request.match_info["app"])
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send the app's API key: Authorization: Bearer <api key>.")
    caller = await get_app_by_api_key(services.pool, key.strip())
    if caller is None or not caller.is_active:
        raise Unauthorized("This API key is not valid.")
    if caller.id != app.id:
        raise Forbidden("This API key belongs to another app.")
    return app


def _channel(request: web.Request) -> str:
    channel = request.query.get("channel") or request.headers.get(CHANNEL_HEADER) or releases.DEFAULT_CHANNEL
    if releases.CHANNEL.fullmatch(channel) is None:
        raise BadRequest("channel must be 1 to 32 of a-z, 0-9, - or _.")
    return channel


def _client(request: web.Request) -> str:
    device = request.headers.get(DEVICE_HEADER, "").strip()
    if device:
        return "device:" + device[:MAX_DEVICE_ID_CHARS]
    return "address:" + (client_address(request) or "")


async def check(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    info = request.match_info
    current = releases.parse_version_or_400(info["current_version"])
    slot = Slot.parse(info["target"], info["arch"], request.query.get("bundle_type"))
    app = await _app(services, info["app"])
    query = releases.CheckQuery(slot=slot, current=current, channel=_channel(request), client=_client(request))
    answer = await releases.check_update(services, app, query)
    if answer is None:
        return web.Response(status=204)
    return json_response(answer, headers={"Cache-Control": "no-store"})


async def latest_json(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    app = await _app(services, request.match_info["app"])
    body = await releases.manifest(services, app, _channel(request))
    return json_response(body, headers={"Cache-Control": "no-cache"})


async def download(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    app = await _app(services, request.match_info["app"])
    artifact = await releases.find_download(services.pool, app, request.match_info["artifact"])
    etag = strong_etag(artifact.sha256)
    headers = {"ETag": etag, "Cache-Control": "public, immutable, max-age=31536000"}
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    if_range = request.headers.get("If-Range")
    wanted = byte_range(request.headers.get("Range"), artifact.file_size) if if_range in (None, etag) else None
    start, end = wanted or (0, artifact.file_size)
    response = web.StreamResponse(status=200 if wanted is None else 206, headers=headers)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Content-Type"] = "application/octet-stream"
    name = artifact.file_name or f"{artifact.slot.platform}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{artifact.file_size}"
    response.content_length = end - start
    if request.method == "HEAD":
        await response.prepare(request)
        await response.write_eof()
        return response
    source = await open_blob(services.blobs, artifact.sha256, start, end)
    if start == 0:
        try:
            await releases.count_download(services.pool, artifact)
        except BaseException:
            await close_blob(source)
            raise
    return await send_blob(request, response, source, start, end)


def _release_json(release: Release, artifacts: list[Artifact] | None = None) -> dict[str, Any]:
    body = release.as_json()
    if artifacts is not None:
        body["artifacts"] = [a.as_json() for a in artifacts]
    return body


@csrf_exempt
async def create_release(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    body = await read_json(request, ReleaseIn, max_bytes=MAX_JSON_BYTES)
    data = releases.check_release_input(
        body.version, body.notes, body.channel, body.draft, body.rollout_percent, body.min_version
    )
    services = request.app[SERVICES]
    release = await releases.create_release(services, app, data)
    return json_response(_release_json(release, []), status=201)


@csrf_exempt
async def list_releases(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    found = await releases.list_releases(request.app[SERVICES].pool, app)
    return json_response({"releases": [_release_json(r, a) for r, a in found]})


@csrf_exempt
async def put_artifact(request: web.Request) -> web.Response:
    info = request.match_info
    slot = Slot.parse(info["target"], info["arch"], request.query.get("bundle_type"))
    file_name = releases.check_file_name(request.query.get("file_name"))
    app = await _ci_app(request)
    size = declared_length(request, "the file")
    await send_continue(request)
    artifact = await releases.store_artifact(
        request.app[SERVICES],
        app,
        info["version"],
        slot,
        request.content.iter_chunked(BODY_CHUNK),
        size=size,
        file_name=file_name,
        signature_b64=request.headers.get("X-Signature"),
    )
    return json_response(artifact.as_json(), status=201)


@csrf_exempt
async def publish(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    release = await releases.publish(request.app[SERVICES], app, request.match_info["version"])
    return json_response(_release_json(release))


@csrf_exempt
async def yank(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    release = await releases.yank(request.app[SERVICES], app, request.match_info["version"])
    return json_response(_release_json(release))


@csrf_exempt
async def rollout(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    body = await read_json(request, RolloutIn, max_bytes=MAX_JSON_BYTES)
    set_min = body.min_version is not msgspec.UNSET
    minimum = body.min_version if isinstance(body.min_version, str) else None
    release = await releases.set_rollout(
        request.app[SERVICES], app, request.match_info["version"], body.rollout_percent, minimum, set_min
    )
    return json_response(_release_json(release))


@csrf_exempt
async def delete_release(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    await releases.delete_release(request.app[SERVICES], app, request.match_info["version"])
    return web.Response(status=204)


@csrf_exempt
async def signing_key(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    public = await releases.ensure_signing_key(request.app[SERVICES], app)
    return json_response({"public_key": public})


@csrf_exempt
async def put_build_config(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    body = await read_json(request, BuildConfigIn, max_bytes=MAX_JSON_BYTES)
    data = builds.check_config_input(
        body.repo, body.branch, body.build_command, body.artifact_path, body.targets, body.enabled
    )
    config = await builds.set_build_config(request.app[SERVICES], app, data)
    return json_response(config.as_json())


@csrf_exempt
async def get_build_config(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    config = await builds.get_build_config(request.app[SERVICES].pool, app)
    if config is None:
        raise NotFound("This app has no build configuration.")
    return json_response(config.as_json())


@csrf_exempt
async def delete_build_config(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    await builds.delete_build_config(request.app[SERVICES].pool, app)
    return web.Response(status=204)


@csrf_exempt
async def list_builds(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    pool = request.app[SERVICES].pool
    config = await builds.get_build_config(pool, app)
    found = [] if config is None else await builds.list_builds(pool, config)
    return json_response({"builds": [b.as_json() for b in found]})


@csrf_exempt
async def get_build(request: web.Request) -> web.Response:
    app = await _ci_app(request)
    try:
        build_id = uuid.UUID(request.match_info["build"])
    except ValueError:
        raise NotFound("This app has no such build.") from None
    build = await builds.get_build(request.app[SERVICES].pool, app, build_id)
    return json_response(build.as_json(), headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get(f"{BASE}/latest.json", latest_json)
    app.router.add_get(f"{BASE}/download/{{artifact}}", download)
    app.router.add_get(f"{BASE}/releases", list_releases)
    app.router.add_post(f"{BASE}/releases", create_release)
    app.router.add_post(f"{BASE}/signing-key", signing_key)
    app.router.add_put(
        f"{BASE}/releases/{{version}}/artifacts/{{target}}/{{arch}}", put_artifact, expect_handler=defer_continue
    )
    app.router.add_post(f"{BASE}/releases/{{version}}/publish", publish)
    app.router.add_post(f"{BASE}/releases/{{version}}/yank", yank)
    app.router.add_post(f"{BASE}/releases/{{version}}/rollout", rollout)
    app.router.add_delete(f"{BASE}/releases/{{version}}", delete_release)
    app.router.add_put(f"{BASE}/build", put_build_config)
    app.router.add_get(f"{BASE}/build", get_build_config)
    app.router.add_delete(f"{BASE}/build", delete_build_config)
    app.router.add_get(f"{BASE}/builds", list_builds)
    app.router.add_get(f"{BASE}/builds/{{build}}", get_build)
    app.router.add_get(f"{BASE}/{{target}}/{{arch}}/{{current_version}}", check)
