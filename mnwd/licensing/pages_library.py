"""The buyer's license keys, ``/library/keys`` (commerce's ``/library`` links here as "License keys"):
each key shown again (lost keys are recovered by signing in), its status and its devices with name,
platform and last seen; the buyer frees one device (``POST /library/keys/{key}/activations/{id}/deactivate``)
or swaps out the least recently seen one (``POST /library/keys/{key}/swap``, once per
``MNWD_LICENSE_SWAP_COOLDOWN``). Another account's key or device is "not found"."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.licensing import activations, library
from mnwd.licensing.settings import LicensingSettings
from mnwd.ratelimit import Limit
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render
from mnwd.web.params import uuid_param

__all__ = ["setup"]

NO_SUCH_KEY = "You have no such license key."
RELEASES_PER_DAY = Limit("licensing:buyer-release", 20, 86400, "You freed many devices today. Try again tomorrow.")
SAVED = {
    "deactivated": "The device was deactivated: its seat is free.",
    "swapped": "The least recently seen device was deactivated: its seat is free for your new one.",
}


async def keys_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    owned = await library.list_owned_keys(services, viewer.user_id)
    cooldown = services.config.section(LicensingSettings).swap_cooldown
    return await render(
        request,
        "licensing/library_keys.html",
        {
            "keys": owned,
            "saved": SAVED.get(request.query.get("saved", "")),
            "cooldown": _every(cooldown),
        },
    )


async def deactivate(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    key_id = uuid_param(request, "key_id", NO_SUCH_KEY)
    activation_id = uuid_param(request, "activation_id", "This key has no such device.")
    await services.limiter.hit(RELEASES_PER_DAY, str(viewer.user_id))
    await activations.buyer_deactivate(services, viewer.user_id, key_id, activation_id)
    return redirect(f"/library/keys?saved=deactivated#key-{key_id}")


async def swap(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    services = request.app[SERVICES]
    key_id = uuid_param(request, "key_id", NO_SUCH_KEY)
    cooldown = services.config.section(LicensingSettings).swap_cooldown
    await activations.buyer_swap(services, viewer.user_id, key_id, cooldown)
    return redirect(f"/library/keys?saved=swapped#key-{key_id}")


def setup(app: web.Application) -> None:
    app.router.add_get("/library/keys", keys_page)
    app.router.add_post("/library/keys/{key_id}/activations/{activation_id}/deactivate", deactivate)
    app.router.add_post("/library/keys/{key_id}/swap", swap)


def _every(seconds: float) -> str:
    """A cooldown as a person says it: "24 hours", "90 minutes", "1.5 hours"."""
    hours = seconds / 3600
    if hours < 2:
        return f"{round(seconds / 60)} minutes"
    return f"{hours:g} hours" if hours == round(hours, 1) else f"{round(hours, 1)} hours"
