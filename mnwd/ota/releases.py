"""Releases, their artifacts, and what the Tauri updater is told (see docs/ota.md and the updater notes).

- ``check_release_input(...)`` -> `ReleaseInput` or `ValidationFailed` (422, per field).
- ``create_release(services, app, data)`` -> `Release`; a version taken is `VersionTaken` (409).
- ``store_artifact(services, app, version, slot, chunks, size=, signature_b64=)`` -> `Artifact`: streams the
  body into the `BlobStore` (exactly ``size`` bytes: a cut upload stores and records nothing), checks the
  uploaded ``.sig`` against the app's public key when the server knows it (422 ``signature-invalid``),
  or signs with the app's server key, then records the row holding the blob's hash lock
  (`mnwd.blobs.references.hold_blob_bytes`). Replaced or failed bytes are collected only when unreferenced.
- ``publish`` / ``yank`` / ``delete_release`` / ``set_rollout``: every change tells the update cache
  (`mnwd.ota.cache`) of every daemon to forget the app's releases.
- ``check_update(services, app, query)`` -> the JSON Tauri reads, or None (204). ``manifest(...)`` -> the
  static ``latest.json`` with complete platform entries only.
- ``rollout_bucket(release_id, client)`` -> 0..99, the same for a client every time: a release rolled out to
  N % reaches the clients whose bucket is below N, and raising N keeps those already in.

Races: two uploads of one (target, arch, bundle type) are ordered by the release row's lock; the last to commit
wins and the bytes of the other are collected if nothing else names them. Publishing locks the release row
too, so an upload in flight cannot add an unsigned artifact to a release as it is published (uploads to a
published release are refused).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from mnwd.apps import App, get_app, get_app_by_slug
from mnwd.blobs import BlobTooLarge
from mnwd.blobs.references import collect_bytes, hold_blob_bytes
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Problem, ValidationFailed
from mnwd.jsonchecks import text_problem
from mnwd.ota import minisign, queries
from mnwd.ota.cache import CACHE, ServedRelease
from mnwd.ota.model import BUNDLE_TYPES, Artifact, Release, Slot, rfc3339
from mnwd.ota.versions import Version, parse_version
from mnwd.services import Services
from mnwd.tiers import check_stored
from mnwd.web.uploads import IncompleteBody, exactly

__all__ = [
    "CheckQuery",
    "ReleaseInput",
    "check_release_input",
    "check_update",
    "create_release",
    "delete_release",
    "manifest",
    "publish",
    "rollout_bucket",
    "store_artifact",
    "yank",
]

log = logging.getLogger(__name__)

CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ +-]{0,199}$")
MAX_NOTES_CHARS = 64 * 1024
MAX_ARTIFACT_BYTES = 2 * 1024**3
MAX_LEGACY_BYTES = 64 * 1024**2
UPLOAD_IDLE_SECONDS = 60.0
KEY_PURPOSE = "ota-signing-key"
DEFAULT_CHANNEL = "stable"


class SignatureRejected(Problem):
    status = 422
    slug = "signature-invalid"


class VersionTaken(Conflict):
    slug = "version-taken"

    def __init__(self, version: str) -> None:
        super().__init__(f"This app already has a release {version}.", version=version)


@dataclass(frozen=True)
class ReleaseInput:
    version: str
    notes: str | None
    channel: str
    draft: bool
    rollout_percent: int
    min_version: str | None


def parse_version_or_400(text: str, field: str = "current_version") -> Version:
    version = parse_version(text)
    if version is None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise BadRequest(f"{field} must be a full SemVer 2 version such as 1.2.3 (got {shown!r}).")
    return version


def check_release_input(
    version: str,
    notes: str | None,
    channel: str | None,
    draft: bool,
    rollout_percent: int | None,
    min_version: str | None,
) -> ReleaseInput:
    errors: list[dict[str, str]] = []
    parsed = parse_version(version)
    if parsed is None:
        errors.append({"field": "version", "message": "must be a full SemVer 2 version such as 1.2.3"})
    if notes is not None:
        if len(notes) > MAX_NOTES_CHARS:
            errors.append({"field": "notes", "message": f"must be at most {MAX_NOTES_CHARS} characters"})
        elif problem := text_problem(notes):
            errors.append({"field": "notes", "message": problem})
    channel = channel or DEFAULT_CHANNEL
    if CHANNEL.fullmatch(channel) is None:
        errors.append({"field": "channel", "message": "must be 1 to 32 of a-z, 0-9, - or _ (stable, beta, ...)"})
    rollout = 100 if rollout_percent is None else rollout_percent
    if not 0 <= rollout <= 100:
        errors.append({"field": "rollout_percent", "message": "must be 0 to 100"})
    minimum = None
    if min_version is not None:
        parsed_min = parse_version(min_version)
        if parsed_min is None:
            errors.append({"field": "min_version", "message": "must be a full SemVer 2 version"})
        else:
            minimum = str(parsed_min)
    if errors:
        raise ValidationFailed("The release was not created.", errors=errors)
    assert parsed is not None
    return ReleaseInput(str(parsed), notes, channel, draft, rollout, minimum)


async def find_app(services: Services, name: str) -> App:
    """The active app a path names by slug or id (from the cache when looked up in the last seconds)."""
    cache = services[CACHE]
    known, app = cache.app(name)
    if not known:
        if len(name) <= 100:
            try:
                app = await get_app(services.pool, uuid.UUID(name))
            except ValueError:
                app = await get_app_by_slug(services.pool, name)
        cache.remember_app(name, app)
    if app is None or not app.is_active:
        raise NotFound("There is no such app.")
    return app


def _changed(services: Services, app: App) -> None:
    services[CACHE].changed(services, app.id)


async def create_release(services: Services, app: App, data: ReleaseInput) -> Release:
    async def body(tx: Tx) -> Release:
        try:
            async with tx.conn.transaction():
                row = await queries.insert_release(
                    tx.conn,
                    app.id,
                    version=data.version,
                    notes=data.notes,
                    channel=data.channel,
                    rollout_percent=data.rollout_percent,
                    min_version=data.min_version,
                )
        except asyncpg.UniqueViolationError:
            raise VersionTaken(data.version) from None
        return Release.from_row(row)

    return await run_tx(services.pool, "ota.releases.create", body, metrics=services.metrics)


async def get_release(pool: asyncpg.Pool, app: App, version: str) -> Release:
    row = await queries.get_release(pool, app.id, str(parse_version_or_400(version, "version")))
    if row is None:
        raise NotFound("This app has no such release.")
    return Release.from_row(row)


async def list_releases(pool: asyncpg.Pool, app: App) -> list[tuple[Release, list[Artifact]]]:
    releases = [Release.from_row(row) for row in await queries.list_releases(pool, app.id)]
    artifacts = [Artifact.from_row(row) for row in await queries.list_artifacts(pool, [r.id for r in releases])]
    return [(r, [a for a in artifacts if a.release_id == r.id]) for r in releases]


async def _locked_release(tx: Tx, app: App, version: str) -> asyncpg.Record:
    row = await queries.get_release(tx.conn, app.id, str(parse_version_or_400(version, "version")), lock=True)
    if row is None:
        raise NotFound("This app has no such release.")
    return row


# Signing


async def ensure_signing_key(services: Services, app: App) -> str:
    """The app's public key (base64, as ``tauri.conf.json`` holds it), generated on first request."""
    key = minisign.generate_key()
    sealed = services.keyring.encrypt(KEY_PURPOSE, key.seal())
    await queries.set_signing_key_if_none(services.pool, app.id, key.public_key_base64(), sealed)
    row = await queries.get_signing_key(services.pool, app.id)
    assert row is not None
    assert row["ota_public_key"] is not None
    return str(row["ota_public_key"])


