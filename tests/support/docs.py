"""Code blocks of README.md and docs/*.md that are marked to be run: ``<!-- test: run -->`` on the line before
the opening fence. Their languages are ``sh`` and ``python``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = "<!-- test: run -->"
MARKED_BLOCK = re.compile(rf"^{re.escape(MARKER)}\n```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    code: str


def runnable_examples() -> list[Example]:
    """Every marked block, named ``docs/oauth.md#1-python`` (its file, its rank among the file's marked blocks,
    its language)."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text()
        for rank, match in enumerate(MARKED_BLOCK.finditer(text), start=1):
            name = f"{path.relative_to(ROOT)}#{rank}-{match.group(1)}"
            found.append(Example(name, match.group(1), match.group(2)))
    return found


def marker_count() -> int:
    """Lines that are a marker and nothing else (prose may quote the marker)."""
    line = re.compile(rf"^{re.escape(MARKER)}$", re.MULTILINE)
    return sum(len(line.findall(path.read_text())) for path in DOCUMENTS)
