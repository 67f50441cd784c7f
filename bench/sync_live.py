"""Live: device A pushes one mutation; device B, listening on ``GET /sync/v1/events``, gets the poke and pulls.
The time from the start of A's push until B holds the change, p50 and p99 over 1 000 pushes, against one bare
HTTP round trip (``GET /healthz``) to the same daemon, taken just before each push. Lower is better: the target
is a maximum ratio."""

from __future__ import annotations

import aiohttp

from bench.fixtures import NO_TIMEOUT, live_latencies, percentile, sync_stack
from bench.report import Result

PUSHES = 1000


async def run() -> list[Result]:
    async with sync_stack() as stack:
        user = (await stack.create_users(1))[0]
        a, b = await stack.mint_devices([user, user])
        async with aiohttp.ClientSession(timeout=NO_TIMEOUT) as session:
            await stack.register(session, a, "phone")
            await stack.register(session, b, "laptop")
        live, bare = await live_latencies(stack.base_url, a, b, PUSHES)
    us = 1e6
    return [
        Result(
            "live push->B holds it, p50",
            "us",
            percentile(live, 0.5) * us,
            "GET /healthz p50",
            percentile(bare, 0.5) * us,
            target_max=4.0,
        ),
        Result(
            "live push->B holds it, p99",
            "us",
            percentile(live, 0.99) * us,
            "GET /healthz p99",
            percentile(bare, 0.99) * us,
        ),
    ]
