"""SQL of the platform domain: invite codes, the waitlist and its waves, the admin audit log, admin views of
users and stats, custom domains. Only `mnwd.platform` imports this module."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# --- invite codes -------------------------------------------------------------------------------------------


async def insert_invite(
    conn: Conn, creator_id: uuid.UUID, code: str, max_uses: int, expires_at: datetime | None, note: str
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO invite_codes (creator_id, code, max_uses, expires_at, note) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id, code, max_uses, uses, expires_at, note, created_at",
        creator_id,
        code,
        max_uses,
        expires_at,
        note,
    )
    return row


async def list_invites(conn: Conn, creator_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """A creator's codes (all codes when ``creator_id`` is None), newest first."""
    return list(
        await conn.fetch(
            "SELECT i.id, i.code, i.max_uses, i.uses, i.expires_at, i.note, i.created_at, u.username AS creator "
            "FROM invite_codes i JOIN users u ON u.id = i.creator_id "
            "WHERE $1::uuid IS NULL OR i.creator_id = $1 ORDER BY i.created_at DESC LIMIT 200",
            creator_id,
        )
    )


async def take_invite_use(conn: Conn, code: str) -> uuid.UUID | None:
    """One use of a live code; None when unknown, expired or used up. The row lock orders concurrent takers and
    each re-reads ``uses`` after the one before it commits, so no more than ``max_uses`` ever succeed."""
    code_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE invite_codes SET uses = uses + 1 "
        "WHERE code = $1 AND uses < max_uses AND (expires_at IS NULL OR expires_at > now()) RETURNING id",
        code,
    )
    return code_id


