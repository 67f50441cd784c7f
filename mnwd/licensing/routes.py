"""The license API apps call, no account needed (docs/licensing.md):

- ``POST /api/v1/licenses/activate`` ``{key, fingerprint, name?, platform?, app_version?}`` -> 201 a new seat,
  200 the same fingerprint's seat again: ``{activation_id, activation, license, license_file}``;
- ``POST /api/v1/licenses/validate`` ``{key, fingerprint?, entitlements?}`` -> always 200
  ``{valid, code, detail, license}``;
- ``POST /api/v1/licenses/deactivate`` ``{key, activation_id | fingerprint}`` -> 200 ``{deactivated, license}``;
- ``POST /api/v1/licenses/heartbeat`` ``{key, activation_id}`` -> 200 ``{activation_id, lease_expires_at, ...}``;
- ``GET /api/v1/licenses/file?key=&fingerprint=[&ttl=&encrypt=1]`` -> the signed offline license file;
- ``GET /.well-known/mnwd-license-keys.json`` -> the public keys that verify license files, by key id;
- ``POST /api/v1/items/{item_id}/licenses`` ``{email?, max_activations?, expires_at?, floating?}`` -> 201
  ``{key, license, owner, issued_to_email}``: a comp by the item's creator (token scope ``licenses:write``);
  the address, if given, is mailed the key;
- ``POST /api/v1/items/{item_id}/licenses/comps`` ``{emails: [...]}`` -> 200 ``{comps: [{email, key, status,
  owner}]}``: one comp per distinct address, each mailed, all or none; ``status`` ``issued``, or ``already``
  for an address that had a comp of the item (a retry issues and mails nothing twice).

Every call counts against a limit per address and one per key (429 with ``Retry-After``): in this daemon's
memory (`mnwd.licensing.local_limits`), and for every call but ``validate`` in PostgreSQL too, so that those
hold across daemons. Refusals an app can act on are 403 ``license-refused`` / 404 ``not-found`` with a
``code``. ``validate`` is the hot path: the key is hashed once (the hash keys the limit and the lookup), the
answer usually comes from memory (`mnwd.licensing.validations`) and is encoded straight to bytes.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web

from mnwd.errors import BadRequest, ValidationFailed
from mnwd.licensing import activations, files, issuance, keys
from mnwd.licensing.local_limits import LocalLimiter
from mnwd.licensing.settings import LicensingSettings
from mnwd.oauth import require_api_user
from mnwd.ratelimit import Limit
from mnwd.services import Services
from mnwd.web.body import json_response, read_json
from mnwd.web.client_address import client_address
from mnwd.web.csrf import csrf_exempt
from mnwd.web.keys import SERVICES
from mnwd.web.params import uuid_param

__all__ = ["setup"]

BASE = "/api/v1/licenses"
MAX_BODY_BYTES = 16 * 1024
MAX_LIST_BODY_BYTES = 512 * 1024
NO_STORE = {"Cache-Control": "no-store"}
RATE_MESSAGE = "Too many license requests. Wait and try again; stay in the grace period meanwhile."

Key = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Fingerprint = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
Short = Annotated[str, msgspec.Meta(max_length=200)]


class ActivateIn(msgspec.Struct):
    key: Key
    fingerprint: Fingerprint
    name: Short | None = None
    platform: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    app_version: Annotated[str, msgspec.Meta(max_length=50)] | None = None


class ValidateIn(msgspec.Struct):
    key: Key
    fingerprint: Fingerprint | None = None
    entitlements: Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=50)] = []


class DeactivateIn(msgspec.Struct):
    key: Key
    activation_id: uuid.UUID | None = None
    fingerprint: Fingerprint | None = None


class CompIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    max_activations: int | msgspec.UnsetType | None = msgspec.UNSET
    expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    floating: bool | None = None


class CompListIn(msgspec.Struct, forbid_unknown_fields=True):
    emails: Annotated[list[Annotated[str, msgspec.Meta(max_length=254)]], msgspec.Meta(max_length=issuance.MAX_BULK)]


class HeartbeatIn(msgspec.Struct):
    key: Key
    activation_id: uuid.UUID


def _address(request: web.Request) -> str | None:
    try:
        return str(ipaddress.ip_address(client_address(request) or ""))
    except ValueError:
        return None


class _Limits:
    """The two limits of the license API (from the settings) and this application's in-memory counts."""

    def __init__(self) -> None:
        self.local = LocalLimiter()
        self._settings: LicensingSettings | None = None
        self.per_address = self.per_key = Limit("licensing:unset", 1, 60)

    def of(self, services: Services) -> _Limits:
        settings = services.config.section(LicensingSettings)
        if settings is not self._settings:
            self.per_address = Limit("licensing:address", settings.per_address_per_minute, 60, RATE_MESSAGE)
            self.per_key = Limit("licensing:key", settings.per_key_per_minute, 60, RATE_MESSAGE)
            self._settings = settings
        return self


