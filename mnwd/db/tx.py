"""`run_tx`: the one way the domain layer runs a transaction.

It names the transaction (logs, metrics), retries the whole body on serialization failure or deadlock,
and runs post-commit actions once, after the commit, never on a rolled-back attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from mnwd.metrics import Metrics

__all__ = ["Tx", "run_tx"]

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


class Tx:
    """The connection of one attempt, and the actions to run once it commits."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], Awaitable[object] | object]] = []

    def after_commit(self, action: Callable[[], Awaitable[object] | object]) -> None:
        self._after_commit.append(action)


async def run_tx(
    pool: asyncpg.Pool,
    name: str,
    body: Callable[[Tx], Awaitable[T]],
    *,
    isolation: str = "read_committed",
    attempts: int = 5,
    metrics: Metrics | None = None,
) -> T:
    for attempt in range(1, attempts + 1):
        async with pool.acquire() as conn:
            tx = Tx(conn)
            try:
                async with conn.transaction(isolation=isolation):
                    result = await body(tx)
            except RETRYABLE as exc:
                if metrics is not None:
                    metrics.transactions.labels(name, "retry").inc()
                if attempt == attempts:
                    raise
                log.info("transaction retried", extra={"tx": name, "attempt": attempt, "reason": type(exc).__name__})
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
                continue
            except BaseException:
                if metrics is not None:
                    metrics.transactions.labels(name, "error").inc()
                raise
        if metrics is not None:
            metrics.transactions.labels(name, "commit").inc()
        for action in tx._after_commit:
            try:
                outcome = action()
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:
                log.exception("post-commit action failed", extra={"tx": name})
        return result
    raise AssertionError("unreachable")