async def insert_redemption(conn: Conn, code_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute("INSERT INTO invite_redemptions (code_id, user_id) VALUES ($1, $2)", code_id, user_id)


async def lock_user_and_count_invites(conn: Conn, creator_id: uuid.UUID) -> int:
    """The codes a creator has issued, their user row locked first: two requests of one creator count in turn."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", creator_id)
    count: int = await conn.fetchval("SELECT count(*) FROM invite_codes WHERE creator_id = $1", creator_id)
    return count


async def accept_waitlist_place(conn: Conn, user_id: uuid.UUID) -> None:
    """A person let in another way (an invite code) leaves the pending waitlist: no wave takes them later."""
    await conn.execute(
        "UPDATE creator_waitlist SET status = 'accepted' WHERE user_id = $1 AND status = 'pending'", user_id
    )


async def make_creator(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET can_create_projects = true, creator_tier = coalesce(creator_tier, 'basic') WHERE id = $1",
        user_id,
    )


# --- waitlist and waves -------------------------------------------------------------------------------------


async def get_waitlist_entry(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT w.id, w.status, w.pitch, w.portfolio_url, w.invited_at, w.created_at, v.wave_number "
        "FROM creator_waitlist w LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.user_id = $1",
        user_id,
    )


async def insert_waitlist_entry(conn: Conn, user_id: uuid.UUID, pitch: str, portfolio_url: str | None) -> bool:
    """False when the user is on the list already (the UNIQUE user_id decides two requests racing)."""
    created = await conn.fetchval(
        "INSERT INTO creator_waitlist (user_id, pitch, portfolio_url) VALUES ($1, $2, $3) "
        "ON CONFLICT (user_id) DO NOTHING RETURNING true",
        user_id,
        pitch,
        portfolio_url,
    )
    return bool(created)


async def list_waitlist(conn: Conn, status: str, limit: int = 200) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT w.id, w.status, w.pitch, w.portfolio_url, w.invited_at, w.created_at, u.username, u.email, "
            "v.wave_number FROM creator_waitlist w JOIN users u ON u.id = w.user_id "
            "LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.status = $1 ORDER BY w.created_at, w.id LIMIT $2",
            status,
            limit,
        )
    )


async def insert_wave(conn: Conn, capacity: int, name: str) -> asyncpg.Record:
    """The next wave; the table lock makes wave numbers of two admins racing follow each other."""
    await conn.execute("LOCK TABLE creator_waves IN SHARE ROW EXCLUSIVE MODE")
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO creator_waves (wave_number, name, capacity, opens_at) "
        "VALUES ((SELECT coalesce(max(wave_number), 0) + 1 FROM creator_waves), $1, $2, now()) "
        "RETURNING id, wave_number",
        name or None,
        capacity,
    )
    return row


async def invite_waitlisted(
    conn: Conn, wave_id: uuid.UUID, count: int, picked: list[uuid.UUID] | None
) -> list[asyncpg.Record]:
    """Moves up to ``count`` pending people (the oldest, or those ``picked``) into the wave; locked rows another
    wave is taking are skipped, so a person joins one wave only."""
    return list(
        await conn.fetch(
            "WITH chosen AS (SELECT id FROM creator_waitlist WHERE status = 'pending' "
            "  AND ($3::uuid[] IS NULL OR id = ANY($3)) ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
            "UPDATE creator_waitlist w SET status = 'invited', wave_id = $1, invited_at = now() "
            "FROM chosen WHERE w.id = chosen.id RETURNING w.id, w.user_id",
            wave_id,
            count,
            picked,
        )
    )


async def list_waves(conn: Conn) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT v.id, v.wave_number, v.name, v.capacity, v.opens_at, "
            "(SELECT count(*) FROM creator_waitlist w WHERE w.wave_id = v.id) AS invited "
            "FROM creator_waves v ORDER BY v.wave_number DESC LIMIT 100"
        )
    )


async def get_invitation(conn: Conn, waitlist_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT w.status, u.username, u.email, v.wave_number FROM creator_waitlist w "
        "JOIN users u ON u.id = w.user_id LEFT JOIN creator_waves v ON v.id = w.wave_id WHERE w.id = $1",
        waitlist_id,
    )


async def count_waitlist(conn: Conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM creator_waitlist GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


# --- audit log ----------------------------------------------------------------------------------------------


async def insert_audit(
    conn: Conn, admin_id: uuid.UUID, action: str, target_type: str, target_id: str, details: dict[str, Any]
) -> None:
    # clock_timestamp(), not now(): two rows of one transaction (a report's suspension) keep their order.
    await conn.execute(
        "INSERT INTO admin_audit_log (admin_id, admin_username, action, target_type, target_id, details, created_at) "
        "SELECT $1, username, $2, $3, $4, $5::jsonb, clock_timestamp() FROM users WHERE id = $1",
        admin_id,
        action,
        target_type,
        target_id,
        details,
    )


async def list_audit(conn: Conn, limit: int, offset: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, admin_username, action, target_type, target_id, details, created_at "
            "FROM admin_audit_log ORDER BY created_at DESC, id LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
    )


# --- admin: users and stats ---------------------------------------------------------------------------------

USER_COLUMNS = """
    id, username, email, display_name, is_admin, can_create_projects, creator_tier,
    creator_effective_tier(creator_tier, grandfathered_until) AS effective_tier, max_file_override_bytes,
    grandfathered_until, storage_used_bytes, suspended_at, suspension_reason, created_at, last_login_at
"""


async def search_users(conn: Conn, query: str, limit: int) -> list[asyncpg.Record]:
    """Users whose username, email or display name contains ``query`` (LIKE wildcards taken literally)."""
    pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(
        await conn.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE username ILIKE $1 OR email ILIKE $1 OR display_name ILIKE $1 "
            "ORDER BY created_at DESC LIMIT $2",
            pattern,
            limit,
        )
    )


async def get_user(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def get_user_id_by_username(conn: Conn, username: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
    return found


async def suspend_user(conn: Conn, user_id: uuid.UUID, reason: str) -> bool:
    """False when there is no such user or they are suspended already (the first of two admins wins)."""
    return bool(
        await conn.fetchval(
            "UPDATE users SET suspended_at = now(), suspension_reason = $2 "
            "WHERE id = $1 AND suspended_at IS NULL RETURNING true",
            user_id,
            reason,
        )
    )


async def unsuspend_user(conn: Conn, user_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "UPDATE users SET suspended_at = NULL, suspension_reason = NULL "
            "WHERE id = $1 AND suspended_at IS NOT NULL RETURNING true",
            user_id,
        )
    )


async def set_tier(
    conn: Conn, user_id: uuid.UUID, tier: str | None, override: int | None, grandfathered_until: datetime | None
) -> asyncpg.Record | None:
    """The row before the change (for the audit log), or None when there is no such user."""
    before = await conn.fetchrow(
        "SELECT creator_tier, max_file_override_bytes, grandfathered_until FROM users WHERE id = $1 FOR UPDATE",
        user_id,
    )
    if before is not None:
        await conn.execute(
            "UPDATE users SET creator_tier = $2, max_file_override_bytes = $3, grandfathered_until = $4 WHERE id = $1",
            user_id,
            tier,
            override,
            grandfathered_until,
        )
    return before


async def get_totals(conn: Conn) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM users) AS users,
          (SELECT count(*) FROM users WHERE can_create_projects) AS creators,
          (SELECT count(*) FROM users WHERE suspended_at IS NOT NULL) AS suspended,
          (SELECT coalesce(sum(amount_cents), 0) FROM transactions WHERE status = 'completed') AS sales_cents,
          (SELECT count(*) FROM transactions WHERE status = 'completed') AS sales,
          (SELECT coalesce(sum(storage_used_bytes), 0) FROM users) AS storage_bytes,
          (SELECT count(*) FROM sync_apps) AS sync_apps,
          (SELECT count(*) FROM sync_devices) AS sync_devices,
          (SELECT coalesce(sum(size_bytes), 0) FROM sync_blobs) AS sync_blob_bytes,
          (SELECT count(*) FROM git_repos) AS git_repos,
          (SELECT count(*) FROM issues) AS git_issues,
          (SELECT count(*) FROM custom_domains WHERE verified) AS verified_domains
        """
    )
    return row


