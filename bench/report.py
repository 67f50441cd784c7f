from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    unit: str
    measured: float
    baseline_name: str
    baseline: float
    target: float | None = None
    # For figures where lower is better (latency, memory): the largest acceptable ratio.
    target_max: float | None = None

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("nan")

    @property
    def verdict(self) -> str:
        if self.target is not None:
            return f">= {self.target:.2f}x {'ok' if self.ratio >= self.target else 'MISSED'}"
        if self.target_max is not None:
            return f"<= {self.target_max:.2f}x {'ok' if self.ratio <= self.target_max else 'MISSED'}"
        return ""


def print_table(results: list[Result]) -> None:
    headers = ("benchmark", "mnwd", "baseline", "ratio", "target")
    rows = [
        (
            r.name,
            f"{r.measured:,.0f} {r.unit}",
            f"{r.baseline:,.0f} {r.unit} ({r.baseline_name})",
            f"{r.ratio:.2f}x",
            r.verdict,
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
