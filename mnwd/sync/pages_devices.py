"""Pages: a user's sync devices across apps (``/settings/devices``), and revoking one."""

from __future__ import annotations

from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.errors import NotFound
from mnwd.oauth import forget_cached_bearers
from mnwd.sync import dashboard
from mnwd.web.keys import SERVICES
from mnwd.web.pages import Confirmation, redirect, render, render_confirmation
from mnwd.web.params import uuid_param

__all__ = ["setup"]

SAVED_MESSAGES = {"revoked": "The device was revoked: the app on it can no longer sync."}


async def devices_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    apps = await dashboard.list_user_devices(request.app[SERVICES].pool, viewer.user_id)
    saved = SAVED_MESSAGES.get(request.query.get("saved", ""))
    return await render(request, "sync/devices.html", {"apps": apps, "saved": saved})


async def confirm_revoke_device(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    device_id = uuid_param(request, "device_id", dashboard.NO_SUCH_DEVICE)
    groups = await dashboard.list_user_devices(request.app[SERVICES].pool, viewer.user_id)
    found = next(((g, d) for g in groups for d in g.devices if d.id == device_id and d.active), None)
    if found is None:
        raise NotFound(dashboard.NO_SUCH_DEVICE)
    group, device = found
    return await render_confirmation(
        request,
        Confirmation(
            title="Revoke a device",
            question=f"Revoke “{device.device_name}” ({group.app_name})?",
            consequence=(
                f"{group.app_name} on that device can no longer push or pull, at once and for good; the changes it "
                "made stay. To sync from it again, sign in to the app there again as a new device."
            ),
            button="Revoke the device",
            cancel="/settings/devices",
        ),
    )


async def revoke_device(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    device_id = uuid_param(request, "device_id", dashboard.NO_SUCH_DEVICE)
    await dashboard.revoke_user_device(request.app[SERVICES].pool, viewer.user_id, device_id)
    forget_cached_bearers(request.app[SERVICES])
    return redirect("/settings/devices?saved=revoked")


def setup(app: web.Application) -> None:
    app.router.add_get("/settings/devices", devices_page)
    app.router.add_get("/settings/devices/{device_id}/revoke", confirm_revoke_device)
    app.router.add_post("/settings/devices/{device_id}/revoke", revoke_device)
