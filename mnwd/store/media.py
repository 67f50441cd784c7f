"""A creator's media library: images uploaded into folders, served at ``/media/{id}/{filename}`` and
referenced from markdown (``![alt](/media/{id}/{filename})``).

The interface the handlers call:

- ``upload_limit(pool, user_id)`` — the largest image this user may upload: the smaller of `MEDIA_MAX_BYTES`
  and their tier's largest file (`mnwd.store.limits`); `Forbidden` for a user who may not create projects.
  Handlers compare a request's ``Content-Length`` with it before reading a byte (`check_declared_size`).
- ``check_folder(text)``, ``check_filename(text)`` — the names as stored, or `ValidationFailed`. A folder is
  '' or slash-separated segments; no segment starts with a dot, so ``..`` and hidden names never pass.
- ``store_media(services, user_id, folder=, filename=, alt_text=, data=)`` — checks the bytes are a PNG,
  JPEG, GIF or WebP image by decoding them with Pillow (anything else, SVG included: `NotAnImage`, 415;
  a decompression bomb likewise), strips their metadata (`strip_metadata`), counts the stored bytes against
  the creator's storage (`add_storage`, 413 past the tier) and records the file; `Conflict` when the folder
  has a file of that name.
- ``strip_metadata(data)`` — a JPEG, PNG or WebP re-encoded without EXIF (GPS location, camera, times), XMP,
  IPTC, comments or text chunks; the EXIF orientation is applied to the pixels first, so the image looks as
  it did. The ICC colour profile, transparency and animation stay. A JPEG whose orientation needs no turn
  is re-saved with its own quantization tables (``quality="keep"``), so it loses no quality; a lossless
  WebP stays lossless. A GIF (no EXIF) is re-saved without its comment and application extensions other
  than the animation's loop.
- ``delete_media(services, user_id, media_id)`` — removes the row and gives its bytes back to the storage
  account in one transaction; the stored bytes go afterwards when nothing else names them.
- ``get_media(pool, media_id)``, ``list_library(pool, user_id, folder, page)``, ``list_folders``.

**Stored bytes and their rows.** The blob store is content-addressed and shared with sync and the catalog's
versions, so bytes are deleted only when no row of any domain names them, under the per-hash advisory lock every
domain shares (`mnwd.blobs.references`): a file is
recorded holding it shared after checking the bytes are still there, and bytes are deleted holding it
exclusive. So a concurrent upload of the same image is never left naming deleted bytes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg

from mnwd.blobs import BlobNotFound, BlobStream
from mnwd.blobs.references import collect_bytes, hold_blob_bytes
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, Problem, ValidationFailed
from mnwd.services import Services
from mnwd.store import limits
from mnwd.store.queries import media as queries
from mnwd.store.storage import add_storage, remove_storage

__all__ = [
    "ACCEPTED_FORMATS",
    "MEDIA_MAX_BYTES",
    "MediaFile",
    "NotAnImage",
    "check_declared_size",
    "check_filename",
    "check_folder",
    "delete_media",
    "get_media",
    "identify_image",
    "list_folders",
    "list_library",
    "open_media",
    "store_media",
    "strip_metadata",
    "upload_limit",
]

log = logging.getLogger(__name__)

MEDIA_MAX_BYTES = 20 * limits.MB
# A multipart body carries the file and a few short fields; this much more than the file is allowed for them.
MULTIPART_SLACK = 64 * 1024
MAX_ALT_CHARS = 500
MAX_FOLDER_CHARS = 200
PAGE_SIZE = 48
# Decoding a larger image takes more memory than a library upload should (Pillow's own bomb limit is higher).
MAX_PIXELS = 50_000_000

ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._ -]*"
_FOLDER = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_FILENAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._ -]{0,254}")


class NotAnImage(Problem):
    status = 415
    slug = "unsupported-media-type"


@dataclass(frozen=True)
class MediaFile:
    id: uuid.UUID
    user_id: uuid.UUID
    owner: str
    folder: str
    filename: str
    sha256: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    alt_text: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> MediaFile:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            owner=row["owner"],
            folder=row["folder"],
            filename=row["filename"],
            sha256=row["s3_key"].split("/", 1)[0],
            content_type=row["content_type"],
            size_bytes=row["size_bytes"],
            width=row["width"],
            height=row["height"],
            alt_text=row["alt_text"],
            created_at=row["created_at"],
        )

    @property
    def url(self) -> str:
        return f"/media/{self.id}/{quote(self.filename)}"

    @property
    def markdown(self) -> str:
        alt = (self.alt_text or self.filename).replace("[", "").replace("]", "")
        return f"![{alt}]({self.url})"

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.filename}" if self.folder else self.filename

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "folder": self.folder,
            "filename": self.filename,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "alt_text": self.alt_text,
            "url": self.url,
            "markdown": self.markdown,
            "sha256": self.sha256,
            "created_at": self.created_at,
        }


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed("The file was not uploaded.", errors=[{"field": field, "message": message}])


def check_folder(text: str) -> str:
    folder = text.strip().strip("/")
    if not folder:
        return ""
    if len(folder) > MAX_FOLDER_CHARS or _FOLDER.fullmatch(folder) is None:
        raise _invalid(
            "folder",
            "A folder is names of letters, digits, '-', '_', '.' and spaces, separated by '/'; "
            "no name may start with a dot.",
        )
    return folder


def check_filename(text: str) -> str:
    name = text.strip()
    if _FILENAME.fullmatch(name) is None:
        raise _invalid(
            "file",
            "A file name is 1 to 255 letters, digits, '-', '_', '.' and spaces, and does not start with a dot "
            "or hold a '/'.",
        )
    return name


async def upload_limit(pool: asyncpg.Pool, user_id: uuid.UUID) -> int:
    user = await queries.get_uploader(pool, user_id)
    if user is None or not user["can_create_projects"]:
        raise Forbidden("Only creators have a media library. Ask an administrator to let your account create projects.")
    tier = limits.limits_for(user["creator_tier"])
    return min(MEDIA_MAX_BYTES, max(tier.largest_file_bytes, user["max_file_override_bytes"] or 0))


def check_declared_size(limit: int, content_length: int | None) -> None:
    """413 before any byte is read when the request declares more than an image of ``limit`` bytes needs."""
    if content_length is not None and content_length > limit + MULTIPART_SLACK:
        raise PayloadTooLarge(f"Images in the media library are at most {limit:,} bytes.", limit=limit)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Images in the media library are at most {limit:,} bytes.", limit=limit)


def _identify(data: bytes) -> tuple[str, int, int]:
    from PIL import Image, UnidentifiedImageError  # Pillow: loaded by the first image

    refused = NotAnImage("The file is not a PNG, JPEG, GIF or WebP image (SVG and other formats are not accepted).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise NotAnImage(f"The image has more than {MAX_PIXELS:,} pixels.")
                kind = image.format or ""
                width, height = image.size
                image.load()
    except NotAnImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise refused from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Truncated or corrupt data behind a valid signature.
        raise refused from None
    if kind not in ACCEPTED_FORMATS:
        raise refused
    return ACCEPTED_FORMATS[kind], width, height


# What a re-encoded image keeps of what Pillow read: nothing that says where, when or with what it was made.
_KEPT_INFO = {"icc_profile", "transparency", "duration", "loop", "background", "disposal", "blend"}
_WEBP_QUALITY = 90
_JPEG_QUALITY = 92


def _webp_is_lossless(data: bytes) -> bool:
    """Whether a WebP's image data is VP8L (lossless): walks the RIFF chunks to the first image chunk."""
    at = 12
    while at + 8 <= len(data):
        chunk, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        if chunk in {b"VP8 ", b"VP8L"}:
            return chunk == b"VP8L"
        if chunk == b"ANMF":
            at += 8 + 16  # an animation frame's header, then its own image chunks
            continue
        at += 8 + size + (size & 1)
    return False