async def public_key(pool: asyncpg.Pool, app: App) -> str | None:
    row = await queries.get_signing_key(pool, app.id)
    return None if row is None else row["ota_public_key"]


async def _signing_key(services: Services, app: App) -> tuple[str | None, minisign.SigningKey | None]:
    row = await queries.get_signing_key(services.pool, app.id)
    if row is None or row["ota_public_key"] is None:
        return None, None
    secret = minisign.SigningKey.unseal(services.keyring.decrypt(KEY_PURPOSE, row["ota_secret_key"]))
    return minisign.public_key_from_base64(row["ota_public_key"]), secret


async def _read_blob(services: Services, sha256: str) -> bytes:
    async with await services.blobs.open(sha256) as stream:
        return await stream.read()


async def _sign_or_check(
    services: Services,
    app: App,
    version: str,
    sha256: str,
    size: int,
    digest: bytes,
    file_name: str,
    signature_b64: str | None,
) -> str | None:
    public, secret = await _signing_key(services, app)
    if signature_b64 is not None:
        try:
            sig_text = minisign.sig_from_base64(signature_b64.strip())
            if public is not None:
                # Legacy "Ed" signatures are over the whole file: read it back (tauri signer makes "ED").
                data = b""
                if not minisign.is_prehashed(sig_text):
                    if size > MAX_LEGACY_BYTES:
                        raise minisign.SignatureInvalid(
                            f"a legacy (Ed) signature is accepted up to {MAX_LEGACY_BYTES:,} bytes; sign with "
                            "the default prehashed algorithm (minisign without -l, tauri signer)"
                        )
                    data = await _read_blob(services, sha256)
                minisign.verify(sig_text, data, public, digest=digest)
        except minisign.SignatureInvalid as exc:
            raise SignatureRejected(f"X-Signature was refused: {exc}.") from None
        return signature_b64.strip()
    if secret is None:
        return None
    stamp = int(services.clock.now().timestamp())
    comment = f"timestamp:{stamp}\tfile:{file_name}\tversion:{version}"
    text = secret.sign_prehashed(digest, comment)
    return base64.b64encode(text.encode()).decode()


