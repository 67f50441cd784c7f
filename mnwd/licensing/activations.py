"""What apps call with a license key, no account needed: activate, validate, deactivate, heartbeat; and what
a buyer does on their keys page: free one device, or swap out the least recently seen one.

Interface::

    await activate(services, key, fingerprint, name=, platform=, app_version=, address=)
        -> (created, License, Activation)        # LicenseNotFound 404 / LicenseRefused 403 with a code
    await validate(services, key, fingerprint=None, entitlements=()) -> Validation   # never raises for a bad key
    await validate_digest(services, key_digest(key), fingerprint, entitlements, now=) -> Validation
    await deactivate(services, key, activation_id=None, fingerprint=None) -> License
    await heartbeat(services, key, activation_id) -> (License, Activation)
    await buyer_deactivate(services, owner_id, key_id, activation_id) -> None
    await buyer_swap(services, owner_id, key_id, cooldown) -> Activation   # the one freed
    await sweep_dead_leases(services) -> int     # periodic: floating seats whose lease ran out are freed

Races handled: every change to a key's activations runs in a transaction that first locks the key's row
(``SELECT ... FOR UPDATE``), so concurrent activations of one key are judged one after another against an
exact count (20 at once against a limit of 3 make 3), and the same fingerprint twice finds the first's row
and answers it (never counted twice). ``activation_count`` is recounted from the rows inside that lock; a
CHECK keeps it within ``max_activations`` even if a bug slipped past. Floating seats whose lease ran out
are deleted under the same lock before a new seat is judged, so a dead seat never blocks a live device.

Validation reads the key and the seat in one statement and keeps what it read in memory
(`mnwd.licensing.validations`); every change here tells that cache on commit (``forget_on_commit``), and the
database's trigger tells every daemon.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from mnwd.db.tx import Tx, run_tx
from mnwd.errors import Conflict, NotFound, TooManyRequests
from mnwd.licensing import keys, queries
from mnwd.licensing.errors import LicenseNotFound, LicenseRefused
from mnwd.licensing.model import Activation, License
from mnwd.licensing.validations import VALIDATIONS, forget_on_commit
from mnwd.services import Services

__all__ = [
    "CODES",
    "Validation",
    "activate",
    "buyer_deactivate",
    "buyer_swap",
    "deactivate",
    "find_license",
    "heartbeat",
    "key_digest",
    "sweep_dead_leases",
    "validate",
    "validate_digest",
]

SEEN_EVERY = timedelta(seconds=60)
NO_SUCH_ACTIVATION = "This key has no such activation."

CODES: dict[str, str] = {
    "VALID": "The license is valid.",
    "NOT_FOUND": "There is no such license key.",
    "SUSPENDED": "The license is suspended by its creator.",
    "EXPIRED": "The license has expired.",
    "REVOKED": "The license was revoked.",
    "FINGERPRINT_NOT_ACTIVATED": "This device is not activated with this license.",
    "TOO_MANY_ACTIVATIONS": "This device is not activated and every seat is taken: free one at /library/keys.",
    "HEARTBEAT_DEAD": "This device's seat lapsed without a heartbeat: activate it again.",
    "ENTITLEMENTS_MISSING": "The license does not grant every entitlement asked for.",
}


@dataclass(frozen=True)
class Validation:
    valid: bool
    code: str
    license: License | None
    activation: Activation | None = None
    missing: tuple[str, ...] = ()

    def body(self, now: datetime) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "valid": self.valid,
            "code": self.code,
            "detail": CODES[self.code],
            "license": None if self.license is None else self.license.summary(now),
        }
        if self.activation is not None:
            doc["activation"] = self.activation.summary()
        if self.missing:
            doc["missing_entitlements"] = list(self.missing)
        return doc

    def encode(self, now: datetime) -> bytes:
        """`body` as JSON bytes."""
        return msgspec.json.encode(self.body(now))


def key_digest(key: str) -> bytes | None:
    """The lookup hash of a key as typed; None when the text cannot be a key."""
    normalized = keys.normalize_key(key)
    return None if normalized is None else keys.key_hash(normalized)


def _refuse_unless_active(license: License, now: datetime) -> None:
    status = license.effective_status(now)
    if status != "active":
        code = status.upper()
        raise LicenseRefused(code, CODES[code])


def _lease(license: License, now: datetime) -> datetime | None:
    return now + timedelta(seconds=license.heartbeat_seconds) if license.floating else None


async def find_license(services: Services, key: str) -> License | None:
    digest = key_digest(key)
    return None if digest is None else await queries.get_key_by_hash(services.pool, digest)


async def activate(
    services: Services,
    key: str,
    fingerprint: str,
    *,
    name: str | None = None,
    platform: str | None = None,
    app_version: str | None = None,
    address: str | None = None,
) -> tuple[bool, License, Activation]:
    digest = key_digest(key)
    if digest is None:
        raise LicenseNotFound()
    now = services.clock.now()

    async def body(tx: Tx) -> tuple[bool, License, Activation]:
        forget_on_commit(services, tx)
        license = await queries.lock_key_by_hash(tx.conn, digest)
        if license is None:
            raise LicenseNotFound()
        _refuse_unless_active(license, now)
        existing = await queries.get_activation(tx.conn, license.id, fingerprint)
        if existing is not None:
            # Once more from the same device: the same seat, its lease renewed even if it had lapsed.
            touched = await queries.touch_activation(tx.conn, existing.id, now, _lease(license, now))
            assert touched is not None
            return False, license, touched
        count = license.activation_count
        if license.floating and await queries.delete_dead_leases(tx.conn, license.id, now):
            count = await queries.recount_activations(tx.conn, license.id)
        if license.max_activations is not None and count >= license.max_activations:
            raise LicenseRefused(
                "TOO_MANY_ACTIVATIONS",
                f"All {license.max_activations} activations of this key are in use: deactivate a device "
                "(its owner can at /library/keys) and try again.",
            )
        activation = await queries.insert_activation(
            tx.conn, license.id, fingerprint, name, platform, app_version, address, now, _lease(license, now)
        )
        count = await queries.recount_activations(tx.conn, license.id)
        return True, dataclasses.replace(license, activation_count=count), activation

    return await run_tx(services.pool, "licensing.activate", body, metrics=services.metrics)


async def validate(
    services: Services, key: str, fingerprint: str | None = None, entitlements: Sequence[str] = ()
) -> Validation:
    return await validate_digest(services, key_digest(key), fingerprint, entitlements)


async def validate_digest(
    services: Services,
    digest: bytes | None,
    fingerprint: str | None = None,
    entitlements: Sequence[str] = (),
    *,
    now: datetime | None = None,
) -> Validation:
    """`validate` of a key already hashed (`key_digest`; None: not a key at all): from this daemon's memory
    (`mnwd.licensing.validations`), else one statement (the key, the device's seat, and its "last seen",
    recorded at most once a minute) whose result is kept."""
    if digest is None:
        return Validation(False, "NOT_FOUND", None)
    now = now or services.clock.now()
    cache = services[VALIDATIONS]
    entry = (digest, fingerprint)
    moment = services.clock.monotonic()
    found = cache.get(entry, moment)
    if (
        found is not None
        and found[1] is not None
        and found[1].last_seen_at < now - SEEN_EVERY
        and found[0].effective_status(now) == "active"
        and not found[1].lease_dead(now)
    ):
        found = None  # read again, which records this sighting
    if found is None:
        generation = cache.generation
        found = await queries.validate_lookup(services.pool, digest, fingerprint, now, now - SEEN_EVERY)
        if found is None:
            return Validation(False, "NOT_FOUND", None)
        cache.put(entry, found, generation, moment)
    license, activation = found
    status = license.effective_status(now)
    if status != "active":
        return Validation(False, status.upper(), license)
    if fingerprint is not None:
        if activation is None:
            full = license.max_activations is not None and license.activation_count >= license.max_activations
            return Validation(False, "TOO_MANY_ACTIVATIONS" if full else "FINGERPRINT_NOT_ACTIVATED", license)
        if activation.lease_dead(now):
            return Validation(False, "HEARTBEAT_DEAD", license, activation)
    if entitlements:
        granted = set(license.all_entitlements())
        missing = tuple(e for e in entitlements if e not in granted)
        if missing:
            return Validation(False, "ENTITLEMENTS_MISSING", license, activation, missing)
    return Validation(True, "VALID", license, activation)


async def deactivate(
    services: Services, key: str, *, activation_id: uuid.UUID | None = None, fingerprint: str | None = None
) -> License:
    """Free one seat, found by its id or its fingerprint. A revoked or expired key may still free seats."""
    digest = key_digest(key)
    if digest is None:
        raise LicenseNotFound()

    async def body(tx: Tx) -> License:
        forget_on_commit(services, tx)
        license = await queries.lock_key_by_hash(tx.conn, digest)
        if license is None:
            raise LicenseNotFound()
        if activation_id is not None:
            activation = await queries.get_activation_by_id(tx.conn, license.id, activation_id)
        else:
            activation = None if fingerprint is None else await queries.get_activation(tx.conn, license.id, fingerprint)
        if activation is None:
            raise LicenseNotFound(NO_SUCH_ACTIVATION, code="ACTIVATION_NOT_FOUND")
        await queries.delete_activation(tx.conn, license.id, activation.id)
        count = await queries.recount_activations(tx.conn, license.id)
        return dataclasses.replace(license, activation_count=count)

    return await run_tx(services.pool, "licensing.deactivate", body, metrics=services.metrics)


async def heartbeat(services: Services, key: str, activation_id: uuid.UUID) -> tuple[License, Activation]:
    """Renew a seat's lease (floating keys; for node-locked ones it only records "last seen"). A lease that
    already ran out is gone: the seat is freed and the app must activate again (HEARTBEAT_DEAD)."""
    digest = key_digest(key)
    if digest is None:
        raise LicenseNotFound()
    now = services.clock.now()

    async def body(tx: Tx) -> tuple[License, Activation] | None:
        forget_on_commit(services, tx)
        license = await queries.lock_key_by_hash(tx.conn, digest)
        if license is None:
            raise LicenseNotFound()
        _refuse_unless_active(license, now)
        activation = await queries.get_activation_by_id(tx.conn, license.id, activation_id)
        if activation is None:
            raise LicenseNotFound(NO_SUCH_ACTIVATION, code="ACTIVATION_NOT_FOUND")
        if activation.lease_dead(now):
            await queries.delete_activation(tx.conn, license.id, activation.id)
            await queries.recount_activations(tx.conn, license.id)
            return None
        touched = await queries.touch_activation(tx.conn, activation.id, now, _lease(license, now))
        assert touched is not None
        return license, touched

    renewed = await run_tx(services.pool, "licensing.heartbeat", body, metrics=services.metrics)
    if renewed is None:
        # Raised after the commit, so that freeing the dead seat is kept.
        raise LicenseRefused("HEARTBEAT_DEAD", CODES["HEARTBEAT_DEAD"])
    return renewed


async def _owned_locked(tx: Tx, owner_id: uuid.UUID, key_id: uuid.UUID) -> License:
    license = await queries.lock_key(tx.conn, key_id)
    if license is None or license.owner_id != owner_id:
        raise NotFound("You have no such license key.")
    return license


async def buyer_deactivate(
    services: Services, owner_id: uuid.UUID, key_id: uuid.UUID, activation_id: uuid.UUID
) -> None:
    async def body(tx: Tx) -> None:
        forget_on_commit(services, tx)
        license = await _owned_locked(tx, owner_id, key_id)
        if not await queries.delete_activation(tx.conn, license.id, activation_id):
            raise NotFound(NO_SUCH_ACTIVATION)
        await queries.recount_activations(tx.conn, license.id)

    await run_tx(services.pool, "licensing.buyer_deactivate", body, metrics=services.metrics)


async def buyer_swap(services: Services, owner_id: uuid.UUID, key_id: uuid.UUID, cooldown: float) -> Activation:
    """Free the least recently seen device, at most once per ``cooldown`` seconds per key."""
    now = services.clock.now()

    async def body(tx: Tx) -> Activation:
        forget_on_commit(services, tx)
        license = await _owned_locked(tx, owner_id, key_id)
        activations = await queries.list_activations(tx.conn, license.id)
        if not activations:
            raise Conflict("This key has no device to swap out.")
        if license.last_swap_at is not None:
            wait = (license.last_swap_at + timedelta(seconds=cooldown) - now).total_seconds()
            if wait > 0:
                raise TooManyRequests(
                    f"This key was swapped recently; the next swap is possible in {_duration(wait)}.",
                    retry_after=int(wait) + 1,
                )
        oldest = min(activations, key=lambda a: a.last_seen_at)
        await queries.delete_activation(tx.conn, license.id, oldest.id)
        await queries.recount_activations(tx.conn, license.id)
        await queries.set_last_swap(tx.conn, license.id, now)
        return oldest

    return await run_tx(services.pool, "licensing.buyer_swap", body, metrics=services.metrics)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 60) + 1} min"


async def sweep_dead_leases(services: Services) -> int:
    """Free the floating seats whose lease ran out (activation also does it for its own key)."""
    now = services.clock.now()
    freed = 0
    for key_id in await queries.list_keys_with_dead_leases(services.pool, now, 500):

        async def body(tx: Tx, key_id: uuid.UUID = key_id) -> int:
            forget_on_commit(services, tx)
            if await queries.lock_key(tx.conn, key_id) is None:
                return 0
            gone = await queries.delete_dead_leases(tx.conn, key_id, now)
            await queries.recount_activations(tx.conn, key_id)
            return gone

        freed += await run_tx(services.pool, "licensing.sweep_leases", body, metrics=services.metrics)
    return freed