def _strip(data: bytes) -> bytes:
    from PIL import Image, ImageOps  # Pillow: loaded by the first image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as image:
            kind = image.format or ""
            animated = bool(getattr(image, "is_animated", False))
            icc = image.info.get("icc_profile")
            orientation = 1 if animated else image.getexif().get(0x0112, 1)
            out = io.BytesIO()
            if kind == "JPEG" and orientation == 1:
                image.info = {}
                image.save(out, "JPEG", quality="keep", subsampling="keep", icc_profile=icc, exif=b"")
                return out.getvalue()
            kept: dict[str | tuple[int, int], Any] = {k: v for k, v in image.info.items() if k in _KEPT_INFO}
            clean: Image.Image = image if animated else ImageOps.exif_transpose(image)
            clean.info = kept
            options: dict[str, object] = {"exif": b""}
            if icc:
                options["icc_profile"] = icc
            if animated:
                options["save_all"] = True
            if kind == "JPEG":
                clean.save(out, "JPEG", quality=_JPEG_QUALITY, **options)
            elif kind == "PNG":
                clean.save(out, "PNG", optimize=False, **options)
            elif kind == "GIF":
                clean.save(out, "GIF", **options)
            else:
                lossless = _webp_is_lossless(data)
                clean.save(out, "WEBP", lossless=lossless, quality=100 if lossless else _WEBP_QUALITY, **options)
            return out.getvalue()


