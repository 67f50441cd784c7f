"""Commerce's SQL: sellers' Stripe accounts, transactions, the webhook ledger, promo codes, tiers, subscriptions,
sales figures. Only `mnwd.commerce` imports this module; functions take the connection (or pool) first.

It reads the store's items, projects and bundles to price what is sold and to decide access (bundles grant
their parts), as accounts reads other domains' rows: the schema hangs them off the same tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

__all__ = [
    "ACCESS_SQL",
    "apply_dispute",
    "apply_refund",
    "claim_event",
    "complete_transaction",
    "count_tier_name",
    "expire_subscription_session",
    "fail_transaction",
    "finish_event",
    "get_item_for_sale",
    "get_owned_subscription",
    "get_promo",
    "get_seller",
    "get_subscription_for_event",
    "get_tier_for_sale",
    "get_transaction",
    "get_transaction_for_buyer",
    "grants_item",
    "insert_promo",
    "insert_subscription",
    "insert_tier",
    "insert_transaction",
    "item_needs_license",
    "list_billing_subscriptions_of_project",
    "list_billing_subscriptions_of_user",
    "list_library",
    "list_library_parts",
    "list_open_item_checkouts",
    "list_promos",
    "list_sales",
    "list_seller_items",
    "list_seller_projects",
    "list_subscriptions_of",
    "list_tiers",
    "list_tiers_for_sale",
    "mark_transaction_refunded",
    "owns_item",
    "redeem_promo",
    "sales_by_day",
    "sales_by_item",
    "seller_mrr",
    "set_onboarding",
    "set_stripe_account",
    "set_subscription_session",
    "set_transaction_session",
    "update_subscription_state",
]

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection

# A completed purchase (no dispute open or lost) of the item itself or of a bundle that holds it.
ACCESS_SQL = """
SELECT 1 FROM transactions t
 WHERE t.buyer_id = $1 AND t.grants_access
   AND (t.item_id = $2 OR t.item_id IN (SELECT b.bundle_id FROM bundle_items b WHERE b.item_id = $2))
"""


async def _fetch(conn: Conn, sql: str, *args: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows


# -- sellers ----------------------------------------------------------------------------------------------


async def get_seller(conn: Conn, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, username, email, display_name, stripe_account_id, stripe_onboarding_complete,"
        " can_create_projects, notify_sale FROM users WHERE id = $1",
        user_id,
    )


async def set_stripe_account(conn: Conn, user_id: uuid.UUID, account: str) -> str:
    """The user's account id: ``account`` if they had none, else the one they have (a second click races)."""
    row = await conn.fetchrow(
        "UPDATE users SET stripe_account_id = COALESCE(stripe_account_id, $2) WHERE id = $1"
        " RETURNING stripe_account_id",
        user_id,
        account,
    )
    assert row is not None
    return str(row["stripe_account_id"])


async def set_onboarding(conn: Conn, account: str, complete: bool) -> bool:
    status = await conn.execute(
        "UPDATE users SET stripe_onboarding_complete = $2 WHERE stripe_account_id = $1", account, complete
    )
    return str(status) != "UPDATE 0"


# -- items, access ----------------------------------------------------------------------------------------

SALE_COLUMNS = """
i.id, i.title, i.slug, i.item_type, i.price_cents, i.currency, i.pwyw_enabled, i.pwyw_min_cents,
i.enable_license_keys, i.project_id, p.slug AS project_slug, u.id AS seller_id, u.username AS seller_username,
u.stripe_account_id, u.stripe_onboarding_complete,
(i.is_public AND p.is_public AND u.can_create_projects AND u.suspended_at IS NULL) AS on_sale
"""


async def get_item_for_sale(conn: Conn, item_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {SALE_COLUMNS} FROM items i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id"
        " WHERE i.id = $1",
        item_id,
    )


async def owns_item(conn: Conn, buyer_id: uuid.UUID, item_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(f"SELECT EXISTS ({ACCESS_SQL})", buyer_id, item_id))


