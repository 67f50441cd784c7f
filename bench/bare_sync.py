"""The floor of the live benchmark: a bare aiohttp app doing only what any server of SyncKit's protocol must
(the same ``sync_push`` statement and pull SQL, the poke written to the event stream), and nothing mnwd does
besides: no authentication, no validation, no middlewares, no metrics. One user's stream, on one asyncpg
connection; its ``/sync/v1/push``, ``/pull`` and ``/events`` speak enough of mnwd's to serve `Watcher` and
`live_latencies`. What it measures is what aiohttp and asyncpg cost on this machine, not a product."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from mnwd.sync import queries
from mnwd.sync.streams import stream_lock_key
from mnwd.web.http import write_now

__all__ = ["BareSync"]

POKE_MAX_BYTES = 2000


class BareSync:
    def __init__(self, conn: asyncpg.Connection, app_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> None:
        self._conn = conn
        self._stream = (app_id, user_id, device_id, stream_lock_key(app_id, user_id))
        self._prefix = f"{app_id}:{user_id}:"
        self._events: list[tuple[web.Request, web.StreamResponse]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sync/v1/push", self._push)
        app.router.add_get("/sync/v1/pull", self._pull)
        app.router.add_get("/sync/v1/events", self._events_stream)
        return app

    async def _push(self, request: web.Request) -> web.Response:
        mutations = orjson.loads(await request.read())["mutations"]
        ids = [m["mutation_id"] for m in mutations]
        data = [orjson.dumps(m["data"]).decode() for m in mutations]
        row_ids = [m["row_id"] for m in mutations]
        fits = sum(250 + len(r) + len(d) for r, d in zip(row_ids, data, strict=True)) <= POKE_MAX_BYTES
        row = await self._conn.fetchrow(
            queries.SYNC_PUSH,
            *self._stream,
            ids[0],
            ids[-1],
            ids,
            [m["table"] for m in mutations],
            [m["op"] for m in mutations],
            row_ids,
            data,
            [datetime.fromisoformat(m["client_timestamp"]) for m in mutations],
            self._prefix,
            fits,
            POKE_MAX_BYTES,
        )
        assert row is not None
        _, _, seq, *changes = row["poke"].split(":", 3)
        event = b"event: poke\ndata: " + (changes[0].encode() if changes else b'{"seq":%s}' % seq.encode()) + b"\n\n"
        for stream_request, response in self._events:
            if not write_now(stream_request, response, event):
                await response.write(event)
        return web.json_response({"results": [{"mutation_id": i, "status": "applied"} for i in ids]})

    async def _pull(self, request: web.Request) -> web.Response:
        app_id, user_id, device_id, _ = self._stream
        cursor, limit = int(request.query["cursor"]), int(request.query["limit"])
        page = await queries.pull_page(self._conn, app_id, user_id, device_id, cursor, limit, None)
        tail: dict[str, Any] = {"cursor": page["last_seq"] or cursor, "has_more": page["has_more"]}
        return web.Response(
            body=b'{"changes":[' + (page["changes"] or b"") + b"]," + orjson.dumps(tail)[1:],
            content_type="application/json",
        )

    async def _events_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        head = await self._conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM sync_log WHERE app_id = $1 AND user_id = $2", *self._stream[:2]
        )
        await response.write(b"event: ready\ndata: " + orjson.dumps({"seq": head}) + b"\n\n")
        self._events.append((request, response))
        try:
            await asyncio.Event().wait()  # until the client goes (or the server stops)
        finally:
            self._events.remove((request, response))
        return response
