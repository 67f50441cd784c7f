"""Follows and the feed (``/follow``, ``/unfollow``, ``/feed``, ``/api/v1/follows``, ``/api/v1/feed``); and
the setup of the other social areas, each in its own module (`media_routes`, `blog_routes`,
`collection_routes`, `report_routes`)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from mnwd.accounts import require_viewer
from mnwd.errors import NotFound
from mnwd.oauth import require_api_user
from mnwd.store import blog_routes, collection_routes, follows, media_routes, notices, report_routes
from mnwd.timestamps import rfc3339
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.forms import field, read_form
from mnwd.web.keys import SERVICES
from mnwd.web.pages import redirect, render, safe_next

__all__ = ["setup"]


class FollowBody(msgspec.Struct, forbid_unknown_fields=True):
    target_type: str
    target_id: str


async def follow_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    target = follows.parse_target(field(form, "target_type"), field(form, "target_id"))
    if await follows.follow(request.app[SERVICES].pool, viewer.user_id, target):
        await notices.notify_followed(request.app[SERVICES], viewer.user_id, target)
    return redirect(safe_next(field(form, "next"), "/feed"))


async def unfollow_form(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    form = await read_form(request)
    target = follows.parse_target(field(form, "target_type"), field(form, "target_id"))
    await follows.unfollow(request.app[SERVICES].pool, viewer.user_id, target)
    return redirect(safe_next(field(form, "next"), "/feed"))


async def feed_page(request: web.Request) -> web.Response:
    viewer = await require_viewer(request)
    pool = request.app[SERVICES].pool
    page = await follows.feed(pool, viewer.user_id, before=request.query.get("before") or None)
    context = {
        "entries": page.entries,
        "next_cursor": page.next_cursor,
        "first_page": "before" not in request.query,
        "followed": await follows.list_follows(pool, viewer.user_id),
    }
    response = await render(request, "store/feed.html", context)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _entry_json(entry: follows.FeedEntry) -> dict[str, object]:
    return {**entry.as_json(), "at": rfc3339(entry.at)}


async def api_feed(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="follows:read")
    raw_limit = request.query.get("limit", "")
    limit = int(raw_limit) if raw_limit.isdigit() and len(raw_limit) < 5 else follows.FEED_PAGE
    page = await follows.feed(
        request.app[SERVICES].pool, caller.user_id, before=request.query.get("before") or None, limit=limit
    )
    return json_response({"entries": [_entry_json(e) for e in page.entries], "next_cursor": page.next_cursor})


async def api_list_follows(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="follows:read")
    listed = await follows.list_follows(request.app[SERVICES].pool, caller.user_id)
    return json_response(
        {
            "follows": [
                {"target_type": f.type, "target_id": f.id, "name": f.name, "url": f.url, "since": rfc3339(f.since)}
                for f in listed
            ]
        }
    )


@csrf_exempt
async def api_follow(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="follows:write")
    body = await read_json(request, FollowBody, max_bytes=4096)
    target = follows.parse_target(body.target_type, body.target_id)
    created = await follows.follow(request.app[SERVICES].pool, caller.user_id, target)
    if created:
        await notices.notify_followed(request.app[SERVICES], caller.user_id, target)
    return json_response(
        {"target_type": target.type, "target_id": target.id, "following": True}, status=201 if created else 200
    )


@csrf_exempt
async def api_unfollow(request: web.Request) -> web.Response:
    caller = await require_api_user(request, scope="follows:write")
    target = follows.parse_target(request.match_info["target_type"], request.match_info["target_id"])
    if not await follows.unfollow(request.app[SERVICES].pool, caller.user_id, target):
        raise NotFound("You do not follow that.")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    """Adds this part's pages and endpoints."""
    media_routes.setup(app)
    blog_routes.setup(app)
    collection_routes.setup(app)
    report_routes.setup(app)
    app.router.add_post("/follow", follow_form)
    app.router.add_post("/unfollow", unfollow_form)
    app.router.add_get("/feed", feed_page)
    app.router.add_get("/api/v1/feed", api_feed)
    app.router.add_get("/api/v1/follows", api_list_follows)
    app.router.add_post("/api/v1/follows", api_follow)
    app.router.add_delete("/api/v1/follows/{target_type}/{target_id}", api_unfollow)
