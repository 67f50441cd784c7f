"""Bounded waits for tests: a test that awaits an event set by a task of its own must not wait forever when
that task ends (or fails) without setting it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

WAIT_SECONDS = 30.0


async def until_set(event: asyncio.Event, task: asyncio.Task[Any], within: float = WAIT_SECONDS) -> None:
    """Wait for ``event``; fail at once with the task's own error (or result) if ``task`` ends first, and
    after ``within`` seconds otherwise."""
    waiting = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiting, task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiting.done():
            waiting.cancel()
    if waiting in done:
        return
    if task.done():
        outcome = task.result()  # raises the task's error, if it failed
        pytest.fail(f"the task ended ({outcome!r}) without setting the event")
    pytest.fail(f"the event was not set within {within} s")
