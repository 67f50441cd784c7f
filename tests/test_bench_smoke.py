"""`make bench` keeps running: every benchmark at tiny sizes (``python -m bench --quick``), checked for its
rows, so a change to mnwd that breaks a benchmark (or its baseline) fails here rather than on the day of a
measurement. The figures themselves mean nothing at these sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mnwd.config import PROJECT_ROOT

ROWS = [
    "GET /healthz",
    "push 100/batch, 20 clients",
    "single-mutation push, 16 clients",
    "one stream, 4 devices, single pushes",
    "pull 3,010 in pages of 1,000",
    "live, poke carries the change, p50",
    "live, pull after poke (2,500 B), p99",
    "SSE idle clients: RSS per client (200)",
    "PostgreSQL connections with 200 SSE",
    "writes on A until in B's store",
    "git clone over SSH",
    "git push over SSH, new repo",
    "GET item page",
    "search 2,000 items, 20 queries, p95",
    "OTA update check, 50 clients",
    "license validate, 50 clients",
    "mail queue to SMTP sink",
    "license validate, nothing kept",
    "blob upload",
    "cold start to first 200 on /readyz",
    "token endpoint, refresh grant",
    "growth: pull, full page",
]


# A minute alone, several beside the rest of the suite on two cores: above the suite's 180 s hang guard.
@pytest.mark.timeout(480)
def test_every_benchmark_runs_at_tiny_sizes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=450,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ROWS:
        assert row in done.stdout, f"{row!r} missing from:\n{done.stdout}"
    assert "nan" not in done.stdout
