"""`mnwd.blobs.references.collect_bytes`: bytes no domain names are deleted; a failing check keeps them, and
``quietly`` turns that failure into a logged line (the clean-up after an answer must not change the answer)."""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import asyncpg
import pytest

from mnwd.blobs.references import collect_bytes, sweep_unreferenced
from mnwd.maintenance import CORE_TASKS, SWEEP_CURSOR, run_task
from mnwd.services import Services
from tests.blobs.streams import stream_of


async def _store(services: Services, data: bytes) -> str:
    info = await services.blobs.put(stream_of(data), max_size=len(data))
    return info.sha256


async def test_collect_bytes_deletes_what_no_check_claims_and_quietly_logs_a_failure(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    sha256 = await _store(services, b"shared bytes")

    async def claims(conn: asyncpg.Connection, sha: str) -> bool:
        return sha == sha256

    async def breaks(conn: asyncpg.Connection, sha: str) -> bool:
        raise RuntimeError("the check failed")

    def holder(*checks: object) -> SimpleNamespace:
        return SimpleNamespace(pool=services.pool, blobs=services.blobs, blob_references=checks, metrics=None)

    assert await collect_bytes(holder(claims), sha256) is False
    assert await services.blobs.exists(sha256)
    with pytest.raises(RuntimeError):
        await collect_bytes(holder(breaks), sha256)
    with caplog.at_level(logging.ERROR, logger="mnwd.blobs.references"):
        assert await collect_bytes(holder(breaks), sha256, quietly=True) is False
    assert "could not collect stored bytes" in caplog.text
    assert await services.blobs.exists(sha256)
    assert await collect_bytes(holder(), sha256) is True
    assert not await services.blobs.exists(sha256)


async def test_the_sweep_deletes_old_bytes_no_row_names_and_keeps_named_and_recent_ones(services: Services) -> None:
    """An app deleted with its OTA artifacts, or an account with its sync blobs: the cascade removes the rows
    and nothing asked for the bytes to go. The hourly sweep finds them; bytes written within the day are
    left alone (their row may be about to be recorded), and so are bytes a row names."""
    orphan = await _store(services, b"left by a cascade")
    named = await _store(services, b"still named by a row")
    recent = await _store(services, b"written a minute ago")
    two_days_ago = time.time() - 2 * 86400
    for sha in (orphan, named):
        path = services.blobs.root / sha[:2] / sha[2:4] / sha  # type: ignore[attr-defined]
        os.utime(path, (two_days_ago, two_days_ago))

    async def names(conn: asyncpg.Connection, sha: str) -> bool:
        return sha == named

    services.blob_references = (*services.blob_references, names)
    (task,) = [t for t in CORE_TASKS if t.name == "blobs.unreferenced"]
    await run_task(services, task)
    assert not await services.blobs.exists(orphan)
    assert await services.blobs.exists(named)
    assert await services.blobs.exists(recent)
    assert services[SWEEP_CURSOR].after == ""  # walked to the end: the next run starts again


async def test_a_sweep_page_continues_from_its_cursor(services: Services) -> None:
    shas = sorted([await _store(services, f"orphan {i}".encode()) for i in range(5)])
    after, deleted = await sweep_unreferenced(services, "", written_before=time.time() + 60, limit=2)
    assert (after, deleted) == (shas[1], 2)
    after, deleted = await sweep_unreferenced(services, after, written_before=time.time() + 60, limit=2)
    assert (after, deleted) == (shas[3], 2)
    assert await sweep_unreferenced(services, after, written_before=time.time() + 60, limit=2) == ("", 1)
    assert [await services.blobs.exists(s) for s in shas] == [False] * 5