# Artifacts


def check_file_name(file_name: str | None) -> str | None:
    if file_name is None or file_name == "":
        return None
    if FILE_NAME.fullmatch(file_name) is None:
        raise BadRequest("file_name must be 1 to 200 letters, digits, '.', '_', '-', '+' or spaces.")
    return file_name


async def _slot_size(conn: asyncpg.Pool | asyncpg.Connection, release_id: uuid.UUID, slot: Slot) -> int:
    for artifact in await queries.list_artifacts(conn, [release_id]):
        if (artifact["target"], artifact["arch"], artifact["bundle_type"]) == (
            slot.target,
            slot.arch,
            slot.bundle_type,
        ):
            return int(artifact["file_size"])
    return 0


async def _check_ota_room(conn: asyncpg.Pool | asyncpg.Connection, app: App, size: int, *, replacing: int) -> None:
    """The owner's tier limits: the largest file and the OTA storage of all their apps (an artifact that
    replaces another in its slot gives that one's bytes back)."""
    usage = await queries.lock_owner_ota_usage(conn, app.creator_id)
    if usage is not None:
        used = int(usage["used"]) - replacing
        check_stored(usage["tier"], usage["max_file_override_bytes"], used, size, "ota_storage_bytes", "OTA storage")


async def store_artifact(
    services: Services,
    app: App,
    version: str,
    slot: Slot,
    chunks: AsyncIterable[bytes],
    *,
    size: int,
    file_name: str | None,
    signature_b64: str | None,
) -> Artifact:
    release = await get_release(services.pool, app, version)
    if release.is_published:
        raise Conflict("This release is published; its artifacts can no longer change. Create a new version.")
    if size > MAX_ARTIFACT_BYTES:
        raise PayloadTooLarge(f"An artifact is at most {MAX_ARTIFACT_BYTES:,} bytes.", limit=MAX_ARTIFACT_BYTES)
    await _check_ota_room(services.pool, app, size, replacing=await _slot_size(services.pool, release.id, slot))
    hasher = minisign.new_prehasher()
    try:
        info = await services.blobs.put(exactly(chunks, size, UPLOAD_IDLE_SECONDS, hasher.update), max_size=size)
    except BlobTooLarge:
        raise IncompleteBody(size, size + 1) from None
    name = file_name or f"{slot.platform}-{release.version}"
    try:
        digest = hasher.digest()
        signature = await _sign_or_check(
            services, app, release.version, info.sha256, info.size, digest, name, signature_b64
        )

        async def record(tx: Tx) -> tuple[Artifact, str | None]:
            await hold_blob_bytes(tx.conn, info.sha256)
            row = await _locked_release(tx, app, release.version)
            if row["is_published"]:
                raise Conflict("This release was published while the file was uploading.")
            await _check_ota_room(tx.conn, app, info.size, replacing=await _slot_size(tx.conn, row["id"], slot))
            artifact, replaced = await queries.upsert_artifact(
                tx.conn,
                row["id"],
                target=slot.target,
                arch=slot.arch,
                bundle_type=slot.bundle_type,
                file_name=file_name,
                sha256=info.sha256,
                size=info.size,
                signature=signature,
            )
            if not await services.blobs.exists(info.sha256):
                raise Conflict("The stored file was removed while it was recorded; upload it again.")
            return Artifact.from_row(artifact), replaced

        artifact, replaced = await run_tx(services.pool, "ota.artifacts.put", record, metrics=services.metrics)
    except Exception:
        await collect_bytes(services, info.sha256, quietly=True)
        raise
    if replaced is not None:
        await collect_bytes(services, replaced, quietly=True)
    return artifact


