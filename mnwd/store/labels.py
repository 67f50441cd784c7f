"""Platform labels: promises a project makes ("DRM-free", "No AI training", "Open source"), from a list
administrators keep; creators pick them for their projects; visitors see them as badges
(``store/_labels.html``: ``label_badges(labels)``) and filter search by them.

Interface: `Label`; `list_labels`, `get_label`, `create_label`, `update_label`, `delete_label` (admins);
`set_project_labels(pool, user_id, project_id, slugs)` (the project's creator: anyone else's project is not
found); `labels_for_projects(conn, ids)` for pages that show badges; `resolve_labels(conn, slugs)` for search.

Races: `set_project_labels` locks the project row, so two changes of one project's labels take turns and the
last one wins whole; a label deleted meanwhile fails the insert (foreign key) and the change is refused
(409) with nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, ValidationFailed
from mnwd.store.queries import discovery as queries
from mnwd.store.tags import SLUG, clean_text, has_control_character

__all__ = [
    "MAX_PROJECT_LABELS",
    "Label",
    "create_label",
    "delete_label",
    "get_label",
    "labels_for_projects",
    "list_labels",
    "resolve_labels",
    "set_project_labels",
    "update_label",
]

MAX_PROJECT_LABELS = 20
MAX_NAME_CHARS = 60
MAX_DEFINITION_CHARS = 1000
MAX_EXAMPLES = 10
MAX_EXAMPLE_CHARS = 200
NO_SUCH_PROJECT = "There is no such project."


@dataclass(frozen=True)
class Label:
    id: uuid.UUID
    slug: str
    display_name: str
    definition: str
    examples: list[str]
    nonexamples: list[str]
    sort_order: int

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> Label:
        return cls(
            id=row["id"],
            slug=row["slug"],
            display_name=row["display_name"],
            definition=row["definition"],
            examples=list(row["examples"]),
            nonexamples=list(row["nonexamples"]),
            sort_order=row["sort_order"],
        )


async def list_labels(conn: asyncpg.Pool | asyncpg.Connection) -> list[Label]:
    return [Label.from_record(r) for r in await queries.list_labels(conn)]


async def get_label(conn: asyncpg.Pool | asyncpg.Connection, label_id: uuid.UUID) -> Label | None:
    row = await queries.get_label(conn, label_id)
    return Label.from_record(row) if row else None


async def labels_for_projects(
    conn: asyncpg.Pool | asyncpg.Connection, project_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Label]]:
    """Each project's labels (in the list's order); a project without any is absent."""
    found: dict[uuid.UUID, list[Label]] = {}
    if not project_ids:
        return found
    for row in await queries.list_labels_of_projects(conn, list(set(project_ids))):
        found.setdefault(row["project_id"], []).append(Label.from_record(row))
    return found


async def resolve_labels(
    conn: asyncpg.Pool | asyncpg.Connection, slugs: Sequence[str], *, field: str, failed: str
) -> list[Label]:
    """The labels named by ``slugs`` in that order; 422 naming ``field`` when one does not exist."""
    if not slugs:
        return []
    by_slug = {r["slug"]: Label.from_record(r) for r in await queries.list_labels_by_slug(conn, slugs)}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        names = ", ".join(repr(s[:60]) for s in unknown[:5])
        raise ValidationFailed(failed, errors=[{"field": field, "message": f"There is no label {names}."}])
    return [by_slug[s] for s in slugs]


@dataclass(frozen=True)
class LabelFields:
    slug: str
    display_name: str
    definition: str
    examples: list[str]
    nonexamples: list[str]
    sort_order: int


def _lines(text: str, field: str, errors: list[dict[str, str]]) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_EXAMPLES:
        errors.append({"field": field, "message": f"Give at most {MAX_EXAMPLES}, one a line."})
    elif any(len(line) > MAX_EXAMPLE_CHARS for line in lines):
        errors.append({"field": field, "message": f"Keep each line under {MAX_EXAMPLE_CHARS} characters."})
    return lines


def check_label_fields(
    *, slug: str, display_name: str, definition: str, examples: str, nonexamples: str, sort_order: str, failed: str
) -> LabelFields:
    """The form's fields, checked; every problem reported at once (422)."""
    errors: list[dict[str, str]] = []
    slug = slug.strip()
    if not SLUG.fullmatch(slug):
        errors.append({"field": "slug", "message": "Use lowercase letters, digits, - and _ (up to 100)."})
    display_name = clean_text(display_name)
    if not display_name or len(display_name) > MAX_NAME_CHARS or has_control_character(display_name):
        errors.append({"field": "display_name", "message": f"Give a name of 1 to {MAX_NAME_CHARS} characters."})
    definition = definition.strip()
    if not definition or len(definition) > MAX_DEFINITION_CHARS:
        errors.append(
            {"field": "definition", "message": f"Say what it promises, in 1 to {MAX_DEFINITION_CHARS} characters."}
        )
    example_lines = _lines(examples, "examples", errors)
    nonexample_lines = _lines(nonexamples, "nonexamples", errors)
    order = 0
    try:
        order = int(sort_order.strip() or "0")
        if not -10000 <= order <= 10000:
            raise ValueError
    except ValueError:
        errors.append({"field": "sort_order", "message": "Give a whole number between -10000 and 10000."})
    if errors:
        raise ValidationFailed(failed, errors=errors)
    return LabelFields(slug, display_name, definition, example_lines, nonexample_lines, order)


