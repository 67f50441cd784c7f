"""The creator's license keys, in the dashboard (docs/licensing.md#creators):

- ``GET /dashboard/licenses``: the creator's items, with license keys on or off and how many were issued;
- ``GET /dashboard/store/items/{item_id}/licenses[?q=]``: the item's policy form, comps, bulk keys, and its
  keys (searched by last group, buyer or e-mail) with their actions;
- ``POST .../licenses/policy``: save the policy (shown again with its mistakes, 422, nothing written);
- ``POST .../licenses/comps``: one key for free, shown once on the answer page;
- ``POST .../licenses/bulk``: ``count`` keys, answered as a CSV download (the only time they are shown);
- ``POST .../licenses/comps/list``: ``emails``, a pasted CSV of addresses: one comp each, each mailed, answered
  as a CSV download ``email,key,status`` (``issued``, or ``already`` for an address that had a comp of the item:
  posting the list again issues and mails nothing twice);
- ``POST .../licenses/keys/{key_id}/{action}``: suspend, reinstate; revoke and reset (activations) are
  asked for on their ``GET`` confirmation page first; ``.../keys/{key_id}/extend``: new expiry and seats.

Every id in a path must be the signed-in creator's (another's is "not found"); forms carry the CSRF token.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.errors import NotFound, ValidationFailed
from mnwd.licensing import issuance, manage
from mnwd.licensing.model import Policy
from mnwd.services import Services
from mnwd.web.forms import field, read_form, render_problem
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

BASE = "/dashboard/store/items/{item_id}/licenses"
PAGE = "licensing/dashboard_item.html"
SAVED = {
    "policy": "The license policy was saved; it applies to keys issued from now on.",
    "suspend": "The key was suspended.",
    "reinstate": "The key is active again.",
    "revoke": "The key was revoked.",
    "reset": "The key's activations were reset: every device must activate again.",
    "extend": "The key's terms were changed.",
}
CONFIRM = {
    "revoke": Confirmation(
        title="Revoke a license key",
        question="Revoke this license key?",
        consequence="Apps using it stop validating (REVOKED), for good; its buyer sees it revoked.",
        button="Revoke the key",
        cancel="",
    ),
    "reset": Confirmation(
        title="Reset a key's activations",
        question="Deactivate every device of this key?",
        consequence="Each device must activate again; the seats are free at once.",
        button="Reset activations",
        cancel="",
        danger=False,
    ),
}
FORM_FIELDS = (
    "max_activations",
    "expiry",
    "expires_at",
    "duration_days",
    "heartbeat_minutes",
    "entitlements",
    "updates_days",
)


def _policy_form(policy: Policy, enabled: bool) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "max_activations": "" if policy.max_activations is None else str(policy.max_activations),
        "expiry": policy.expiry,
        "expires_at": policy.expires_at.date().isoformat() if policy.expires_at else "",
        "duration_days": str(policy.duration_days or ""),
        "floating": policy.floating,
        "heartbeat_minutes": str(policy.heartbeat_seconds // 60),
        "entitlements": " ".join(policy.entitlements),
        "updates_days": str(policy.updates_days or ""),
    }


async def _context(request: web.Request, item_id: uuid.UUID, creator_id: uuid.UUID) -> dict[str, Any]:
    services = request.app[SERVICES]
    item, policy = await issuance.get_item_policy(services, creator_id, item_id)
    search = request.query.get("q", "")
    _, found = await manage.list_item_keys(services, creator_id, item_id, search)
    return {
        "item": item,
        "form": _policy_form(policy, item["enable_license_keys"]),
        "keys": found,
        "search": search,
        "now": services.clock.now(),
        "max_listed": manage.MAX_LISTED,
        "max_bulk": issuance.MAX_BULK,
        "saved": SAVED.get(request.query.get("saved", "")),
        "error": None,
        "field_errors": {},
    }


async def index_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    found = await issuance.list_creator_items(request.app[SERVICES], viewer.user_id)
    return await render(request, "licensing/dashboard_index.html", {"items": found})


async def item_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    response = await render(request, PAGE, await _context(request, item_id, viewer.user_id))
    response.headers["Cache-Control"] = "no-store"
    return response


async def save_policy(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    posted = await read_form(request)
    form = {name: field(posted, name, max_chars=2000) for name in (*FORM_FIELDS, "enabled", "floating")}
    try:
        enabled, policy = manage.check_policy(form, services.clock.now())
        await issuance.set_item_policy(services, viewer.user_id, item_id, enabled, policy)
    except ValidationFailed as problem:
        context = await _context(request, item_id, viewer.user_id)
        context["form"] = {**form, "enabled": bool(form["enabled"]), "floating": bool(form["floating"])}
        return await render_problem(request, PAGE, problem, context)
    return redirect(f"/dashboard/store/items/{item_id}/licenses?saved=policy")


async def issue_comp(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    posted = await read_form(request)
    email = field(posted, "email", max_chars=254).strip() or None
    errors: list[dict[str, str]] = []
    max_activations: Any = issuance.UNSET
    raw_max = field(posted, "max_activations", max_chars=10).strip()
    if raw_max:
        max_activations = int(raw_max) if raw_max.isdigit() else -1
    expires_at: Any = issuance.UNSET
    raw_date = field(posted, "expires_at", max_chars=20).strip()
    if raw_date:
        expires_at = manage.parse_date(raw_date)
        if expires_at is None:
            errors.append({"field": "expires_at", "message": "A date as YYYY-MM-DD."})
    try:
        if errors:
            raise ValidationFailed("The license cannot be issued like this.", errors)
        key, license = await issuance.issue_comp(
            services, viewer.user_id, item_id, email=email, max_activations=max_activations, expires_at=expires_at
        )
    except ValidationFailed as problem:
        return await render_problem(request, PAGE, problem, await _context(request, item_id, viewer.user_id))
    response = await render(request, "licensing/dashboard_issued.html", {"key": key, "license": license})
    response.headers["Cache-Control"] = "no-store"
    return response


async def issue_bulk(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    posted = await read_form(request)
    raw = field(posted, "count", max_chars=10).strip()
    count = int(raw) if raw.isdigit() else 0
    try:
        issued = await issuance.issue_bulk(services, viewer.user_id, item_id, count)
    except ValidationFailed as problem:
        return await render_problem(request, PAGE, problem, await _context(request, item_id, viewer.user_id))
    return _csv_download(services, "license-keys", ["key"], ([key] for key in issued))


async def issue_comp_list(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    posted = await read_form(request)
    text = field(posted, "emails", max_chars=manage.MAX_LIST_CHARS)
    try:
        issued = await issuance.issue_comps(services, viewer.user_id, item_id, manage.parse_address_list(text))
    except ValidationFailed as problem:
        context = await _context(request, item_id, viewer.user_id)
        context["emails"] = text[: manage.MAX_LIST_CHARS]
        return await render_problem(request, PAGE, problem, context)
    rows = ([comp.email, comp.key or "", comp.status] for comp in issued)
    return _csv_download(services, "license-comps", ["email", "key", "status"], rows)


def _csv_download(services: Services, name: str, header: list[str], rows: Iterable[list[str]]) -> web.Response:
    """Keys issued, as a CSV file to download (``<name>-<time>.csv``), never cached."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    stamp = services.clock.now().strftime("%Y%m%d-%H%M%S")
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"', "Cache-Control": "no-store"},
    )


