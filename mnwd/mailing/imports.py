"""Imports of an audience from Patreon, Gumroad or Ko-fi: a CSV upload, a preview, then a background job.

Interface::

    import_id = await upload_import(services, user_id, list_id, source, file_name, data)  # parses, previews
    await remap_import(services, user_id, import_id, {"email": "E-mail", "name": ""})   # the creator's mapping
    await start_import(services, user_id, import_id)    # enqueues job mailing.import (the same transaction)
    await cancel_import(services, user_id, import_id)

**Reading the file.** Bytes are decoded as UTF-8 (a BOM dropped; UTF-16 with a BOM too), else as cp1252, else
latin-1; parsed with `csv` in strict mode (quoted commas and line breaks inside quotes are fields, an
unclosed quote is an error); columns are found by header name, case and spacing ignored, never by position.
A file that cannot be read (NUL bytes, broken quoting, no header, no email column, more than `MAX_ROWS` rows
or `MAX_UPLOAD_BYTES` bytes) is `InvalidCsv` (422 ``invalid-csv``) and nothing is stored.

**Sources.** Patreon members export: ``Email``, ``Name``, ``Patron Status`` (``Former patron`` is not
subscribed). Gumroad sales export: ``Purchase Email`` (else ``Buyer Email``), ``Do not contact?`` (``1``,
``true`` or ``yes``: not subscribed); Gumroad audience export: ``Subscriber Email``, ``Subscribed Time``.
Ko-fi's columns vary: any header containing "email" is a candidate, and the creator picks (`remap_import`);
every source's mapping can be changed the same way.

**Preview** counts: ``rows``, ``new``, ``existing`` (on the list already, in any state), ``suppressed``
(never subscribed again, whatever the file says), ``invalid`` (no usable address), ``do_not_contact``,
``former_patrons``, ``duplicates`` (an address repeated in the file). New addresses are subscribed confirmed,
with their provenance in ``consent``: ``{"import_id", "source", "file", "row", "imported_at"}`` and the
source's own time column when it has one; existing subscribers (an unsubscribed one included) are untouched.

**The job** (`run_import_job`, at least once): reads the stored upload again and subscribes batch by batch,
one transaction per batch that also records ``processed_rows``/``failed_rows`` (the page's progress). A job
re-run after a crash starts after the last committed batch; inserts are ``ON CONFLICT DO NOTHING``, so a
batch done twice adds nobody twice. At the end the upload is dropped and ``preview.result`` says how many
were added.
"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from mnwd.db import jobs
from mnwd.db.jobs import Job, PermanentJobError
from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.mailing import lists, queries
from mnwd.services import Services

__all__ = [
    "IMPORT_JOB",
    "MAX_ROWS",
    "MAX_UPLOAD_BYTES",
    "SOURCES",
    "InvalidCsv",
    "Mapping",
    "cancel_import",
    "decode_csv",
    "expire_stale_imports",
    "get_import",
    "imports_of_list",
    "parse_csv",
    "remap_import",
    "run_import_job",
    "start_import",
    "upload_import",
]

IMPORT_JOB = "mailing.import"
SOURCES = ("patreon", "gumroad", "kofi")
MAX_ROWS = 100_000
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
BATCH_ROWS = 1000
NO_SUCH_IMPORT = "There is no such import."
STALE_AFTER = timedelta(days=7)
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "x"})
FORMER_PATRON = "former patron"


class InvalidCsv(ValidationFailed):
    slug = "invalid-csv"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "file", "message": detail}])


def decode_csv(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise InvalidCsv("The file says it is UTF-16 but is not.") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _key(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


@dataclass(frozen=True)
class Mapping:
    """Which header holds what (``None``: the file has no such column)."""

    email: str | None
    name: str | None = None
    do_not_contact: str | None = None
    status: str | None = None
    time: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "email": self.email,
            "name": self.name,
            "do_not_contact": self.do_not_contact,
            "status": self.status,
            "time": self.time,
        }


_KNOWN: dict[str, dict[str, tuple[str, ...]]] = {
    "patreon": {
        "email": ("email",),
        "name": ("name",),
        "status": ("patron status",),
        "time": ("patronage since date",),
    },
    "gumroad": {
        "email": ("purchase email", "buyer email", "subscriber email", "email"),
        "name": ("buyer name", "full name", "name"),
        "do_not_contact": ("do not contact?", "do not contact"),
        "time": ("subscribed time", "purchase date", "created at"),
    },
    "kofi": {
        "email": ("email", "email address", "e-mail", "buyer email", "supporter email"),
        "name": ("name", "from", "supporter name", "buyer name"),
        "time": ("datetime (utc)", "date", "datetime"),
    },
}


def detect_mapping(source: str, headers: Sequence[str]) -> Mapping:
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(_key(header), header)
    found: dict[str, str | None] = {}
    for role, names in _KNOWN[source].items():
        found[role] = next((by_key[n] for n in names if n in by_key), None)
    if found.get("email") is None:
        candidates = [h for h in headers if "email" in _key(h) or "e-mail" in _key(h)]
        if len(candidates) == 1:
            found["email"] = candidates[0]
    return Mapping(**found)


@dataclass
class Parsed:
    headers: list[str]
    rows: list[list[str]]


def parse_csv(data: bytes) -> Parsed:
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidCsv(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    text = decode_csv(data)
    if "\x00" in text:
        raise InvalidCsv("The file holds NUL bytes: it is not a CSV text file.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise InvalidCsv("The file is empty or has no header row.")
        rows: list[list[str]] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            rows.append(row)
            if len(rows) > MAX_ROWS:
                raise InvalidCsv(f"The file has more than {MAX_ROWS} rows; split it.")
    except csv.Error as exc:
        raise InvalidCsv(f"The file is not valid CSV (line {reader.line_num}: {exc}).") from None
    return Parsed([h.replace("\ufeff", "").strip() for h in header], rows)


@dataclass
class Row:
    number: int  # 1 = the first row after the header
    email: str | None
    name: str | None
    category: str  # valid, invalid, do_not_contact, former_patron, duplicate
    time: str | None = None


def classify(parsed: Parsed, mapping: Mapping) -> Iterator[Row]:
    index = {h: i for i, h in reversed(list(enumerate(parsed.headers)))}

    def cell(row: list[str], column: str | None) -> str:
        if column is None or column not in index or index[column] >= len(row):
            return ""
        return row[index[column]].strip()

    seen: set[str] = set()
    for number, row in enumerate(parsed.rows, start=1):
        email = lists.normalize_email(cell(row, mapping.email))
        name = cell(row, mapping.name)[: lists.MAX_NAME_CHARS] or None
        time = cell(row, mapping.time) or None
        if email is None:
            yield Row(number, None, name, "invalid")
        elif cell(row, mapping.do_not_contact).lower() in TRUE_WORDS:
            yield Row(number, email, name, "do_not_contact")
        elif _key(cell(row, mapping.status)) == FORMER_PATRON:
            yield Row(number, email, name, "former_patron")
        elif email.lower() in seen:
            yield Row(number, email, name, "duplicate")
        else:
            seen.add(email.lower())
            yield Row(number, email, name, "valid", time)


async def _preview(services: Services, list_id: uuid.UUID, parsed: Parsed, mapping: Mapping) -> dict[str, Any]:
    counts = {k: 0 for k in ("invalid", "do_not_contact", "former_patrons", "duplicates")}
    valid: list[str] = []
    samples: list[dict[str, Any]] = []
    names = {"do_not_contact": "do_not_contact", "former_patron": "former_patrons", "duplicate": "duplicates"}
    for row in classify(parsed, mapping):
        if row.category == "valid":
            assert row.email is not None
            valid.append(row.email.lower())
            if len(samples) < 5:
                samples.append({"row": row.number, "email": row.email, "name": row.name})
        elif row.category == "invalid":
            counts["invalid"] += 1
        else:
            counts[names[row.category]] += 1
    existing, suppressed = await queries.count_existing_and_suppressed(services.pool, list_id, valid)
    return {
        "rows": len(parsed.rows),
        "new": len(valid) - existing - suppressed,
        "existing": existing,
        "suppressed": suppressed,
        **counts,
        "headers": parsed.headers,
        "mapping": mapping.as_dict(),
        "samples": samples,
    }


def _check_mapping(parsed: Parsed, mapping: Mapping) -> None:
    if mapping.email is None:
        raise InvalidCsv(
            "No email column was found. Pick the column that holds the addresses."
            f" The file's columns: {', '.join(parsed.headers)[:500]}."
        )
    for column in mapping.as_dict().values():
        if column is not None and column not in parsed.headers:
            raise InvalidCsv(f"The file has no column {column!r}.")


async def upload_import(
    services: Services, user_id: uuid.UUID, list_id: uuid.UUID, source: str, file_name: str, data: bytes
) -> uuid.UUID:
    """Parse and preview an upload; the import waits (``pending``) for the creator to start it. Raises
    `InvalidCsv` for a file it cannot read; then nothing is stored."""
    if source not in SOURCES:
        raise ValidationFailed("Unknown source.", errors=[{"field": "source", "message": "Patreon, Gumroad or Ko-fi."}])
    mailing_list = await lists.require_owned_list(services.pool, user_id, list_id)
    parsed = parse_csv(data)
    mapping = detect_mapping(source, parsed.headers)
    if mapping.email is None and source != "kofi":
        _check_mapping(parsed, mapping)
    preview = await _preview(services, list_id, parsed, mapping) if mapping.email else _empty_preview(parsed)
    return await queries.insert_import(
        services.pool,
        user_id=user_id,
        project_id=mailing_list["project_id"],
        list_id=list_id,
        source=source,
        file_name=_clean_file_name(file_name),
        upload=data,
        options={"mapping": mapping.as_dict()},
        preview=preview,
        total_rows=len(parsed.rows),
    )


def _empty_preview(parsed: Parsed) -> dict[str, Any]:
    return {"rows": len(parsed.rows), "headers": parsed.headers, "mapping": {"email": None}, "samples": []}


def _clean_file_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c >= " " and c != "\x7f")[:200] or "upload.csv"


async def _owned_import(services: Services, user_id: uuid.UUID, import_id: uuid.UUID, *, upload: bool = False) -> Any:
    found = await queries.get_import(services.pool, import_id, with_upload=upload)
    if found is None or found["user_id"] != user_id or found["list_id"] is None:
        raise NotFound(NO_SUCH_IMPORT)
    return found


async def get_import(services: Services, user_id: uuid.UUID, import_id: uuid.UUID) -> Any:
    return await _owned_import(services, user_id, import_id)


async def imports_of_list(services: Services, user_id: uuid.UUID, list_id: uuid.UUID) -> list[Any]:
    await lists.require_owned_list(services.pool, user_id, list_id)
    return await queries.list_imports(services.pool, list_id)


async def remap_import(services: Services, user_id: uuid.UUID, import_id: uuid.UUID, chosen: dict[str, str]) -> None:
    """The creator's choice of columns (``""``: none); the preview is computed again."""
    found = await _owned_import(services, user_id, import_id, upload=True)
    if found["status"] != "pending" or found["upload"] is None:
        raise Conflict("This import has started already; its columns cannot change.")
    parsed = parse_csv(found["upload"])
    current = found["options"].get("mapping", {})
    merged = {**current, **{k: (v or None) for k, v in chosen.items() if k in Mapping.__dataclass_fields__}}
    mapping = Mapping(**merged)
    _check_mapping(parsed, mapping)
    preview = await _preview(services, found["list_id"], parsed, mapping)
    await queries.update_import(
        services.pool, import_id, status="pending", expect=("pending",), options={"mapping": merged}, preview=preview
    )