async def create_label(pool: asyncpg.Pool, fields: LabelFields) -> Label:
    row = await queries.insert_label(
        pool,
        slug=fields.slug,
        display_name=fields.display_name,
        definition=fields.definition,
        examples=fields.examples,
        nonexamples=fields.nonexamples,
        sort_order=fields.sort_order,
    )
    return Label.from_record(row)


async def update_label(pool: asyncpg.Pool, label_id: uuid.UUID, fields: LabelFields) -> Label:
    """Everything but the slug, which links and search filters name."""
    row = await queries.update_label(
        pool,
        label_id,
        display_name=fields.display_name,
        definition=fields.definition,
        examples=fields.examples,
        nonexamples=fields.nonexamples,
        sort_order=fields.sort_order,
    )
    if row is None:
        raise NotFound("There is no such label.")
    return Label.from_record(row)


async def delete_label(pool: asyncpg.Pool, label_id: uuid.UUID) -> None:
    if not await queries.delete_label(pool, label_id):
        raise NotFound("There is no such label.")


async def count_label_projects(pool: asyncpg.Pool, label_id: uuid.UUID) -> int:
    return await queries.count_label_projects(pool, label_id)


def check_label_slugs(slugs: object) -> list[str]:
    """A request's list of label slugs, without repeats, in order; 422 when it is not one."""
    failed = "The labels were not saved."
    if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
        raise ValidationFailed(failed, errors=[{"field": "labels", "message": "Give a list of label slugs."}])
    unique = list(dict.fromkeys(s.strip() for s in slugs))
    if len(unique) > MAX_PROJECT_LABELS:
        message = f"A project has at most {MAX_PROJECT_LABELS} labels."
        raise ValidationFailed(failed, errors=[{"field": "labels", "message": message}])
    return unique


async def set_project_labels(
    pool: asyncpg.Pool, user_id: uuid.UUID, project_id: uuid.UUID, slugs: Sequence[str]
) -> list[Label]:
    """Replaces the project's labels with ``slugs``; only its creator may (anyone else: 404)."""

    async def body(tx: Tx) -> list[Label]:
        owner = await queries.get_project_owner_for_update(tx.conn, project_id)
        if owner is None or owner != user_id:
            raise NotFound(NO_SUCH_PROJECT)
        chosen = await resolve_labels(tx.conn, slugs, field="labels", failed="The labels were not saved.")
        try:
            await queries.replace_project_labels(tx.conn, project_id, [label.id for label in chosen])
        except asyncpg.ForeignKeyViolationError:
            raise Conflict("A label was deleted meanwhile; nothing was saved. Try again.") from None
        return chosen

    return await run_tx(pool, "store.set_project_labels", body)
