"""Handlers: devices, push, pull and the live event stream of ``/sync/v1``."""

from __future__ import annotations

import asyncio
import random
import uuid

from aiohttp import HttpVersion11, web

from mnwd.oauth import Bearer, bearer_remembered, bearer_still_valid, forget_cached_bearers, recheck_bearer
from mnwd.sync import changes, devices
from mnwd.sync.auth import sync_caller
from mnwd.sync.notifier import NOTIFIER, Watch
from mnwd.sync.readahead import READAHEAD
from mnwd.sync.settings import SyncSettings
from mnwd.sync.stats import SYNC_METRICS
from mnwd.web.body import json_response, read_json
from mnwd.web.csrf import csrf_exempt
from mnwd.web.http import sse_event, write_now
from mnwd.web.keys import SERVICES
from mnwd.web.params import uuid_param

__all__ = ["setup"]

HEARTBEAT_SECONDS = 15.0
HEARTBEAT_SPREAD = 0.8
JSON = "application/json"


def _encoded(value: object, status: int = 200) -> web.Response:
    return json_response(value, status=status)


def _device_id(request: web.Request) -> uuid.UUID:
    return uuid_param(request, "device_id", "There is no such device.")


@csrf_exempt
async def register_device(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    body = await read_json(request, devices.DeviceIn)
    services = request.app[SERVICES]
    device, created = await devices.register_device(services.pool, bearer, body, metrics=services.metrics)
    forget_cached_bearers(request.app[SERVICES])  # the token is now bound to the device
    return json_response(device, status=201 if created else 200)


async def list_devices(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    return json_response({"devices": await devices.list_devices(request.app[SERVICES].pool, bearer)})


@csrf_exempt
async def rename_device(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    body = await read_json(request, devices.DeviceRename)
    device = await devices.rename_device(request.app[SERVICES].pool, bearer, _device_id(request), body)
    return json_response(device)


@csrf_exempt
async def revoke_device(request: web.Request) -> web.Response:
    bearer = await sync_caller(request)
    await devices.revoke_device(request.app[SERVICES].pool, bearer, _device_id(request))
    forget_cached_bearers(request.app[SERVICES])
    return web.Response(status=204)


@csrf_exempt
async def push(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    bearer = await sync_caller(request)
    body = await read_json(request, changes.PushIn, max_bytes=services.config.section(SyncSettings).max_push_bytes)
    result = await changes.push(
        services.lane,
        services[NOTIFIER],
        services.config.section(SyncSettings),
        bearer,
        body,
        services[changes.WAITING_PUSHES],
    )
    services[SYNC_METRICS].pushed.inc(len(body.mutations))
    return _encoded(result)


async def pull(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    bearer = await sync_caller(request)
    query = changes.pull_query(request.query)
    result = await changes.pull(services.pool, services.lane, services[NOTIFIER], services[READAHEAD], bearer, query)
    if query.wait > 0:
        # The token may have been revoked while the pull waited: a row pushed since must not reach it.
        await recheck_bearer(request)
    services[SYNC_METRICS].pulled.inc(result.count)
    return web.Response(body=result.to_json(), content_type=JSON)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``poke`` with the newest seq whenever the stream changes (and, for a small push, the
    changes themselves); comments as heartbeats.

    The stream ends when the client goes away, when its token stops being valid (checked before each batch of
    pokes, at each heartbeat, and at once when a revocation anywhere makes the bearer cache forget), when the
    token expires, and when the daemon shuts down (so a graceful stop does not wait for idle listeners).

    While the stream waits with nothing unsent, a poke is written at once by whoever delivers it
    (`_EventStream.write_at_once`): a push's poke then leaves before the push's own answer, with no task to
    wake in between.
    """
    services = request.app[SERVICES]
    notifier = services[NOTIFIER]
    bearer = await sync_caller(request)
    websocket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    if websocket.can_prepare(request).ok:
        return await _websocket_events(request, websocket, bearer)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    if request.version == HttpVersion11:
        response.enable_chunked_encoding()  # as aiohttp would anyway; said outright, `write_now` can use it
    await response.prepare(request)
    async with notifier.watch(bearer.app_id, bearer.user_id, keep_pokes=True) as watch:
        newest = await changes.newest_seq(services.pool, bearer)
        watch.known(newest)
        await response.write(b"retry: 2000\n" + _event("ready", newest))
        stream = _EventStream(request, response, bearer, sent=newest)
        try:
            while not notifier.streams_ending:
                watch.at_once = stream.write_at_once
                try:
                    poked = await watch.wait(_wait_seconds(request, bearer))
                finally:
                    watch.at_once = None
                if notifier.streams_ending or request.transport is None or request.transport.is_closing():
                    break
                pokes = _take_pokes(watch, stream.sent) if poked else []
                if not await _still_valid(request, bearer):
                    # Revoked, expired or suspended since the stream opened: end it; a reconnect gets the 401.
                    break
                if pokes:
                    await response.write(b"".join(_poke_event(seq, json) for seq, json in pokes))
                    stream.sent = max(stream.sent, max(seq for seq, _ in pokes))
                elif not poked:
                    await response.write(b": heartbeat\n\n")
        except ConnectionResetError:
            pass
    return response


class _EventStream:
    """An event stream's ``sent`` seq, and the poke written without waiting while the stream is idle."""

    def __init__(self, request: web.Request, response: web.StreamResponse, bearer: Bearer, *, sent: int) -> None:
        self._request = request
        self._response = response
        self._bearer = bearer
        self.sent = sent

    def write_at_once(self, seq: int, changes_json: str | None) -> bool:
        """`Watch.at_once`: the poke written now when the stream's waiting task would write it unchanged: the
        daemon is not stopping, the token is unexpired and a remembered check still holds it good (every
        revocation committed before the push has made this daemon forget its checks before the poke is
        delivered, see `mnwd.sync.notifier`), and the connection takes the bytes without waiting. Otherwise
        the poke is left to the task, which checks the token in the database first."""
        request = self._request
        services = request.app[SERVICES]
        if services[NOTIFIER].streams_ending:
            return False
        if seq <= self.sent:
            return True  # the task would drop it too
        if self._bearer.expires_at <= services.clock.now() or not bearer_remembered(request):
            return False
        try:
            written = write_now(request, self._response, _poke_event(seq, changes_json))
        except (ConnectionError, RuntimeError):
            return False
        if written:
            self.sent = seq
        return written


async def _websocket_events(request: web.Request, ws: web.WebSocketResponse, bearer: Bearer) -> web.WebSocketResponse:
    """The same pokes over a WebSocket: ``{"type": "ready"|"poke", "seq": N, …}``; the client sends nothing."""
    services = request.app[SERVICES]
    notifier = services[NOTIFIER]
    await ws.prepare(request)
    async with notifier.watch(bearer.app_id, bearer.user_id, keep_pokes=True) as watch:
        newest = await changes.newest_seq(services.pool, bearer)
        watch.known(newest)
        await ws.send_json({"type": "ready", "seq": newest})
        closed = asyncio.create_task(_until_closed(ws, watch))
        try:
            sent = newest
            while not notifier.streams_ending and not closed.done():
                poked = await watch.wait(_wait_seconds(request, bearer))
                if notifier.streams_ending or closed.done():
                    break
                pokes = _take_pokes(watch, sent) if poked else []
                if not await _still_valid(request, bearer):
                    break
                for seq, json in pokes:
                    # {"type": "poke", "seq": …, "after": …, "changes": […]}, the changes' JSON as it came
                    await ws.send_str('{"type":"poke",' + json[1:] if json else f'{{"type":"poke","seq":{seq}}}')
                    sent = max(sent, seq)
        except ConnectionResetError:
            pass
        finally:
            closed.cancel()
            await ws.close()
    return ws


def _wait_seconds(request: web.Request, bearer: Bearer) -> float:
    """Until the next heartbeat, or until the token expires, whichever comes first. Heartbeats come every
    80 to 100 % of `HEARTBEAT_SECONDS`, drawn each time: thousands of streams opened together (a restart, a
    reconnect storm) drift apart instead of waking, re-checking and writing in the same instant forever."""
    left = (bearer.expires_at - request.app[SERVICES].clock.now()).total_seconds()
    return max(0.0, min(HEARTBEAT_SECONDS * random.uniform(HEARTBEAT_SPREAD, 1.0), left))


async def _still_valid(request: web.Request, bearer: Bearer) -> bool:
    """Not expired (by our clock, so an expired stream never spins on a zero wait) and not revoked."""
    return bearer.expires_at > request.app[SERVICES].clock.now() and await bearer_still_valid(request)


def _take_pokes(watch: Watch, sent: int) -> list[tuple[int, str | None]]:
    """The pokes to send, taken *before* the bearer is checked again: a revocation committed before a push
    reaches this daemon before the push's poke (notifications come in commit order), and has by then made
    the bearer cache forget, so the check that follows goes to the database. A wake without news (seq 0)
    sends the newest seq only if the client has not had it. Pokes are sent after their push's commit, so one
    can arrive after a newer seq was sent (in ``ready``): such a poke is dropped."""
    pokes = [(seq, json) for seq, json in watch.take_pokes() if seq > sent]
    if pokes:
        return pokes
    return [(watch.newest, None)] if watch.newest > sent else []


async def _until_closed(ws: web.WebSocketResponse, watch: Watch) -> None:
    async for _message in ws:
        pass
    watch.poke(0)


async def end_event_streams(app: web.Application) -> None:
    app[SERVICES][NOTIFIER].end_streams()


def _event(name: str, seq: int) -> bytes:
    return sse_event(name, {"seq": seq})


def _poke_event(seq: int, changes_json: str | None) -> bytes:
    if changes_json is None:
        return _event("poke", seq)
    return b"event: poke\ndata: " + changes_json.encode() + b"\n\n"


def setup(app: web.Application) -> None:
    app.router.add_post("/sync/v1/devices", register_device)
    app.router.add_get("/sync/v1/devices", list_devices)
    app.router.add_patch("/sync/v1/devices/{device_id}", rename_device)
    app.router.add_delete("/sync/v1/devices/{device_id}", revoke_device)
    app.router.add_post("/sync/v1/push", push)
    app.router.add_get("/sync/v1/pull", pull)
    app.router.add_get("/sync/v1/events", events)
    app.on_shutdown.append(end_event_streams)