async def grants_item(conn: Conn, transaction_id: uuid.UUID, buyer_id: uuid.UUID, item_id: uuid.UUID) -> bool:
    """Does this buyer's transaction still grant this item (itself, or a part of the bundle it bought)?"""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM transactions t WHERE t.id = $1 AND t.buyer_id = $2 AND t.grants_access"
            " AND (t.item_id = $3 OR EXISTS (SELECT 1 FROM bundle_items b WHERE b.bundle_id = t.item_id"
            " AND b.item_id = $3)))",
            transaction_id,
            buyer_id,
            item_id,
        )
    )


async def item_needs_license(conn: Conn, item_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM items WHERE id = $1 AND enable_license_keys)"
            " OR EXISTS (SELECT 1 FROM bundle_items b JOIN items i ON i.id = b.item_id"
            " WHERE b.bundle_id = $1 AND i.enable_license_keys)",
            item_id,
        )
    )


# -- transactions -----------------------------------------------------------------------------------------


async def insert_transaction(
    conn: Conn,
    *,
    buyer_id: uuid.UUID,
    item: asyncpg.Record,
    amount_cents: int,
    promo_code_id: uuid.UUID | None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO transactions (buyer_id, seller_id, item_id, promo_code_id, amount_cents, currency,"
        " item_title, seller_username, stripe_account_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        buyer_id,
        item["seller_id"],
        item["id"],
        promo_code_id,
        amount_cents,
        item["currency"],
        item["title"],
        item["seller_username"],
        item["stripe_account_id"],
    )
    assert row is not None
    return row


async def set_transaction_session(conn: Conn, transaction_id: uuid.UUID, session_id: str) -> None:
    await conn.execute(
        "UPDATE transactions SET stripe_checkout_session_id = $2 WHERE id = $1 AND stripe_checkout_session_id IS NULL",
        transaction_id,
        session_id,
    )


async def get_transaction(conn: Conn, transaction_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM transactions WHERE id = $1", transaction_id)


async def get_transaction_for_buyer(
    conn: Conn, transaction_id: uuid.UUID, buyer_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM transactions WHERE id = $1 AND buyer_id = $2", transaction_id, buyer_id)


async def complete_transaction(
    conn: Conn,
    *,
    session_id: str | None,
    transaction_id: uuid.UUID | None,
    payment_intent: str | None,
) -> asyncpg.Record | None:
    """The one step that fulfils: the row, if this call moved it from pending to completed (else ``None``).

    Found by its Checkout Session, or by our id in the session's metadata when the session id was never saved
    (the daemon stopped between creating the session and saving it)."""
    return await conn.fetchrow(
        "UPDATE transactions SET status = 'completed', completed_at = now(),"
        " stripe_checkout_session_id = COALESCE(stripe_checkout_session_id, $1),"
        " stripe_payment_intent_id = COALESCE($3, stripe_payment_intent_id)"
        " WHERE status = 'pending'"
        " AND (stripe_checkout_session_id = $1 OR (id = $2 AND stripe_checkout_session_id IS NULL))"
        " RETURNING *",
        session_id,
        transaction_id,
        payment_intent,
    )


async def fail_transaction(
    conn: Conn, *, session_id: str | None, transaction_id: uuid.UUID | None, payment_intent: str | None = None
) -> bool:
    """``payment_intent``: a payment that was made but is not kept (a second payment of an owned item), so the
    refund's ``charge.refunded`` finds the row (`apply_refund`)."""
    status = await conn.execute(
        "UPDATE transactions SET status = 'failed', failed_at = now(),"
        " stripe_payment_intent_id = COALESCE($3, stripe_payment_intent_id)"
        " WHERE status = 'pending' AND (stripe_checkout_session_id = $1 OR id = $2)",
        session_id,
        transaction_id,
        payment_intent,
    )
    return str(status) != "UPDATE 0"


async def apply_refund(
    conn: Conn, payment_intent: str, account: str | None, amount_refunded: int, full: bool
) -> asyncpg.Record | None:
    """Record Stripe's refunded total (never lower than what we know); a full refund ends access. A ``failed``
    row with a payment (a duplicate payment, refunded by job) becomes ``refunded`` too, dated by its payment."""
    return await conn.fetchrow(
        "UPDATE transactions SET refunded_cents = GREATEST(refunded_cents, LEAST($2, amount_cents)),"
        " status = CASE WHEN $3 AND status IN ('completed', 'failed') THEN 'refunded' ELSE status END,"
        " completed_at = CASE WHEN $3 AND status = 'failed' THEN COALESCE(completed_at, failed_at)"
        " ELSE completed_at END,"
        " refunded_at = CASE WHEN $3 THEN COALESCE(refunded_at, now()) ELSE refunded_at END"
        " WHERE stripe_payment_intent_id = $1 AND status IN ('completed', 'refunded', 'failed')"
        " AND ($4::text IS NULL OR stripe_account_id = $4) RETURNING *",
        payment_intent,
        amount_refunded,
        full,
        account,
    )


async def mark_transaction_refunded(conn: Conn, transaction_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE transactions SET status = 'refunded', refunded_at = COALESCE(refunded_at, now()),"
        " refunded_cents = amount_cents WHERE id = $1",
        transaction_id,
    )


async def apply_dispute(conn: Conn, payment_intent: str, account: str | None, state: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE transactions SET dispute_status = $2 WHERE stripe_payment_intent_id = $1"
        " AND ($3::text IS NULL OR stripe_account_id = $3) RETURNING *",
        payment_intent,
        state,
        account,
    )


# -- webhook ledger ---------------------------------------------------------------------------------------


async def claim_event(conn: Conn, event: dict[str, Any], payload: str, created: datetime | None) -> uuid.UUID | None:
    """Store the event once: its ledger id, or ``None`` when this event id was stored before (a redelivery).

    A concurrent delivery of the same id waits here for the first one's transaction, then finds the row."""
    found: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO subscription_events (stripe_event_id, event_type, payload, stripe_account_id, livemode,"
        " event_created) VALUES ($1, $2, $3::jsonb, $4, $5, $6)"
        " ON CONFLICT ON CONSTRAINT subscription_events_stripe_event_id_key DO NOTHING RETURNING id",
        event["id"],
        event["type"],
        payload,
        event.get("account"),
        bool(event.get("livemode")),
        created,
    )
    return found


async def finish_event(conn: Conn, ledger_id: uuid.UUID, outcome: str, subscription_id: uuid.UUID | None) -> None:
    await conn.execute(
        "UPDATE subscription_events SET processed_at = now(), outcome = $2,"
        " subscription_id = COALESCE($3, subscription_id) WHERE id = $1",
        ledger_id,
        outcome,
        subscription_id,
    )


# -- promo codes ------------------------------------------------------------------------------------------


async def get_promo(conn: Conn, creator_id: uuid.UUID, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT *, (starts_at IS NULL OR starts_at <= now()) AS started,"
        " (expires_at IS NOT NULL AND expires_at <= now())"
        " AS expired FROM promo_codes WHERE creator_id = $1 AND code = $2",
        creator_id,
        code,
    )


async def redeem_promo(conn: Conn, promo_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE promo_codes SET use_count = use_count + 1 WHERE id = $1 AND (max_uses IS NULL OR use_count < max_uses)",
        promo_id,
    )
    return str(status) != "UPDATE 0"


async def insert_promo(conn: Conn, creator_id: uuid.UUID, values: dict[str, Any]) -> asyncpg.Record:
    columns = ["creator_id", *values]
    placeholders = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO promo_codes ({', '.join(columns)}) VALUES ({placeholders}) RETURNING *",
        creator_id,
        *values.values(),
    )
    assert row is not None
    return row


async def list_promos(conn: Conn, creator_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(conn, "SELECT * FROM promo_codes WHERE creator_id = $1 ORDER BY created_at DESC", creator_id)


# -- tiers and subscriptions ------------------------------------------------------------------------------


async def list_seller_projects(conn: Conn, seller_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(conn, "SELECT id, slug, title FROM projects WHERE user_id = $1 ORDER BY title", seller_id)


async def list_tiers(conn: Conn, seller_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.*, p.slug AS project_slug, p.title AS project_title,"
        " (SELECT count(*) FROM subscriptions s WHERE s.tier_id = t.id AND s.status = 'active') AS subscribers"
        " FROM subscription_tiers t JOIN projects p ON p.id = t.project_id WHERE p.user_id = $1"
        " ORDER BY p.title, t.sort_order, t.price_cents",
        seller_id,
    )


async def count_tier_name(conn: Conn, project_id: uuid.UUID, name: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM subscription_tiers WHERE project_id = $1 AND name = $2", project_id, name
        )
    )


async def insert_tier(conn: Conn, project_id: uuid.UUID, values: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO subscription_tiers (project_id, name, description, price_cents, currency, billing_interval,"
        " stripe_product_id, stripe_price_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
        project_id,
        values["name"],
        values["description"],
        values["price_cents"],
        values["currency"],
        values["billing_interval"],
        values["stripe_product_id"],
        values["stripe_price_id"],
    )
    assert row is not None
    return row


async def get_tier_for_sale(conn: Conn, tier_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT t.*, p.title AS project_title, p.user_id AS seller_id, u.username AS seller_username,"
        " u.stripe_account_id, u.stripe_onboarding_complete,"
        " (t.is_active AND p.is_public AND u.can_create_projects AND u.suspended_at IS NULL) AS on_sale"
        " FROM subscription_tiers t JOIN projects p ON p.id = t.project_id JOIN users u ON u.id = p.user_id"
        " WHERE t.id = $1",
        tier_id,
    )


async def insert_subscription(
    conn: Conn, *, subscriber_id: uuid.UUID, tier: asyncpg.Record, promo_code_id: uuid.UUID | None, amount_cents: int
) -> asyncpg.Record:
    """``amount_cents``: what each period bills (the tier's price, less a discount code's)."""
    row = await conn.fetchrow(
        "INSERT INTO subscriptions (subscriber_id, tier_id, project_id, promo_code_id, stripe_account_id, amount_cents)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        subscriber_id,
        tier["id"],
        tier["project_id"],
        promo_code_id,
        tier["stripe_account_id"],
        amount_cents,
    )
    assert row is not None
    return row


async def set_subscription_session(conn: Conn, subscription_id: uuid.UUID, session_id: str) -> None:
    await conn.execute(
        "UPDATE subscriptions SET stripe_checkout_session_id = $2 WHERE id = $1", subscription_id, session_id
    )


async def get_subscription_for_event(
    conn: Conn, *, subscription_id: uuid.UUID | None, stripe_subscription_id: str | None, session_id: str | None
) -> asyncpg.Record | None:
    """The row an event speaks of, locked for the update (events of one subscription apply one at a time)."""
    return await conn.fetchrow(
        "SELECT * FROM subscriptions WHERE id = $1 OR stripe_subscription_id = $2 OR stripe_checkout_session_id = $3"
        " ORDER BY (id = $1) DESC NULLS LAST LIMIT 1 FOR UPDATE",
        subscription_id,
        stripe_subscription_id,
        session_id,
    )


async def update_subscription_state(conn: Conn, subscription_id: uuid.UUID, state: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE subscriptions SET status = $2, stripe_subscription_id = COALESCE($3, stripe_subscription_id),"
        " stripe_customer_id = COALESCE($4, stripe_customer_id), current_period_start = $5, current_period_end = $6,"
        " trial_ends_at = $7, cancel_at_period_end = $8, canceled_at = $9,"
        " last_event_at = GREATEST(last_event_at, $10) WHERE id = $1 RETURNING *",
        subscription_id,
        state["status"],
        state["stripe_subscription_id"],
        state["stripe_customer_id"],
        state["current_period_start"],
        state["current_period_end"],
        state["trial_ends_at"],
        state["cancel_at_period_end"],
        state["canceled_at"],
        state["event_at"],
    )
    assert row is not None
    return row


async def get_owned_subscription(
    conn: Conn, subscription_id: uuid.UUID, subscriber_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM subscriptions WHERE id = $1 AND subscriber_id = $2", subscription_id, subscriber_id
    )


# Subscriptions that may still charge someone, with the account they are billed on (the creator's connected
# account) and what a mail to the subscriber needs; the caller adds which ones (``AND …``).
BILLING_SUBSCRIPTIONS_SQL = (
    "SELECT s.id, s.status, s.subscriber_id, s.stripe_subscription_id, s.stripe_checkout_session_id,"
    " COALESCE(s.stripe_account_id, c.stripe_account_id) AS stripe_account_id, p.user_id AS creator_id,"
    " p.title AS project_title, t.name AS tier_name, c.username AS creator_username,"
    " b.email AS subscriber_email, b.username AS subscriber_username"
    " FROM subscriptions s JOIN projects p ON p.id = s.project_id JOIN subscription_tiers t ON t.id = s.tier_id"
    " JOIN users c ON c.id = p.user_id JOIN users b ON b.id = s.subscriber_id"
    " WHERE s.status IN ('incomplete', 'active', 'past_due')"
    " AND (s.stripe_subscription_id IS NOT NULL OR s.stripe_checkout_session_id IS NOT NULL)"
)


async def list_billing_subscriptions_of_user(conn: Conn, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The subscriptions that may still charge someone, the user's own and those to the user's projects."""
    return await _fetch(
        conn,
        BILLING_SUBSCRIPTIONS_SQL + " AND (s.subscriber_id = $1 OR p.user_id = $1) ORDER BY s.created_at",
        user_id,
    )


async def list_billing_subscriptions_of_project(conn: Conn, project_id: uuid.UUID) -> list[asyncpg.Record]:
    """The subscriptions to the project's tiers that may still charge someone."""
    return await _fetch(conn, BILLING_SUBSCRIPTIONS_SQL + " AND s.project_id = $1 ORDER BY s.created_at", project_id)


async def list_open_item_checkouts(
    conn: Conn, *, item_id: uuid.UUID | None = None, project_id: uuid.UUID | None = None
) -> list[asyncpg.Record]:
    """Purchases still ``pending`` on a Checkout Session of the item (or of any item of the project), or of a
    bundle that holds it (one: a bundle may hold items of its creator's other projects): the session and the
    account it was opened on. Read before the rows go, while ``bundle_items`` still names the parts."""
    return await _fetch(
        conn,
        "WITH gone AS (SELECT x.id FROM items x WHERE ($1::uuid IS NULL OR x.id = $1)"
        " AND ($2::uuid IS NULL OR x.project_id = $2))"
        " SELECT t.id, t.stripe_checkout_session_id, COALESCE(t.stripe_account_id, u.stripe_account_id)"
        " AS stripe_account_id FROM transactions t JOIN items i ON i.id = t.item_id"
        " JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = p.user_id"
        " WHERE t.status = 'pending' AND t.stripe_checkout_session_id IS NOT NULL"
        " AND (t.item_id IN (SELECT id FROM gone)"
        " OR t.item_id IN (SELECT b.bundle_id FROM bundle_items b WHERE b.item_id IN (SELECT id FROM gone)))"
        " ORDER BY t.created_at",
        item_id,
        project_id,
    )


async def list_subscriptions_of(conn: Conn, subscriber_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT s.*, t.name AS tier_name, t.billing_interval, p.title AS project_title, p.slug AS project_slug,"
        " u.username AS seller_username FROM subscriptions s JOIN subscription_tiers t ON t.id = s.tier_id"
        " JOIN projects p ON p.id = s.project_id JOIN users u ON u.id = p.user_id"
        " WHERE s.subscriber_id = $1 AND s.status <> 'incomplete' ORDER BY s.created_at DESC",
        subscriber_id,
    )


# -- library ----------------------------------------------------------------------------------------------


async def list_library(conn: Conn, buyer_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.*, i.slug AS item_slug, i.item_type, p.slug AS project_slug,"
        " EXISTS (SELECT 1 FROM versions v WHERE v.item_id = t.item_id AND v.is_current) AS has_file"
        " FROM transactions t"
        " LEFT JOIN items i ON i.id = t.item_id LEFT JOIN projects p ON p.id = i.project_id"
        " WHERE t.buyer_id = $1 AND t.status IN ('completed', 'refunded') ORDER BY t.completed_at DESC NULLS LAST",
        buyer_id,
    )


async def list_library_parts(conn: Conn, bundle_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT b.bundle_id, i.id, i.title, i.slug, i.item_type, p.slug AS project_slug, u.username AS owner,"
        " EXISTS (SELECT 1 FROM versions v WHERE v.item_id = i.id AND v.is_current) AS has_file"
        " FROM bundle_items b JOIN items i ON i.id = b.item_id JOIN projects p ON p.id = i.project_id"
        " JOIN users u ON u.id = p.user_id WHERE b.bundle_id = ANY($1::uuid[])"
        " ORDER BY b.bundle_id, b.sort_order, i.title",
        bundle_ids,
    )


# -- sales ------------------------------------------------------------------------------------------------


async def list_sales(conn: Conn, seller_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.*, b.username AS buyer_username, b.email AS buyer_email, pc.code AS promo_code"
        " FROM transactions t JOIN users b ON b.id = t.buyer_id LEFT JOIN promo_codes pc ON pc.id = t.promo_code_id"
        " WHERE t.seller_id = $1 AND t.status IN ('completed', 'refunded') ORDER BY t.completed_at DESC LIMIT $2",
        seller_id,
        limit,
    )


async def sales_by_item(conn: Conn, seller_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.item_title, t.currency, count(*) AS sales, sum(t.amount_cents) AS gross_cents,"
        " sum(t.refunded_cents) AS refunded_cents, count(*) FILTER (WHERE t.dispute_status IS NOT NULL) AS disputes"
        " FROM transactions t WHERE t.seller_id = $1 AND t.status IN ('completed', 'refunded')"
        " GROUP BY t.item_title, t.currency ORDER BY gross_cents DESC",
        seller_id,
    )


async def sales_by_day(conn: Conn, seller_id: uuid.UUID, days: int) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT (t.completed_at AT TIME ZONE 'UTC')::date AS day, t.currency, count(*) AS sales,"
        " sum(t.amount_cents - t.refunded_cents) AS net_cents FROM transactions t"
        " WHERE t.seller_id = $1 AND t.status IN ('completed', 'refunded')"
        " AND t.completed_at > now() - make_interval(days => $2) GROUP BY 1, 2 ORDER BY 1 DESC",
        seller_id,
        days,
    )


async def seller_mrr(conn: Conn, seller_id: uuid.UUID) -> list[asyncpg.Record]:
    """Active subscribers and what they are billed a month: each subscription's own amount (a discount code's
    price, not the tier's), nothing while in a free trial, a twelfth of a yearly amount."""
    return await _fetch(
        conn,
        "SELECT t.currency, count(*) AS subscribers,"
        " sum(CASE WHEN s.trial_ends_at > now() THEN 0"
        " WHEN t.billing_interval = 'year' THEN COALESCE(s.amount_cents, t.price_cents) / 12.0"
        " ELSE COALESCE(s.amount_cents, t.price_cents) END)::bigint AS mrr_cents"
        " FROM subscriptions s JOIN subscription_tiers t ON t.id = s.tier_id JOIN projects p ON p.id = s.project_id"
        " WHERE p.user_id = $1 AND s.status = 'active' GROUP BY t.currency",
        seller_id,
    )


async def list_tiers_for_sale(conn: Conn, username: str) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT t.id, t.name, t.description, t.price_cents, t.currency, t.billing_interval, p.title AS project_title"
        " FROM subscription_tiers t JOIN projects p ON p.id = t.project_id JOIN users u ON u.id = p.user_id"
        " WHERE u.username = $1 AND t.is_active AND t.stripe_price_id IS NOT NULL AND p.is_public"
        " AND u.can_create_projects AND u.suspended_at IS NULL ORDER BY p.title, t.sort_order, t.price_cents",
        username,
    )


async def list_seller_items(conn: Conn, seller_id: uuid.UUID) -> list[asyncpg.Record]:
    return await _fetch(
        conn,
        "SELECT i.id, i.title, p.title AS project_title FROM items i JOIN projects p ON p.id = i.project_id"
        " WHERE p.user_id = $1 ORDER BY p.title, i.title",
        seller_id,
    )


async def expire_subscription_session(conn: Conn, session_id: str) -> uuid.UUID | None:
    """A subscription whose Checkout Session expired unpaid: ``expired`` (only while still ``incomplete``)."""
    found: uuid.UUID | None = await conn.fetchval(
        "UPDATE subscriptions SET status = 'expired' WHERE stripe_checkout_session_id = $1 AND status = 'incomplete'"
        " RETURNING id",
        session_id,
    )
    return found
