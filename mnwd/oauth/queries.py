"""SQL of the OAuth domain. Functions take a pool or connection first."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# Read on the LISTEN connection at each connection (`mnwd.oauth.bearer_cache`, migration 0040).
BEARER_EPOCH = "SELECT epoch FROM bearer_epoch"


async def get_consent_scope(conn: Conn, user_id: uuid.UUID, app_id: uuid.UUID) -> str | None:
    scope: str | None = await conn.fetchval(
        "SELECT scope FROM oauth_consents WHERE user_id = $1 AND app_id = $2", user_id, app_id
    )
    return scope


async def upsert_consent(conn: Conn, user_id: uuid.UUID, app_id: uuid.UUID, scope: str) -> None:
    await conn.execute(
        """
        INSERT INTO oauth_consents (user_id, app_id, scope) VALUES ($1, $2, $3)
        ON CONFLICT (user_id, app_id) DO UPDATE SET scope = EXCLUDED.scope
        """,
        user_id,
        app_id,
        scope,
    )


async def insert_code(
    conn: Conn,
    *,
    app_id: uuid.UUID,
    user_id: uuid.UUID,
    code_hash: bytes,
    code_challenge: str,
    redirect_uri: str,
    scope: str,
    lifetime_seconds: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO oauth_authorization_codes
            (app_id, user_id, code_hash, code_challenge, redirect_uri, scope, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
        """,
        app_id,
        user_id,
        code_hash,
        code_challenge,
        redirect_uri,
        scope,
        float(lifetime_seconds),
    )


async def redeem_code(
    conn: Conn, *, code_hash: bytes, app_id: uuid.UUID, redirect_uri: str, code_challenge: str
) -> asyncpg.Record | None:
    """Mark the code used if everything matches; the single UPDATE makes a second redemption impossible."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        UPDATE oauth_authorization_codes SET used_at = now()
        WHERE code_hash = $1 AND app_id = $2 AND redirect_uri = $3 AND code_challenge = $4
          AND used_at IS NULL AND expires_at > now()
        RETURNING id, user_id, scope
        """,
        code_hash,
        app_id,
        redirect_uri,
        code_challenge,
    )
    return row


async def get_code_state(conn: Conn, code_hash: bytes) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT id, app_id, redirect_uri, code_challenge, used_at, expires_at <= now() AS expired
        FROM oauth_authorization_codes WHERE code_hash = $1
        """,
        code_hash,
    )
    return row


async def revoke_grants_of_code(conn: Conn, code_id: uuid.UUID, reason: str) -> int:
    status: str = await conn.execute(
        "UPDATE oauth_grants SET revoked_at = now(), revoke_reason = $2 WHERE code_id = $1 AND revoked_at IS NULL",
        code_id,
        reason,
    )
    return int(status.split()[-1])


async def insert_grant(
    conn: Conn, *, app_id: uuid.UUID, user_id: uuid.UUID, code_id: uuid.UUID | None, scope: str
) -> uuid.UUID:
    grant_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO oauth_grants (app_id, user_id, code_id, scope) VALUES ($1, $2, $3, $4) RETURNING id",
        app_id,
        user_id,
        code_id,
        scope,
    )
    return grant_id


async def insert_access_token(conn: Conn, grant_id: uuid.UUID, token_hash: bytes, lifetime_seconds: int) -> None:
    await conn.execute(
        """
        INSERT INTO oauth_access_tokens (grant_id, token_hash, expires_at)
        VALUES ($1, $2, now() + make_interval(secs => $3))
        """,
        grant_id,
        token_hash,
        float(lifetime_seconds),
    )


async def insert_refresh_token(conn: Conn, grant_id: uuid.UUID, token_hash: bytes, lifetime_seconds: int) -> None:
    await conn.execute(
        """
        INSERT INTO oauth_refresh_tokens (grant_id, token_hash, expires_at)
        VALUES ($1, $2, now() + make_interval(secs => $3))
        """,
        grant_id,
        token_hash,
        float(lifetime_seconds),
    )


async def use_refresh_token(conn: Conn, token_hash: bytes, app_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        UPDATE oauth_refresh_tokens r SET used_at = now()
        FROM oauth_grants g
        WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
          AND g.id = r.grant_id AND g.revoked_at IS NULL AND g.app_id = $2
        RETURNING g.id AS grant_id, g.user_id, g.scope
        """,
        token_hash,
        app_id,
    )
    return row