def strip_metadata(data: bytes) -> bytes:
    """The image's bytes without metadata (see the module's docstring); `NotAnImage` when they cannot be
    re-encoded."""
    from PIL import Image, UnidentifiedImageError  # Pillow: loaded by the first image

    try:
        return _strip(data)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise NotAnImage("The file is not a PNG, JPEG, GIF or WebP image.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise NotAnImage("The image could not be read to remove its metadata.") from None


async def identify_image(data: bytes) -> tuple[str, int, int]:
    """``(content type, width, height)`` of an accepted image, decoded in a thread; `NotAnImage` otherwise."""
    return await asyncio.to_thread(_identify, data)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_media(
    services: Services, user_id: uuid.UUID, *, folder: str, filename: str, alt_text: str, data: bytes
) -> MediaFile:
    folder = check_folder(folder)
    filename = check_filename(filename)
    alt = alt_text.strip()
    if len(alt) > MAX_ALT_CHARS:
        raise _invalid("alt_text", f"Describe the image in at most {MAX_ALT_CHARS} characters.")
    if not data:
        raise _invalid("file", "Choose an image to upload.")
    limit = await upload_limit(services.pool, user_id)
    if len(data) > limit:
        raise too_large(limit)
    await identify_image(data)
    data = await asyncio.to_thread(strip_metadata, data)
    if len(data) > limit:
        raise too_large(limit)
    content_type, width, height = await identify_image(data)
    info = await services.blobs.put(_one_chunk(data), max_size=len(data))
    media_id = uuid.uuid4()

    async def record(tx: Tx) -> None:
        user = await queries.get_uploader(tx.conn, user_id)
        if user is None:
            raise NotFound("There is no such user.")
        tier = limits.limits_for(user["creator_tier"])
        await hold_blob_bytes(tx.conn, info.sha256)
        inserted = await queries.insert_media(
            tx.conn,
            media_id=media_id,
            user_id=user_id,
            folder=folder,
            filename=filename,
            s3_key=f"{info.sha256}/{media_id}",
            content_type=content_type,
            size_bytes=info.size,
            width=width,
            height=height,
            alt_text=alt or None,
        )
        if inserted is None:
            where = f"the folder {folder}" if folder else "the top folder"
            raise Conflict(f"There is already a file named {filename} in {where}. Rename it or delete the other.")
        await add_storage(tx.conn, user_id, info.size, limit=tier.storage_bytes, tier=tier.tier)
        if not await services.blobs.exists(info.sha256):
            raise Conflict("The stored image was removed while you uploaded it; upload it again.")

    try:
        await run_tx(services.pool, "store.media.upload", record, metrics=services.metrics)
    except Exception:
        await collect_bytes(services, info.sha256, quietly=True)
        raise
    stored = await get_media(services.pool, media_id)
    assert stored is not None
    return stored


async def get_media(pool: asyncpg.Pool | asyncpg.Connection, media_id: uuid.UUID) -> MediaFile | None:
    row = await queries.get_media(pool, media_id)
    return None if row is None else MediaFile.from_row(row)


async def open_media(services: Services, media_id: uuid.UUID, filename: str) -> tuple[MediaFile, BlobStream] | None:
    """The file and its bytes, when ``filename`` is its name (another name is another address: not found)."""
    media = await get_media(services.pool, media_id)
    if media is None or media.filename != filename:
        return None
    try:
        return media, await services.blobs.open(media.sha256)
    except BlobNotFound:
        log.error("media bytes missing", extra={"media_id": str(media_id), "sha256": media.sha256})
        return None


async def list_library(
    pool: asyncpg.Pool, user_id: uuid.UUID, folder: str | None, page: int
) -> tuple[list[MediaFile], bool]:
    """One page of the creator's files (newest first) and whether there is a next page."""
    rows = await queries.list_media(pool, user_id, folder, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return [MediaFile.from_row(r) for r in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE


async def list_folders(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await queries.list_folders(pool, user_id)


async def delete_media(services: Services, user_id: uuid.UUID, media_id: uuid.UUID) -> None:
    async def forget(tx: Tx) -> str | None:
        row = await queries.delete_media(tx.conn, user_id, media_id)
        if row is None:
            return None
        await remove_storage(tx.conn, user_id, row["size_bytes"])
        return str(row["s3_key"]).split("/", 1)[0]

    sha256 = await run_tx(services.pool, "store.media.delete", forget, metrics=services.metrics)
    if sha256 is None:
        raise NotFound("There is no such file in your media library.")
    await collect_bytes(services, sha256, quietly=True)
