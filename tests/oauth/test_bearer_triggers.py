"""The bearer cache is only as good as its triggers (migration 0014): every column a cached bearer check read
must, when it changes, tell every daemon to forget. The columns come from the check's own query text
(`mnwd.oauth.queries.ACCESS_TOKEN_QUERY`), so a column added there without a trigger fails here."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

import mnwd.oauth.bearer
from mnwd.domains import sql_dirs
from mnwd.licensing import validations as license_validations
from mnwd.oauth import bearer_cache
from mnwd.oauth.queries import ACCESS_TOKEN_QUERY
from mnwd.sync import notifier
from tests.db.test_schema_rules import add_app, add_device, add_user
from tests.support.db import MIGRATIONS_DIR

ALIASES = dict(
    (alias, table) for table, alias in re.findall(r"(?:FROM|JOIN)\s+([a-z_]+)\s+([a-z])\b", ACCESS_TOKEN_QUERY)
)
COLUMNS = sorted(
    {(ALIASES[alias], column) for alias, column in re.findall(r"\b([a-z])\.([a-z_]+)\b", ACCESS_TOKEN_QUERY)}
)
# Read by the query for token introspection (`mnwd.oauth.tokens`), never kept in a cached `Bearer`.
NOT_CACHED = {("oauth_access_tokens", "id"): "token_id", ("oauth_access_tokens", "created_at"): "issued_at"}


def test_the_query_text_was_understood() -> None:
    assert ALIASES == {
        "t": "oauth_access_tokens",
        "g": "oauth_grants",
        "a": "sync_apps",
        "u": "users",
        "d": "sync_devices",
    }
    assert len(COLUMNS) >= 20
    assert ("oauth_access_tokens", "token_hash") in COLUMNS  # the WHERE and JOIN columns count too
    assert ("oauth_grants", "device_id") in COLUMNS


def test_columns_left_out_are_really_not_cached() -> None:
    source = Path(mnwd.oauth.bearer.__file__).read_text()
    for column, label in NOT_CACHED.items():
        assert column in COLUMNS
        assert re.search(rf"\bt\.{column[1]} AS {label}\b", ACCESS_TOKEN_QUERY)
        assert f'"{label}"' not in source, f"mnwd/oauth/bearer.py now caches {label}: the trigger must cover it"


@dataclass(frozen=True)
class Rows:
    """A live token and everything it joins; ``others`` hold a second row of each kind to point at."""

    ids: dict[str, uuid.UUID]
    others: dict[str, uuid.UUID]


@pytest.fixture
async def rows(conn: asyncpg.Connection) -> Rows:
    maker, alice, bob = [await add_user(conn, name) for name in ("maker", "alice", "bob")]
    app, other_app = await add_app(conn, maker), await add_app(conn, maker, "tasks")
    device, other_device = await add_device(conn, app, alice), await add_device(conn, app, alice, "phone")
    grants = [
        await conn.fetchval(
            "INSERT INTO oauth_grants (app_id, user_id, device_id, scope) VALUES ($1, $2, $3, 'sync') RETURNING id",
            app,
            alice,
            device,
        )
        for _ in range(2)
    ]
    token = await conn.fetchval(
        """
        INSERT INTO oauth_access_tokens (grant_id, token_hash, expires_at)
        VALUES ($1, $2, now() + interval '1 day') RETURNING id
        """,
        grants[0],
        hashlib.sha256(secrets.token_bytes(16)).digest(),
    )
    await conn.execute("UPDATE users SET display_name = 'Alice' WHERE id = $1", alice)
    return Rows(
        ids={
            "oauth_access_tokens": token,
            "oauth_grants": grants[0],
            "sync_apps": app,
            "users": alice,
            "sync_devices": device,
        },
        others={"oauth_grants": grants[1], "sync_apps": other_app, "users": bob, "sync_devices": other_device},
    )


@pytest.fixture
async def heard(db_url: str, rows: Rows) -> AsyncIterator[asyncio.Queue[str]]:
    """Notifications on the bearer channel from after ``rows`` were made (whose own are not heard)."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db_url)
    await listener.add_listener(bearer_cache.CHANNEL, lambda *args: queue.put_nowait(args[3]))
    try:
        yield queue
    finally:
        await listener.close()


# A column that points at another row is changed to point at the other row of that kind.
POINTS_AT = {
    ("oauth_access_tokens", "grant_id"): "oauth_grants",
    ("oauth_grants", "app_id"): "sync_apps",
    ("oauth_grants", "user_id"): "users",
    ("oauth_grants", "device_id"): "sync_devices",
}
# Otherwise a different value of the column's type that its constraints accept.
CHANGE_BY_TYPE = {
    "uuid": "gen_random_uuid()",
    "timestamp with time zone": "coalesce({c}, now()) - interval '1 hour'",
    "text": "coalesce({c}, '') || 'x'",
    "boolean": "NOT {c}",
    "bytea": "sha256({c})",
}


async def change(conn: asyncpg.Connection, rows: Rows, table: str, column: str) -> None:
    if (table, column) in POINTS_AT:
        value, args = "$2", [rows.others[POINTS_AT[table, column]]]
    else:
        kind = await conn.fetchval(
            "SELECT data_type FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
            table,
            column,
        )
        value, args = CHANGE_BY_TYPE[kind].format(c=column), []
    changed = await conn.execute(f"UPDATE {table} SET {column} = {value} WHERE id = $1", rows.ids[table], *args)
    assert changed == "UPDATE 1"