# Publish, yank, delete


async def publish(services: Services, app: App, version: str) -> Release:
    async def body(tx: Tx) -> Release:
        row = await _locked_release(tx, app, version)
        artifacts = await queries.list_artifacts(tx.conn, [row["id"]])
        if not artifacts:
            raise Conflict("Upload at least one artifact before publishing.")
        unsigned = [Slot(a["target"], a["arch"], a["bundle_type"]).platform for a in artifacts if not a["signature"]]
        if unsigned:
            raise Conflict(
                "Every artifact needs a signature before publishing (send X-Signature, or create a server key): "
                + ", ".join(unsigned),
                unsigned=unsigned,
            )
        return Release.from_row(await queries.publish_release(tx.conn, row["id"]))

    release = await run_tx(services.pool, "ota.releases.publish", body, metrics=services.metrics)
    _changed(services, app)
    return release


async def yank(services: Services, app: App, version: str) -> Release:
    async def body(tx: Tx) -> Release:
        row = await _locked_release(tx, app, version)
        return Release.from_row(await queries.yank_release(tx.conn, row["id"]))

    release = await run_tx(services.pool, "ota.releases.yank", body, metrics=services.metrics)
    _changed(services, app)
    return release


async def set_rollout(
    services: Services, app: App, version: str, rollout_percent: int | None, min_version: str | None, set_min: bool
) -> Release:
    if rollout_percent is not None and not 0 <= rollout_percent <= 100:
        raise ValidationFailed(
            "rollout_percent must be 0 to 100.", errors=[{"field": "rollout_percent", "message": "must be 0 to 100"}]
        )
    minimum = str(parse_version_or_400(min_version, "min_version")) if min_version is not None else None

    async def body(tx: Tx) -> Release:
        row = await _locked_release(tx, app, version)
        return Release.from_row(await queries.set_rollout(tx.conn, row["id"], rollout_percent, minimum, set_min))

    release = await run_tx(services.pool, "ota.releases.rollout", body, metrics=services.metrics)
    _changed(services, app)
    return release


async def delete_release(services: Services, app: App, version: str) -> None:
    async def body(tx: Tx) -> list[str]:
        row = await _locked_release(tx, app, version)
        return await queries.delete_release(tx.conn, row["id"])

    hashes = await run_tx(services.pool, "ota.releases.delete", body, metrics=services.metrics)
    _changed(services, app)
    for sha256 in hashes:
        await collect_bytes(services, sha256, quietly=True)


# What the updater is told


