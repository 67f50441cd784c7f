"""The update check's cache: the served releases of each (app, channel) in memory, newest first, and the
check counts waiting to be written.

- ``ReleaseCache.get(pool, app_id, channel)`` -> `ServedRelease` list (published, not yanked), loaded once.
- ``ReleaseCache.changed(services, app_id)``: after a commit that changes an app's releases; forgets them here
  at once and sends ``NOTIFY ota_releases, '<app_id>'`` so every other daemon forgets them too.
- ``app(name)`` / ``remember_app(name, app)``: the app a path names (slug or id), kept ``APP_SECONDS``; this
  daemon forgets them all when an app is deactivated here (`mnwd.apps.on_app_change`), other daemons within
  ``APP_SECONDS``.
- ``count_check(release_id)`` / ``flush(pool)``: checks are counted in memory and written in one statement
  per release by the periodic flush (an update check does no write).

Races: a load that started before a change could store what it read after the change forgot the app; each
change bumps the app's generation, and a load stores its result only if the generation did not move while
it read. While the LISTEN connection is down nothing is cached (a missed notification would keep stale
releases), and everything is forgotten when it comes back.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from mnwd.apps import App
from mnwd.ota import queries
from mnwd.ota.model import Artifact, Release, Slot
from mnwd.ota.versions import Version, parse_version
from mnwd.services import ServiceKey, Services

__all__ = ["CACHE", "CHANNEL", "ReleaseCache", "ServedRelease"]

CHANNEL = "ota_releases"
APP_SECONDS = 5.0
MAX_APPS = 10_000
# (app, channel) pairs kept; a client naming many channels cannot grow the cache past this (it starts over).
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class ServedRelease:
    release: Release
    version: Version
    artifacts: dict[Slot, Artifact] = field(default_factory=dict)


class ReleaseCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[uuid.UUID, str], list[ServedRelease]] = {}
        self._generations: Counter[uuid.UUID] = Counter()
        self._listening = False
        self.checks: Counter[uuid.UUID] = Counter()
        self._apps: dict[str, tuple[float, App | None]] = {}

    def app(self, name: str) -> tuple[bool, App | None]:
        """(known, app): known is False when the name must be looked up."""
        found = self._apps.get(name)
        if found is None or found[0] < time.monotonic():
            return False, None
        return True, found[1]

    def remember_app(self, name: str, app: App | None) -> None:
        if len(self._apps) >= MAX_APPS:
            self._apps.clear()
        self._apps[name] = (time.monotonic() + APP_SECONDS, app)

    def forget_apps(self) -> None:
        self._apps.clear()

    async def get(self, pool: asyncpg.Pool, app_id: uuid.UUID, channel: str) -> list[ServedRelease]:
        key = (app_id, channel)
        found = self._entries.get(key)
        if found is not None:
            return found
        generation = self._generations[app_id]
        loaded = await _load(pool, app_id, channel)
        if self._listening and self._generations[app_id] == generation:
            if len(self._entries) >= MAX_ENTRIES:
                self.clear()
            self._entries[key] = loaded
        return loaded

    def holds(self, app_id: uuid.UUID, channel: str) -> bool:
        return (app_id, channel) in self._entries

    def forget(self, app_id: uuid.UUID) -> None:
        self._generations[app_id] += 1
        for key in [k for k in self._entries if k[0] == app_id]:
            del self._entries[key]

    def changed(self, services: Services, app_id: uuid.UUID) -> None:
        self.forget(app_id)
        services.listen.notify(CHANNEL, str(app_id))

    def on_notify(self, payload: str) -> None:
        try:
            self.forget(uuid.UUID(payload))
        except ValueError:
            self.clear()

    def listening(self, up: bool) -> None:
        self._listening = up
        self.clear()

    def clear(self) -> None:
        for app_id in {k[0] for k in self._entries}:
            self._generations[app_id] += 1
        self._entries.clear()

    def count_check(self, release_id: uuid.UUID) -> None:
        self.checks[release_id] += 1

    async def flush(self, pool: asyncpg.Pool) -> None:
        pending, self.checks = self.checks, Counter()
        for release_id, count in pending.items():
            await queries.add_checks(pool, release_id, count)


async def _load(pool: asyncpg.Pool, app_id: uuid.UUID, channel: str) -> list[ServedRelease]:
    releases = [Release.from_row(row) for row in await queries.list_served_releases(pool, app_id, channel)]
    served = {r.id: ServedRelease(r, version) for r in releases if (version := parse_version(r.version)) is not None}
    for row in await queries.list_artifacts(pool, list(served)):
        artifact = Artifact.from_row(row)
        served[artifact.release_id].artifacts[artifact.slot] = artifact
    return sorted(served.values(), key=lambda s: s.version, reverse=True)


CACHE = ServiceKey("ota.cache", ReleaseCache)