async def get_refresh_token_state(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT r.grant_id, r.used_at, r.expires_at <= now() AS expired, g.app_id, g.revoked_at
        FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id
        WHERE r.token_hash = $1
        """,
        token_hash,
    )
    return row


async def revoke_grant(conn: Conn, grant_id: uuid.UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE oauth_grants SET revoked_at = now(), revoke_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
        grant_id,
        reason,
    )


async def revoke_access_token(conn: Conn, token_hash: bytes, app_id: uuid.UUID) -> None:
    await conn.execute(
        """
        UPDATE oauth_access_tokens t SET revoked_at = now()
        FROM oauth_grants g
        WHERE t.token_hash = $1 AND g.id = t.grant_id AND g.app_id = $2 AND t.revoked_at IS NULL
        """,
        token_hash,
        app_id,
    )


async def get_grant_of_refresh_token(conn: Conn, token_hash: bytes, app_id: uuid.UUID) -> uuid.UUID | None:
    grant_id: uuid.UUID | None = await conn.fetchval(
        """
        SELECT r.grant_id FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id
        WHERE r.token_hash = $1 AND g.app_id = $2
        """,
        token_hash,
        app_id,
    )
    return grant_id


BEARER_COLUMNS = """
    t.id AS token_id, t.expires_at, t.created_at AS issued_at, t.revoked_at AS token_revoked_at,
    g.id AS grant_id, g.scope, g.device_id, g.revoked_at AS grant_revoked_at,
    a.id AS app_id, a.is_active, a.name AS app_name,
    u.id AS user_id, u.username, u.display_name, u.suspended_at,
    d.revoked_at AS device_revoked_at
"""


# Cached bearer checks rely on every column this reads: a change to any of them must fire the bearer-cache
# triggers (migration 0014); tests/oauth/test_bearer_triggers.py derives the columns from this text.
ACCESS_TOKEN_QUERY = f"""
SELECT {BEARER_COLUMNS}, t.expires_at <= now() AS expired
FROM oauth_access_tokens t
JOIN oauth_grants g ON g.id = t.grant_id
JOIN sync_apps a ON a.id = g.app_id
JOIN users u ON u.id = g.user_id
LEFT JOIN sync_devices d ON d.id = g.device_id
WHERE t.token_hash = $1
"""


async def get_access_token(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """Everything a bearer check needs, in one query."""
    row: asyncpg.Record | None = await conn.fetchrow(ACCESS_TOKEN_QUERY, token_hash)
    return row


async def list_authorized_apps(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT a.id, a.name, a.slug, u.username AS creator_username, c.scope, c.created_at AS consented_at,
               (SELECT max(g.created_at) FROM oauth_grants g
                 WHERE g.app_id = a.id AND g.user_id = $1 AND g.revoked_at IS NULL) AS last_authorized_at
        FROM oauth_consents c
        JOIN sync_apps a ON a.id = c.app_id
        JOIN users u ON u.id = a.creator_id
        WHERE c.user_id = $1
        ORDER BY a.name
        """,
        user_id,
    )
    return rows


async def revoke_app_access(conn: Conn, user_id: uuid.UUID, app_id: uuid.UUID) -> bool:
    """Forget the consent, delete the codes not yet redeemed, and revoke the grants; True if there was a
    consent. Codes go first: a redemption committing meanwhile is then waited for and its grant revoked."""
    status: str = await conn.execute("DELETE FROM oauth_consents WHERE user_id = $1 AND app_id = $2", user_id, app_id)
    await conn.execute(
        "DELETE FROM oauth_authorization_codes WHERE user_id = $1 AND app_id = $2 AND used_at IS NULL",
        user_id,
        app_id,
    )
    await conn.execute(
        """
        UPDATE oauth_grants SET revoked_at = now(), revoke_reason = 'revoked by user'
        WHERE user_id = $1 AND app_id = $2 AND revoked_at IS NULL
        """,
        user_id,
        app_id,
    )
    return status != "DELETE 0"


async def bind_grant_device(conn: Conn, grant_id: uuid.UUID, device_id: uuid.UUID) -> bool:
    """Tie a grant to a device once; False when it already belongs to another device."""
    bound: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE oauth_grants SET device_id = $2
        WHERE id = $1 AND (device_id IS NULL OR device_id = $2)
        RETURNING id
        """,
        grant_id,
        device_id,
    )
    return bound is not None