@dataclass(frozen=True)
class CheckQuery:
    slot: Slot
    current: Version
    channel: str
    client: str


def rollout_bucket(release_id: uuid.UUID, client: str) -> int:
    digest = hashlib.sha256(release_id.bytes + client.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def download_url(services: Services, app: App, artifact_id: uuid.UUID) -> str:
    return f"{services.config.base_url.rstrip('/')}/ota/v1/{app.slug}/download/{artifact_id}"


def _pick(served: ServedRelease, slot: Slot) -> Artifact | None:
    if slot.bundle_type:
        exact = served.artifacts.get(slot)
        if exact is not None:
            return exact
    plain = served.artifacts.get(Slot(slot.target, slot.arch, ""))
    if plain is not None:
        return plain
    for bundle in BUNDLE_TYPES:
        found = served.artifacts.get(Slot(slot.target, slot.arch, bundle))
        if found is not None and not slot.bundle_type:
            return found
    return None


async def served_releases(services: Services, app: App, channel: str) -> list[ServedRelease]:
    return await services[CACHE].get(services.pool, app.id, channel)


async def check_update(services: Services, app: App, query: CheckQuery) -> dict[str, Any] | None:
    """The newest release of the channel newer than the client's, with an artifact for its platform, whose
    rollout includes the client; None when there is none."""
    cache = services[CACHE]
    for served in await cache.get(services.pool, app.id, query.channel):  # newest first
        if served.version <= query.current:
            break
        artifact = _pick(served, query.slot)
        if artifact is None or artifact.signature is None:
            continue
        rollout = served.release.rollout_percent
        if rollout < 100 and rollout_bucket(served.release.id, query.client) >= rollout:
            continue
        cache.count_check(served.release.id)
        answer: dict[str, Any] = {
            "version": served.release.version,
            "notes": served.release.notes or "",
            "pub_date": rfc3339(served.release.pub_date),
            "url": download_url(services, app, artifact.id),
            "signature": artifact.signature,
        }
        minimum = parse_version(served.release.min_version) if served.release.min_version else None
        if minimum is not None and query.current < minimum:
            answer["mandatory"] = True
        return answer
    return None


def _slot_order(slot: Slot) -> tuple[str, str, int]:
    return slot.target, slot.arch, BUNDLE_TYPES.index(slot.bundle_type) + 1 if slot.bundle_type else 0


async def manifest(services: Services, app: App, channel: str) -> dict[str, Any]:
    """``latest.json``: the newest release of the channel with its signed artifacts; ``{os}-{arch}`` is
    listed for every platform (the plain build, else the first bundle), as v1 and v2.0 clients look it up."""
    releases = await services[CACHE].get(services.pool, app.id, channel)
    if not releases:
        raise NotFound("This app has no published release in this channel.")
    served = releases[0]
    platforms: dict[str, dict[str, str]] = {}
    plain: dict[str, dict[str, str]] = {}
    for slot in sorted(served.artifacts, key=_slot_order):
        artifact = served.artifacts[slot]
        if not artifact.signature:
            continue
        entry = {"signature": artifact.signature, "url": download_url(services, app, artifact.id)}
        platforms[slot.platform] = entry
        plain.setdefault(f"{slot.target}-{slot.arch}", entry)
    for key, entry in plain.items():
        platforms.setdefault(key, entry)
    return {
        "version": served.release.version,
        "notes": served.release.notes or "",
        "pub_date": rfc3339(served.release.pub_date),
        "platforms": dict(sorted(platforms.items())),
    }


async def find_download(pool: asyncpg.Pool, app: App, artifact_id: str) -> Artifact:
    try:
        wanted = uuid.UUID(artifact_id)
    except ValueError:
        raise NotFound("There is no such artifact.") from None
    row = await queries.get_artifact(pool, wanted)
    if row is None or row["app_id"] != app.id or not row["is_published"]:
        raise NotFound("There is no such artifact.")
    return Artifact.from_row(row)


async def count_download(pool: asyncpg.Pool, artifact: Artifact) -> None:
    await queries.count_download(pool, artifact.release_id)