async def list_daily(conn: Conn, days: int) -> list[asyncpg.Record]:
    """Per UTC day of the last ``days``: sign-ups, sales volume (completed), sync changes; one pass a table."""
    return list(
        await conn.fetch(
            """
            WITH days AS (
              SELECT d::date AS day FROM generate_series(
                (now() AT TIME ZONE 'UTC')::date - ($1 - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
            ), since AS (SELECT (min(day)::timestamp AT TIME ZONE 'UTC') AS t FROM days),
            s AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM users
                  WHERE created_at >= (SELECT t FROM since) GROUP BY 1),
            t AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, sum(amount_cents) AS n FROM transactions
                  WHERE status = 'completed' AND created_at >= (SELECT t FROM since) GROUP BY 1),
            l AS (SELECT (server_time AT TIME ZONE 'UTC')::date AS day, count(*) AS n FROM sync_log
                  WHERE server_time >= (SELECT t FROM since) GROUP BY 1)
            SELECT days.day, coalesce(s.n, 0) AS signups, coalesce(t.n, 0) AS sales_cents,
                   coalesce(l.n, 0) AS sync_changes
            FROM days LEFT JOIN s USING (day) LEFT JOIN t USING (day) LEFT JOIN l USING (day)
            ORDER BY days.day
            """,
            days,
        )
    )


# --- custom domains -----------------------------------------------------------------------------------------

DOMAIN_COLUMNS = """
    d.id, d.user_id, u.username AS owner, d.domain, d.verified, d.verified_at, d.verification_token,
    d.checked_at, d.last_seen, d.failing_since, d.created_at
"""


