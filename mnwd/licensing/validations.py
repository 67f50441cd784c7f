"""Recently validated keys, so that ``POST /api/v1/licenses/validate`` usually costs no query (docs/licensing.md,
"Performance").

Interface::

    cache = services[VALIDATIONS]
    cache.get((digest, fingerprint), now_monotonic) -> (License, Activation | None) | None
    generation = cache.generation; ...read...; cache.put(entry_key, found, generation, now_monotonic)
    cache.forget(key_id) / cache.forget_all()       # after this daemon's own commits: at once
    # on_notify / listening: the LISTEN bus (channel `CHANNEL`)

What is kept is the key's row and the fingerprint's seat as the database had them; the answer (valid,
expired, lease dead, entitlements missing) is worked out from them on every call with the current time, so
an expiry or a lapsed lease needs no invalidation. A key that does not exist is not kept.

**Invalidation.** Every change to a key or its seats (activation, deactivation, heartbeat, suspension,
revocation, refund, terms, a deleted item cascading) fires ``pg_notify('license_changes', '<key id>')`` from
a trigger (migration 0037) in the changing transaction, so every daemon hears it on commit, whoever wrote
(SQL by hand included). The daemon that made the change through this domain also forgets at once
(`forget_all` after its commit, `mnwd.licensing.activations` and the others), without waiting for its own
notification. "Last seen" is not a change worth a notification: a cached seat whose ``last_seen_at`` is
older than a minute is read again (which records the new sighting).

An entry is trusted only while the LISTEN connection is up (a notification could be missed while it is
down: everything is forgotten when it goes down and when it comes back), and for at most `MAX_AGE` seconds.

Races: a read that started before a forget must not store what it read after it: every forget bumps
``generation``, and `put` stores only if it did not move since the read began. Bounded: past `MAX_ENTRIES`
the cache starts over.
"""

from __future__ import annotations

import uuid
from typing import TypeAlias

from mnwd.db.tx import Tx
from mnwd.licensing.model import Activation, License
from mnwd.services import ServiceKey, Services

__all__ = [
    "CHANNEL",
    "MAX_AGE",
    "MAX_ENTRIES",
    "VALIDATIONS",
    "Found",
    "ValidationCache",
    "forget_here",
    "forget_on_commit",
]

CHANNEL = "license_changes"
MAX_AGE = 60.0
MAX_ENTRIES = 20_000  # about 1.6 KB each: some 30 MB at most

EntryKey: TypeAlias = tuple[bytes, str | None]
Found: TypeAlias = tuple[License, Activation | None]


class ValidationCache:
    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_age: float = MAX_AGE) -> None:
        self._max_entries = max_entries
        self._max_age = max_age
        self._entries: dict[EntryKey, tuple[float, Found]] = {}  # → (monotonic deadline, found)
        self._by_key: dict[uuid.UUID, set[EntryKey]] = {}
        self._listening = False
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry: EntryKey, now: float) -> Found | None:
        kept = self._entries.get(entry)
        if kept is None:
            return None
        if kept[0] <= now:
            self._drop(entry, kept[1][0].id)
            return None
        return kept[1]

    def put(self, entry: EntryKey, found: Found, generation: int, now: float) -> None:
        if not self._listening or generation != self.generation:
            return
        if len(self._entries) >= self._max_entries:
            self._clear()
        key_id = found[0].id
        self._entries[entry] = (now + self._max_age, found)
        self._by_key.setdefault(key_id, set()).add(entry)

    def _drop(self, entry: EntryKey, key_id: uuid.UUID) -> None:
        self._entries.pop(entry, None)
        entries = self._by_key.get(key_id)
        if entries is not None:
            entries.discard(entry)
            if not entries:
                del self._by_key[key_id]

    def forget(self, key_id: uuid.UUID) -> None:
        self.generation += 1
        for entry in self._by_key.pop(key_id, ()):
            self._entries.pop(entry, None)

    def forget_all(self) -> None:
        self.generation += 1
        self._clear()

    def _clear(self) -> None:
        self._entries.clear()
        self._by_key.clear()

    def on_notify(self, payload: str) -> None:
        try:
            self.forget(uuid.UUID(payload))
        except ValueError:
            self.forget_all()

    def listening(self, up: bool) -> None:
        self._listening = up
        self.forget_all()


VALIDATIONS = ServiceKey("licensing.validations", ValidationCache)


def forget_here(services: Services) -> None:
    """This daemon forgets every validation it keeps now (the others hear the trigger's NOTIFY)."""
    try:
        cache = services[VALIDATIONS]
    except LookupError:  # a command run outside the daemon keeps none
        return
    cache.forget_all()


def forget_on_commit(services: Services, tx: Tx) -> None:
    """`forget_here` as soon as ``tx`` commits: a change through this daemon is seen by its next validation."""
    tx.after_commit(lambda: forget_here(services))