def _action(request: web.Request) -> str:
    action = request.match_info["action"]
    if action not in manage.ACTIONS:
        raise NotFound("There is no such action.")
    return action


async def confirm_key_action(request: web.Request) -> web.Response:
    await require_viewer(request)
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    uuid_param(request, "key_id", manage.NO_SUCH_KEY)
    action = _action(request)
    if action not in CONFIRM:
        raise NotFound("This action needs no confirmation: use the button on the item's license page.")
    template = CONFIRM[action]
    return await render_confirmation(
        request,
        Confirmation(
            title=template.title,
            question=template.question,
            consequence=template.consequence,
            button=template.button,
            cancel=f"/dashboard/store/items/{item_id}/licenses",
            danger=template.danger,
        ),
    )


async def key_action(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    key_id = uuid_param(request, "key_id", manage.NO_SUCH_KEY)
    action = _action(request)
    await manage.change_key(request.app[SERVICES], viewer.user_id, key_id, action)
    return redirect(f"/dashboard/store/items/{item_id}/licenses?saved={action}#key-{key_id}")


async def extend(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    item_id = uuid_param(request, "item_id", issuance.NO_SUCH_ITEM)
    key_id = uuid_param(request, "key_id", manage.NO_SUCH_KEY)
    posted = await read_form(request)
    errors: list[dict[str, str]] = []
    raw_date = field(posted, "expires_at", max_chars=20).strip()
    expires_at = manage.parse_date(raw_date) if raw_date else None
    if raw_date and expires_at is None:
        errors.append({"field": "expires_at", "message": "A date as YYYY-MM-DD, or empty for never."})
    raw_max = field(posted, "max_activations", max_chars=10).strip()
    max_activations = int(raw_max) if raw_max.isdigit() else None
    if raw_max and (max_activations is None or not 1 <= max_activations <= 10000):
        errors.append({"field": "max_activations", "message": "From 1 to 10000, or empty for unlimited."})
    try:
        if errors:
            raise ValidationFailed("The key's terms have mistakes.", errors)
        await manage.extend_key(services, viewer.user_id, key_id, expires_at, max_activations)
    except ValidationFailed as problem:
        return await render_problem(request, PAGE, problem, await _context(request, item_id, viewer.user_id))
    return redirect(f"/dashboard/store/items/{item_id}/licenses?saved=extend#key-{key_id}")


def setup(app: web.Application) -> None:
    app.router.add_get("/dashboard/licenses", index_page)
    app.router.add_get(BASE, item_page)
    app.router.add_post(f"{BASE}/policy", save_policy)
    app.router.add_post(f"{BASE}/comps", issue_comp)
    app.router.add_post(f"{BASE}/comps/list", issue_comp_list)
    app.router.add_post(f"{BASE}/bulk", issue_bulk)
    app.router.add_post(f"{BASE}/keys/{{key_id}}/extend", extend)
    app.router.add_get(f"{BASE}/keys/{{key_id}}/{{action}}", confirm_key_action)
    app.router.add_post(f"{BASE}/keys/{{key_id}}/{{action}}", key_action)