async def list_domains(conn: Conn, user_id: uuid.UUID | None) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {DOMAIN_COLUMNS} FROM custom_domains d JOIN users u ON u.id = d.user_id "
            "WHERE $1::uuid IS NULL OR d.user_id = $1 ORDER BY d.domain LIMIT 500",
            user_id,
        )
    )


async def get_domain(conn: Conn, domain_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {DOMAIN_COLUMNS} FROM custom_domains d JOIN users u ON u.id = d.user_id WHERE d.id = $1", domain_id
    )


async def claim_domain(conn: Conn, user_id: uuid.UUID, domain: str, token: str) -> uuid.UUID | None:
    """The new row's id; an unverified claim by someone else is replaced (whoever proves the DNS first wins),
    a verified one is kept and None returned. The row's lock (ON CONFLICT) orders two claims racing."""
    found: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO custom_domains (user_id, domain, verification_token) VALUES ($1, $2, $3) "
        "ON CONFLICT (domain) DO UPDATE SET user_id = EXCLUDED.user_id, "
        "  verification_token = EXCLUDED.verification_token, checked_at = NULL, last_seen = '', failing_since = NULL "
        "WHERE NOT custom_domains.verified AND custom_domains.user_id <> EXCLUDED.user_id RETURNING id",
        user_id,
        domain,
        token,
    )
    return found


async def record_check(
    conn: Conn, domain_id: uuid.UUID, token: str, *, passed: bool, seen: str, grace_hours: float
) -> asyncpg.Record | None:
    """Writes a check's outcome, unless the claim changed meanwhile (another token): a pass verifies; a failure
    of a verified domain starts (or continues) its grace period, and unverifies it once that is over."""
    return await conn.fetchrow(
        """
        UPDATE custom_domains SET checked_at = now(), last_seen = $3,
          verified = CASE WHEN $4 THEN true
                          WHEN verified AND coalesce(failing_since, now()) > now() - make_interval(secs => $5 * 3600)
                          THEN true ELSE false END,
          failing_since = CASE WHEN $4 THEN NULL
                 WHEN verified AND coalesce(failing_since, now()) > now() - make_interval(secs => $5 * 3600)
                 THEN coalesce(failing_since, now()) ELSE NULL END,
          verified_at = CASE WHEN $4 THEN coalesce(verified_at, now())
                             WHEN verified AND coalesce(failing_since, now()) > now() - make_interval(secs => $5 * 3600)
                             THEN verified_at ELSE NULL END
        WHERE id = $1 AND verification_token = $2
        RETURNING verified, failing_since
        """,
        domain_id,
        token,
        seen,
        passed,
        grace_hours,
    )


async def delete_domain(conn: Conn, domain_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "DELETE FROM custom_domains WHERE id = $1 AND user_id = $2 RETURNING true", domain_id, user_id
        )
    )


async def list_domains_to_recheck(conn: Conn, recheck_hours: float, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT id, domain, verification_token FROM custom_domains WHERE verified "
            "AND (checked_at IS NULL OR checked_at < now() - make_interval(secs => $1 * 3600)) "
            "ORDER BY checked_at NULLS FIRST LIMIT $2",
            recheck_hours,
            limit,
        )
    )


async def get_verified_domain_owner(conn: Conn, domain: str) -> str | None:
    """The username a verified domain serves (its owner neither suspended nor gone), or None."""
    found: str | None = await conn.fetchval(
        "SELECT u.username FROM custom_domains d JOIN users u ON u.id = d.user_id "
        "WHERE d.domain = $1 AND d.verified AND u.suspended_at IS NULL",
        domain,
    )
    return found


# --- billing: creator tiers and Fan+ on the platform's Stripe account -------------------------------------------

# The two tables of the platform's subscriptions; a name in SQL only ever comes from this mapping.
SUBSCRIPTION_TABLES = {"creator_tier": "creator_subscriptions", "fan_plus": "fan_plus_subscriptions"}


