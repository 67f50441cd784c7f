"""What `make serve` installs: the runtime dependencies only; the test extras come with `make test`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = {"pytest", "playwright", "moto", "mypy", "ruff", "hypothesis", "aiosmtpd", "authlib", "import-linter"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_test_only_packages_are_test_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not _names(project["dependencies"]) & TEST_ONLY
    assert _names(project["optional-dependencies"]["test"]) >= TEST_ONLY


def test_mnwd_itself_never_imports_authlib() -> None:
    users = [p for p in (ROOT / "mnwd").rglob("*.py") if re.search(r"^\s*(from|import) authlib", p.read_text(), re.M)]
    assert users == []


def test_setup_installs_the_test_extras_only_when_asked() -> None:
    """`make serve` runs `scripts/setup`, `make test` `scripts/setup --test`; pip shows its progress."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve: setup$", makefile, re.M)
    assert re.search(r"^setup:\n\t@scripts/setup$", makefile, re.M)
    assert re.search(r"^test: lint$", makefile, re.M)
    assert re.search(r"^lint: setup-test$", makefile, re.M)
    script = (ROOT / "scripts/setup").read_text()
    assert "target='.[test]'" in script
    assert "target='.'" in script
    install = re.search(r"pip install (.*)", script)
    assert install is not None
    assert "--quiet" not in install.group(1)
    assert "-q" not in install.group(1).split()