async def start_import(services: Services, user_id: uuid.UUID, import_id: uuid.UUID) -> None:
    found = await _owned_import(services, user_id, import_id)
    mapping = found["options"].get("mapping", {})
    if not mapping.get("email"):
        raise InvalidCsv("Pick the column that holds the addresses first.")

    async def body(tx: Tx) -> None:
        if not await queries.update_import(tx.conn, import_id, status="running", expect=("pending",)):
            raise Conflict("This import has started or was canceled already.")
        await jobs.enqueue(tx.conn, IMPORT_JOB, {"import_id": str(import_id)}, key=str(import_id))
        tx.after_commit(services.jobs.wake)

    await run_tx(services.pool, "mailing.start_import", body)


async def cancel_import(services: Services, user_id: uuid.UUID, import_id: uuid.UUID) -> None:
    await _owned_import(services, user_id, import_id)
    if not await queries.update_import(
        services.pool, import_id, status="canceled", expect=("pending",), drop_upload=True
    ):
        raise Conflict("Only an import that has not started can be canceled.")


async def expire_stale_imports(services: Services) -> int:
    """Housekeeping: an import previewed but not started within `STALE_AFTER` is canceled and its upload (the
    audience's addresses) deleted."""
    return await queries.update_stale_imports(services.pool, services.clock.now() - STALE_AFTER)


