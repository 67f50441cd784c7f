"""What the database fixtures of tests/conftest.py share with tests."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = "mnwd_template"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