LIMITS = web.AppKey("licensing.limits", _Limits)


def _key_bucket(key: str, digest: bytes | None) -> bytes | str:
    """What the key's in-memory count is kept under: its lookup hash, or (not a key at all) the text sent."""
    return key if digest is None else digest


def _limit_here(request: web.Request, services: Services, key: str, digest: bytes | None) -> _Limits:
    """Count the call in this daemon's memory (429 beyond a limit): all ``validate`` pays (docs/licensing.md)."""
    limits = request.app[LIMITS].of(services)
    limits.local.hit_all(
        [(limits.per_address, client_address(request) or ""), (limits.per_key, _key_bucket(key, digest))],
        services.clock.time(),
    )
    return limits


async def _limit(request: web.Request, key: str) -> None:
    """The calls that change or hand out something count in memory and in PostgreSQL, whose counts every
    daemon shares."""
    services = request.app[SERVICES]
    limits = _limit_here(request, services, key, activations.key_digest(key))
    await services.limiter.hit_all(
        [(limits.per_address, client_address(request) or ""), (limits.per_key, keys.normalize_key(key) or key)]
    )


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


@csrf_exempt
async def activate(request: web.Request) -> web.Response:
    body = await read_json(request, ActivateIn, max_bytes=MAX_BODY_BYTES)
    await _limit(request, body.key)
    services = _services(request)
    created, license, activation = await activations.activate(
        services,
        body.key,
        body.fingerprint,
        name=body.name,
        platform=body.platform,
        app_version=body.app_version,
        address=_address(request),
    )
    now = services.clock.now()
    answer: dict[str, Any] = {
        "activation_id": str(activation.id),
        "activation": activation.summary(),
        "license": license.summary(now),
        "license_file": await files.license_file(services, license, activation),
    }
    return json_response(answer, status=201 if created else 200, headers={"Cache-Control": "no-store"})


@csrf_exempt
async def validate(request: web.Request) -> web.Response:
    body = await read_json(request, ValidateIn, max_bytes=MAX_BODY_BYTES)
    services = _services(request)
    digest = activations.key_digest(body.key)
    _limit_here(request, services, body.key, digest)
    now = services.clock.now()
    outcome = await activations.validate_digest(services, digest, body.fingerprint, body.entitlements, now=now)
    return web.Response(body=outcome.encode(now), content_type="application/json", headers=NO_STORE)


@csrf_exempt
async def deactivate(request: web.Request) -> web.Response:
    body = await read_json(request, DeactivateIn, max_bytes=MAX_BODY_BYTES)
    if (body.activation_id is None) == (body.fingerprint is None):
        raise ValidationFailed(
            "Name the activation to free: its activation_id or its fingerprint (one of them).",
            [{"field": "activation_id", "message": "Give activation_id or fingerprint."}],
        )
    await _limit(request, body.key)
    services = _services(request)
    license = await activations.deactivate(
        services, body.key, activation_id=body.activation_id, fingerprint=body.fingerprint
    )
    return json_response({"deactivated": True, "license": license.summary(services.clock.now())})


