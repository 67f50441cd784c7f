"""`mnwd.blobs.references.collect_bytes`: bytes no domain names are deleted; a failing check keeps them, and
``quietly`` turns that failure into a logged line (the clean-up after an answer must not change the answer)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import asyncpg
import pytest

from mnwd.blobs.references import collect_bytes
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
