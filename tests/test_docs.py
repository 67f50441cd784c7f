from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mnwd.app import create_app
from mnwd.services import Services

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_route_is_documented(services: Services) -> None:
    app: web.Application = create_app(services)
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    routes = {resource.canonical for resource in app.router.resources()}
    missing = sorted(r for r in routes if f"`GET {r}`" not in text and f" {r}`" not in text)
    assert not missing, f"routes missing from docs/: {missing}"


def test_every_problem_type_is_documented() -> None:
    from mnwd.errors import PROBLEM_TYPES

    text = (DOCS / "errors.md").read_text()
    missing = [slug for slug in PROBLEM_TYPES if f"`{slug}`" not in text]
    assert not missing, f"problem types missing from docs/errors.md: {missing}"


def test_every_problem_slug_raised_is_in_the_catalog() -> None:
    """Titles come only from the catalog, so every slug the code names must be in it."""
    import re

    from mnwd.errors import PROBLEM_TYPES

    source = "\n".join(p.read_text() for p in (DOCS.parent / "mnwd").rglob("*.py"))
    named = set(re.findall(r'slug\s*=\s*"([a-z0-9-]+)"', source))
    assert named, "the pattern found no slug: the test would pass for nothing"
    assert sorted(named - set(PROBLEM_TYPES)) == []


def test_every_marked_example_is_found_and_the_key_ones_are_marked() -> None:
    """A marker whose block the runner cannot read (a blank line between, no language) would be skipped
    silently; and the examples a new user pastes first must stay among those run (tests/e2e/test_docs_examples)."""
    from tests.support.docs import marker_count, runnable_examples

    examples = runnable_examples()
    assert len(examples) == marker_count()
    assert {example.language for example in examples} <= {"sh", "python"}
    ids = {example.id for example in examples}
    assert {"docs/oauth.md#1-python", "docs/oauth.md#2-sh", "docs/operations.md#1-sh"} <= ids