async def run_import_job(services: Services, job: Job) -> None:
    try:
        import_id = uuid.UUID(str(job.payload.get("import_id")))
    except ValueError:
        raise PermanentJobError("import job without an import id") from None
    found = await queries.get_import(services.pool, import_id, with_upload=True)
    if found is None or found["status"] != "running":
        return
    if found["upload"] is None:
        raise PermanentJobError("the import's upload is gone")
    try:
        parsed = parse_csv(found["upload"])
        mapping = Mapping(**found["options"]["mapping"])
    except (InvalidCsv, TypeError, KeyError) as exc:
        await queries.update_import(services.pool, import_id, status="failed", expect=("running",), error=str(exc))
        return
    stamp = {
        "import_id": str(import_id),
        "source": found["source"],
        "file": found["file_name"],
        "imported_at": found["started_at"].isoformat() if found["started_at"] else None,
    }
    resume_after = int(found["processed_rows"]) + int(found["failed_rows"])
    rows = list(classify(parsed, mapping))
    processed, failed = 0, 0
    for start in range(0, len(rows), BATCH_ROWS):
        batch = rows[start : start + BATCH_ROWS]
        batch_failed = sum(1 for r in batch if r.category == "invalid")
        if start + len(batch) <= resume_after:
            processed += len(batch) - batch_failed
            failed += batch_failed
            continue
        valid = [r for r in batch if r.category == "valid"]
        emails = [r.email or "" for r in valid]
        names = [r.name for r in valid]
        consents = [
            orjson.dumps({**stamp, "row": r.number, **({"source_time": r.time} if r.time else {})}).decode()
            for r in valid
        ]
        processed += len(batch) - batch_failed
        failed += batch_failed

        async def body(
            tx: Tx,
            emails: list[str] = emails,
            names: list[str | None] = names,
            consents: list[str] = consents,
            done: tuple[int, int] = (processed, failed),
        ) -> None:
            await queries.insert_imported_subscribers(tx.conn, found["list_id"], emails, names, consents)
            await queries.update_import_progress(tx.conn, import_id, *done)

        await run_tx(services.pool, "mailing.import_batch", body)
    added = await queries.count_imported(services.pool, found["list_id"], import_id)
    await queries.update_import(
        services.pool,
        import_id,
        status="succeeded",
        expect=("running",),
        preview=_with_result(found, added),
        drop_upload=True,
    )


def _with_result(found: Any, added: int) -> dict[str, Any]:
    preview: dict[str, Any] = dict(found["preview"])
    preview["result"] = {"added": added}
    return preview
