"""One row per comparison: mnwd's figure and its baseline's, each a list of samples (one per round), shown
as median and min-max; the ratio and the target are taken on the medians."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    unit: str
    measured: Sequence[float]
    baseline_name: str
    baseline: Sequence[float]
    target: float | None = None
    # For figures where lower is better (latency, memory): the largest acceptable ratio.
    target_max: float | None = None

    @property
    def ratio(self) -> float:
        baseline = statistics.median(self.baseline)
        return statistics.median(self.measured) / baseline if baseline else float("nan")

    @property
    def verdict(self) -> str:
        if self.target is not None:
            return f">= {self.target:.2f}x {'ok' if self.ratio >= self.target else 'MISSED'}"
        if self.target_max is not None:
            return f"<= {self.target_max:.2f}x {'ok' if self.ratio <= self.target_max else 'MISSED'}"
        return ""


def spread(samples: Sequence[float]) -> str:
    """``median (min-max)``, or the one value."""
    median = _number(statistics.median(samples))
    if len(samples) == 1:
        return median
    return f"{median} ({_number(min(samples))} to {_number(max(samples))})"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def table(results: Sequence[Result]) -> str:
    headers = ("benchmark", "unit", "mnwd median (min-max)", "baseline median (min-max)", "ratio", "target")
    rows = [
        (r.name, r.unit, spread(r.measured), f"{spread(r.baseline)} {r.baseline_name}", f"{r.ratio:.2f}x", r.verdict)
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in [headers, tuple("-" * w for w in widths), *rows]
    ]
    return "\n".join(lines)


def print_table(results: Sequence[Result]) -> None:
    print(table(results), flush=True)
