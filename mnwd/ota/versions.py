"""SemVer 2 versions ordered the way Tauri's updater orders them (the Rust ``semver`` crate).

- ``parse_version(text)`` -> `Version`, or None for anything that is not full SemVer 2 (``1.0``, ``01.0.0``,
  ``latest``); a leading ``v`` is accepted as the client accepts it, and dropped.
- `Version` compares by major, minor, patch, then pre-release (numeric identifiers numerically and below
  alphanumeric ones, a release above its pre-releases: ``1.0.0-rc.1 < 1.0.0``), then build metadata, which
  the Rust crate orders too (``1.0.0 < 1.0.0+1 < 1.0.0+2``). Python's ``semver`` package ignores build
  metadata when comparing, so it does not fit: the client would disagree about ``1.8.0+1`` and ``1.8.0+2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

__all__ = ["MAX_VERSION_CHARS", "Version", "parse_version"]

MAX_VERSION_CHARS = 128
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)


def _identifiers_key(identifiers: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in identifiers)


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            text += "-" + ".".join(self.pre)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def _key(self) -> tuple[object, ...]:
        # No pre-release sorts above any pre-release; an empty build below any build.
        pre = (1, ()) if not self.pre else (0, _identifiers_key(self.pre))
        return (self.major, self.minor, self.patch, pre, _identifiers_key(self.build))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()


def parse_version(text: str) -> Version | None:
    if len(text) > MAX_VERSION_CHARS:
        return None
    match = _SEMVER.fullmatch(text[1:] if text.startswith("v") else text)
    if match is None:
        return None
    major, minor, patch, pre, build = match.groups()
    return Version(
        int(major),
        int(minor),
        int(patch),
        tuple(pre.split(".")) if pre else (),
        tuple(build.split(".")) if build else (),
    )
