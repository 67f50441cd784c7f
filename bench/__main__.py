"""`make bench`: runs every benchmark module and prints one table."""

from __future__ import annotations

import asyncio
import importlib

from bench.report import Result, print_table

MODULES = [
    "bench.http_stack",
    "bench.sync_push",
    "bench.sync_pull",
    "bench.sync_live",
    "bench.sync_scale",
    "bench.sync_sdk",
]


async def main() -> None:
    results: list[Result] = []
    for name in MODULES:
        module = importlib.import_module(name)
        results.extend(await module.run())
    print_table(results)


asyncio.run(main())