async def get_platform_price(conn: Conn, plan: str, amount_cents: int, interval: str) -> str | None:
    price: str | None = await conn.fetchval(
        "SELECT stripe_price_id FROM platform_prices "
        "WHERE plan = $1 AND amount_cents = $2 AND currency = 'usd' AND billing_interval = $3",
        plan,
        amount_cents,
        interval,
    )
    return price


async def insert_platform_price(
    conn: Conn, price_id: str, product_id: str, plan: str, amount_cents: int, interval: str
) -> None:
    """A Price made by a concurrent request for the same plan and amount wins; this one goes unused."""
    await conn.execute(
        "INSERT INTO platform_prices (stripe_price_id, stripe_product_id, plan, amount_cents, billing_interval) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT ON CONSTRAINT platform_prices_one_per_amount DO NOTHING",
        price_id,
        product_id,
        plan,
        amount_cents,
        interval,
    )


async def get_plan_of_price(conn: Conn, price_id: str) -> str | None:
    plan: str | None = await conn.fetchval("SELECT plan FROM platform_prices WHERE stripe_price_id = $1", price_id)
    return plan


async def get_platform_subscription(conn: Conn, kind: str, user_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {SUBSCRIPTION_TABLES[kind]} WHERE user_id = $1",
        user_id,
    )
    return row


async def list_billing_subscriptions_of_user(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The user's platform subscriptions that may still charge them (a live one, or a checkout under way)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT 'creator_tier' AS kind, stripe_subscription_id, stripe_checkout_session_id FROM creator_subscriptions"
        " WHERE user_id = $1 AND status IN ('incomplete', 'active', 'past_due')"
        " UNION ALL SELECT 'fan_plus', stripe_subscription_id, stripe_checkout_session_id FROM fan_plus_subscriptions"
        " WHERE user_id = $1 AND status IN ('incomplete', 'active', 'past_due')",
        user_id,
    )
    return rows


async def start_platform_subscription(conn: Conn, kind: str, user_id: uuid.UUID, tier: str | None) -> uuid.UUID | None:
    """The row a new checkout fills: made, or taken over from one that never started or ended; ``None`` while the
    user has a live subscription (``active`` or ``past_due``)."""
    table = SUBSCRIPTION_TABLES[kind]
    tier_column, tier_value = (", tier", ", $2") if kind == "creator_tier" else ("", "")
    tier_update = ", tier = EXCLUDED.tier" if kind == "creator_tier" else ""
    grace = ", past_due_since = NULL, grace_enforced_at = NULL" if kind == "creator_tier" else ""
    args: list[Any] = [user_id, tier] if kind == "creator_tier" else [user_id]
    found: uuid.UUID | None = await conn.fetchval(
        f"INSERT INTO {table} (user_id{tier_column}) VALUES ($1{tier_value}) "
        f"ON CONFLICT ON CONSTRAINT {table}_user_id_key DO UPDATE SET status = 'incomplete', "
        f"stripe_subscription_id = NULL, current_period_end = NULL, cancel_at_period_end = false{tier_update}{grace} "
        f"WHERE {table}.status IN ('incomplete', 'canceled', 'expired') RETURNING id",
        *args,
    )
    return found


async def set_platform_checkout_session(conn: Conn, kind: str, row_id: uuid.UUID, session_id: str) -> None:
    await conn.execute(
        f"UPDATE {SUBSCRIPTION_TABLES[kind]} SET stripe_checkout_session_id = $2 WHERE id = $1",
        row_id,
        session_id,
    )