@pytest.mark.parametrize(
    ("table", "column"),
    [pytest.param(t, c, id=f"{t}.{c}") for t, c in COLUMNS if (t, c) not in NOT_CACHED],
)
async def test_changing_a_column_a_cached_check_read_notifies(
    conn: asyncpg.Connection, rows: Rows, heard: asyncio.Queue[str], table: str, column: str
) -> None:
    try:
        await change(conn, rows, table, column)
    except asyncpg.ForeignKeyViolationError:
        # A key the token's rows point at cannot change while they do, so no cached check can go stale.
        assert column == "id"
        return
    assert await _epoch_heard(conn, heard) > 0


async def _epoch_heard(conn: asyncpg.Connection, heard: asyncio.Queue[str]) -> int:
    """The one notification a change sends carries the bearer epoch it counted, the newest one."""
    epoch = int(await asyncio.wait_for(heard.get(), 5))
    assert epoch == await conn.fetchval("SELECT epoch FROM bearer_epoch")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(heard.get(), 0.05)
    return epoch


@pytest.mark.parametrize("table", sorted(set(ALIASES.values())))
async def test_deleting_a_row_a_cached_check_read_notifies(
    conn: asyncpg.Connection, rows: Rows, heard: asyncio.Queue[str], table: str
) -> None:
    assert await conn.execute(f"DELETE FROM {table} WHERE id = $1", rows.ids[table]) == "DELETE 1"
    assert await _epoch_heard(conn, heard) > 0


async def test_a_transaction_counts_one_epoch_however_many_rows_it_changes(
    conn: asyncpg.Connection, rows: Rows, heard: asyncio.Queue[str]
) -> None:
    before = await conn.fetchval("SELECT epoch FROM bearer_epoch")
    async with conn.transaction():
        await conn.execute("UPDATE oauth_grants SET scope = 'sync profile'")
        await conn.execute("DELETE FROM users WHERE id = $1", rows.others["users"])
    assert await _epoch_heard(conn, heard) == before + 1


async def test_a_rolled_back_change_counts_nothing(
    conn: asyncpg.Connection, rows: Rows, heard: asyncio.Queue[str]
) -> None:
    before = await conn.fetchval("SELECT epoch FROM bearer_epoch")
    changing = conn.transaction()
    await changing.start()
    await conn.execute("UPDATE users SET suspended_at = now() WHERE id = $1", rows.ids["users"])
    await changing.rollback()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(heard.get(), 0.3)
    await conn.execute("UPDATE users SET suspended_at = now() WHERE id = $1", rows.ids["users"])
    assert await _epoch_heard(conn, heard) == before + 1


async def test_epochs_follow_commit_order(
    db_url: str, conn: asyncpg.Connection, rows: Rows, heard: asyncio.Queue[str]
) -> None:
    """Counted at commit, not at the change: the transaction that changed first but commits last gets the
    newer epoch, so a daemon hearing notifications in commit order hears epochs in increasing order."""
    first, second = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        slow = first.transaction()
        await slow.start()
        await first.execute("UPDATE users SET display_name = 'first' WHERE id = $1", rows.ids["users"])
        # Not blocked by the open transaction: the count is taken at commit.
        await asyncio.wait_for(
            second.execute("UPDATE users SET display_name = 'second' WHERE id = $1", rows.others["users"]), 5
        )
        await slow.commit()
    finally:
        await first.close()
        await second.close()
    epochs = [int(await asyncio.wait_for(heard.get(), 5)) for _ in range(2)]
    assert epochs[1] == epochs[0] + 1
    assert await conn.fetchval("SELECT display_name FROM users WHERE id = $1", rows.ids["users"]) == "first"


def sql_texts() -> dict[str, str]:
    files = [*sorted(MIGRATIONS_DIR.glob("*.sql")), *(p for d in sql_dirs() for p in sorted(d.glob("*.sql")))]
    return {str(p): p.read_text() for p in files}


def test_channels_in_sql_are_the_python_constants() -> None:
    """A renamed channel on one side only would leave caches or live streams deaf without any error."""
    literal = re.compile(r"pg_notify\(\s*'([^']*)'")
    channels = {path: set(literal.findall(text)) for path, text in sql_texts().items()}
    bearers_file = next(str(p) for d in sql_dirs() for p in d.glob("mnwd_bearers_changed.sql"))
    assert channels[bearers_file] == {bearer_cache.CHANNEL}
    assert set().union(*channels.values()) <= {bearer_cache.CHANNEL, notifier.CHANNEL, license_validations.CHANNEL}
    # Kept license validations (mnwd/licensing/validations.py) hear their trigger of migration 0037.
    licensing_file = next(path for path in channels if path.endswith("0037_license_comp_claims.sql"))
    assert channels[licensing_file] == {license_validations.CHANNEL}
    # Sync pokes are sent by the daemon after the push's commit, on notifier.CHANNEL (bound in
    # mnwd/sync/domain.py), never from the push's SQL.
    sync_push = next(text for path, text in sql_texts().items() if path.endswith("sync/sql/sync_push.sql"))
    assert "pg_notify(" not in sync_push
    domain = (Path(notifier.__file__).parent / "domain.py").read_text()
    assert re.search(r"functools\.partial\(services\.listen\.notify, CHANNEL\)", domain)
    assert "from mnwd.sync.notifier import CHANNEL" in domain