@csrf_exempt
async def heartbeat(request: web.Request) -> web.Response:
    body = await read_json(request, HeartbeatIn, max_bytes=MAX_BODY_BYTES)
    await _limit(request, body.key)
    services = _services(request)
    license, activation = await activations.heartbeat(services, body.key, body.activation_id)
    return json_response(
        {
            "activation_id": str(activation.id),
            "lease_expires_at": activation.lease_expires_at.isoformat() if activation.lease_expires_at else None,
            "activation": activation.summary(),
            "license": license.summary(services.clock.now()),
        }
    )


@csrf_exempt
async def license_file(request: web.Request) -> web.Response:
    key = request.query.get("key", "")
    fingerprint = request.query.get("fingerprint", "")
    if not key or not fingerprint.strip() or len(key) > 100 or len(fingerprint) > 200:
        raise BadRequest("Give key and fingerprint (of an activated device) as query parameters.")
    try:
        ttl = int(request.query["ttl"]) if "ttl" in request.query else None
    except ValueError:
        raise BadRequest("ttl must be a number of seconds.") from None
    encrypt = request.query.get("encrypt", "") in {"1", "true", "yes"}
    await _limit(request, key)
    text = await files.file_for_device(_services(request), key, fingerprint, ttl=ttl, encrypt=encrypt)
    return web.Response(
        text=text,
        content_type="application/x-mnwd-license",
        headers={"Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="license.lic"'},
    )


@csrf_exempt
async def issue_comp(request: web.Request) -> web.Response:
    """``POST /api/v1/items/{item_id}/licenses``: the item's creator issues a key (``licenses:write``)."""
    caller = await require_api_user(request, scope="licenses:write")
    services = _services(request)
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    body = await read_json(request, CompIn, max_bytes=MAX_BODY_BYTES)
    key, license = await issuance.issue_comp(
        services,
        caller.user_id,
        item_id,
        email=body.email,
        max_activations=issuance.UNSET if body.max_activations is msgspec.UNSET else body.max_activations,
        expires_at=issuance.UNSET if body.expires_at is msgspec.UNSET else body.expires_at,
        floating=body.floating,
    )
    answer = {
        "key": key,
        "license": license.summary(services.clock.now()),
        "owner": license.owner_username,
        "issued_to_email": license.issued_to_email,
    }
    return json_response(answer, status=201, headers={"Cache-Control": "no-store"})


@csrf_exempt
async def issue_comp_list(request: web.Request) -> web.Response:
    """``POST /api/v1/items/{item_id}/licenses/comps``: a comp for each address (``licenses:write``)."""
    caller = await require_api_user(request, scope="licenses:write")
    services = _services(request)
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    body = await read_json(request, CompListIn, max_bytes=MAX_LIST_BODY_BYTES)
    issued = await issuance.issue_comps(
        services, caller.user_id, item_id, [(n, email) for n, email in enumerate(body.emails, start=1)]
    )
    owners = {comp.owner_id for comp in issued if comp.owner_id is not None}
    names = await issuance.usernames_of(services, owners) if owners else {}
    answer = {
        "comps": [
            {"email": c.email, "key": c.key, "status": c.status, "owner": names.get(c.owner_id) if c.owner_id else None}
            for c in issued
        ]
    }
    return json_response(answer, headers={"Cache-Control": "no-store"})


async def public_keys(request: web.Request) -> web.Response:
    return json_response(await files.public_keys(_services(request)), headers={"Cache-Control": "public, max-age=300"})


def setup(app: web.Application) -> None:
    app[LIMITS] = _Limits()
    app.router.add_post(f"{BASE}/activate", activate)
    app.router.add_post(f"{BASE}/validate", validate)
    app.router.add_post(f"{BASE}/deactivate", deactivate)
    app.router.add_post(f"{BASE}/heartbeat", heartbeat)
    app.router.add_get(f"{BASE}/file", license_file)
    app.router.add_get("/.well-known/mnwd-license-keys.json", public_keys)
    app.router.add_post("/api/v1/items/{item_id}/licenses", issue_comp)
    app.router.add_post("/api/v1/items/{item_id}/licenses/comps", issue_comp_list)