async def lock_platform_subscription(
    conn: Conn, kind: str, *, row_id: uuid.UUID | None, stripe_subscription_id: str | None, session_id: str | None
) -> asyncpg.Record | None:
    """The row an event is about, locked (``FOR UPDATE``) until the event's transaction ends: by our id (the
    metadata), else the Stripe subscription, else the Checkout Session."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM {SUBSCRIPTION_TABLES[kind]} "
        "WHERE id = $1 OR stripe_subscription_id = $2 OR stripe_checkout_session_id = $3 "
        "ORDER BY (id = $1) DESC NULLS LAST, (stripe_subscription_id = $2) DESC NULLS LAST LIMIT 1 FOR UPDATE",
        row_id,
        stripe_subscription_id,
        session_id,
    )
    return row


async def update_platform_subscription(
    conn: Conn, kind: str, row_id: uuid.UUID, state: dict[str, Any]
) -> asyncpg.Record:
    """Stripe's state of the subscription onto its row. A creator's ``past_due_since`` starts at the first
    ``past_due`` and is cleared, with ``grace_enforced_at``, by any other status."""
    table = SUBSCRIPTION_TABLES[kind]
    extra = ""
    args: list[Any] = [
        row_id,
        state["status"],
        state["stripe_subscription_id"],
        state["stripe_customer_id"],
        state["current_period_end"],
        state["cancel_at_period_end"],
    ]
    if kind == "creator_tier":
        extra = (
            ", tier = $7, past_due_since = CASE WHEN $2 = 'past_due' THEN coalesce(past_due_since, now()) END, "
            "grace_enforced_at = CASE WHEN $2 = 'past_due' THEN grace_enforced_at END"
        )
        args.append(state["tier"])
    row: asyncpg.Record = await conn.fetchrow(
        f"UPDATE {table} SET status = $2, stripe_subscription_id = $3, "
        f"stripe_customer_id = coalesce($4, stripe_customer_id), current_period_end = $5, "
        f"cancel_at_period_end = $6{extra} WHERE id = $1 RETURNING *",
        *args,
    )
    return row


async def set_creator_tier(conn: Conn, user_id: uuid.UUID, tier: str) -> None:
    await conn.execute("UPDATE users SET creator_tier = $2 WHERE id = $1", user_id, tier)


async def enforce_billing_grace(conn: Conn, grace_seconds: float) -> list[asyncpg.Record]:
    """Creators past due for longer than the grace period: their rows marked, their tier back to basic, in one
    statement (a payment recovering meanwhile holds the row lock first and clears ``past_due_since``). Returns
    ``(id, user_id, tier, past_due_since, email, username)`` of each."""
    return list(
        await conn.fetch(
            "WITH lapsed AS ("
            " UPDATE creator_subscriptions SET grace_enforced_at = now() "
            " WHERE status = 'past_due' AND grace_enforced_at IS NULL "
            " AND past_due_since <= now() - make_interval(secs => $1) "
            " RETURNING id, user_id, tier, past_due_since) "
            "UPDATE users SET creator_tier = 'basic' FROM lapsed WHERE users.id = lapsed.user_id "
            "RETURNING lapsed.id, lapsed.user_id, lapsed.tier, lapsed.past_due_since, users.email, users.username",
            grace_seconds,
        )
    )


async def is_fan_plus_supporter(conn: Conn, user_id: uuid.UUID) -> bool:
    """The same rule as the supporters' list: a live Fan+ subscription (``active`` or ``past_due``)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM fan_plus_subscriptions WHERE user_id = $1 AND status IN ('active', 'past_due'))",
        user_id,
    )
    return found


async def list_fan_plus_supporters(conn: Conn, limit: int) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT u.username, coalesce(u.display_name, u.username) AS name, f.created_at "
            "FROM fan_plus_subscriptions f JOIN users u ON u.id = f.user_id "
            "WHERE f.status IN ('active', 'past_due') AND u.suspended_at IS NULL "
            "ORDER BY f.created_at LIMIT $1",
            limit,
        )
    )


async def get_tier_of(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    """A user's own tier and the one their limits come from (grandfathering counted)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT coalesce(creator_tier, 'basic') AS tier, grandfathered_until, "
        "creator_effective_tier(creator_tier, grandfathered_until) AS effective_tier FROM users WHERE id = $1",
        user_id,
    )
    return row
