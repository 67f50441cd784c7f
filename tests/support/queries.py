"""Counting the SQL statements the server sends: ``query_count`` pins a hot path's round trips."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

import mnwd.db.pool
from mnwd.services import Services
from mnwd.sync.notifier import CHANNEL, NOTIFIER, poke_prefix


class QueryCount:
    """Every statement sent on a connection of the test's pools (``services.pool``, ``pool``), while counting.

    asyncpg reports each statement (a ``BEGIN`` and a ``COMMIT`` too) to its query loggers; type
    introspection, which happens once per connection, is not reported, so counts do not depend on which
    pool connection serves a request.

        async with query_count() as statements:
            await api.push([...])
        assert len(statements) == 4, statements
    """

    def __init__(self) -> None:
        self._statements: list[str] | None = None

    def log(self, record: asyncpg.connection.LoggedQuery) -> None:
        if self._statements is not None:
            self._statements.append(record.query)

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[list[str]]:
        # asyncpg calls loggers with loop.call_soon: one turn of the loop delivers what came before.
        await asyncio.sleep(0)
        statements: list[str] = []
        self._statements = statements
        try:
            yield statements
        finally:
            await asyncio.sleep(0)
            self._statements = None


@pytest.fixture
def query_count(monkeypatch: pytest.MonkeyPatch) -> QueryCount:
    """Set up before the pools (the ``pool`` and ``services`` fixtures ask for it first when a test uses it):
    every connection they open reports its statements here."""
    counter = QueryCount()
    init = mnwd.db.pool.init_connection

    async def init_and_count(conn: asyncpg.Connection) -> None:
        await init(conn)
        conn.add_query_logger(counter.log)

    # create_pool looks init_connection up when it is called, so every pool made from now on uses this.
    monkeypatch.setattr(mnwd.db.pool, "init_connection", init_and_count)
    return counter


async def notifications_heard(services: Services) -> None:
    """Wait until the LISTEN connection has heard every notification committed so far.

    A notification arrives a moment after its commit; one to the bearer cache (a device bound to a grant, say)
    empties it then, and the next request checks its token again. PostgreSQL delivers notifications in commit
    order, so when one sent now comes back, every earlier one has been heard.
    """
    app_id, user_id = uuid.uuid4(), uuid.uuid4()
    async with services[NOTIFIER].watch(app_id, user_id) as watch:
        await services.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{poke_prefix(app_id, user_id)}0")
        assert await watch.wait(5), "the notification sent did not come back"
