"""How a benchmark run is set up (`Options`, from ``python -m bench`` flags) and how its sides are measured:
in rounds that alternate which side goes first, so that neither always runs on a warmer cache or a quieter
machine."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    # fsync and synchronous_commit off (and full_page_writes): faster, not what production runs.
    fast_unsafe: bool = False
    # Tiny sizes and two rounds: a smoke test that every benchmark still runs, not a measurement (so PostgreSQL
    # runs with fsync off too: see `parse`).
    quick: bool = False
    rounds: int = 5
    # The growth benchmark's 10M-row size too (bench/sync_growth.py): minutes of filling and gigabytes of disk.
    big: bool = False

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @property
    def durability(self) -> str:
        return "fsync off, synchronous_commit off" if self.fast_unsafe else "fsync on, synchronous_commit on"


def parse(argv: Sequence[str]) -> tuple[Options, list[str]]:
    """``[--fast-unsafe] [--quick] [--rounds N] [module …]`` → options and the modules to run (all if none)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="SyncKit benchmarks against baselines")
    parser.add_argument("--fast-unsafe", action="store_true", help="PostgreSQL with fsync and synchronous_commit off")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds, no fsync: checks every bench runs")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per comparison (default 5, quick 2)")
    parser.add_argument("--big", action="store_true", help="sync_growth also at 10M log rows (minutes, GBs of disk)")
    parser.add_argument("modules", nargs="*", help="e.g. sync_push sync_live (default: all)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
    # --quick measures nothing: waiting for fsync there only makes the smoke test (tests/test_bench_smoke.py) slow.
    fast_unsafe = args.fast_unsafe or args.quick
    return Options(fast_unsafe=fast_unsafe, quick=args.quick, rounds=rounds, big=args.big), args.modules


Side = Callable[[], Awaitable[float]]


async def alternate(options: Options, sides: Sequence[Side]) -> list[list[float]]:
    """One sample per side per round; round ``i`` starts with side ``i mod n``."""
    samples: list[list[float]] = [[] for _ in sides]
    for round_ in range(options.rounds):
        for offset in range(len(sides)):
            index = (round_ + offset) % len(sides)
            samples[index].append(await sides[index]())
    return samples
