"""The schema's rules exercised with real rows: cascades, RESTRICT, SET NULL, unique and partial-unique
indexes, CHECK constraints, the updated_at trigger, full-text search and the sync_log sequence.

Every test runs in a transaction that is rolled back (``tx_conn``), but the two that need what a
transaction hides: a DEFERRABLE constraint checked at commit, and a sequence, which rollback does not
restore; those get a fresh database (``conn``). The CHECK table asserts each violation names its
constraint: the code maps constraint names to user-facing errors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest

OLD = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


async def add_user(conn: asyncpg.Connection, username: str, email: str | None = None) -> UUID:
    return await conn.fetchval(
        "INSERT INTO users (username, email) VALUES ($1, $2) RETURNING id", username, email or f"{username}@example.org"
    )


async def add_project(conn: asyncpg.Connection, user_id: UUID, slug: str = "songs") -> UUID:
    return await conn.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, $2, 'Songs', 'music') RETURNING id",
        user_id,
        slug,
    )


async def add_item(
    conn: asyncpg.Connection,
    project_id: UUID,
    slug: str = "track",
    *,
    item_type: str = "audio",
    body: str | None = None,
) -> UUID:
    return await conn.fetchval(
        "INSERT INTO items (project_id, title, slug, item_type, body)"
        " VALUES ($1, initcap($2), $2, $3, $4) RETURNING id",
        project_id,
        slug,
        item_type,
        body,
    )


async def add_tier(conn: asyncpg.Connection, project_id: UUID, name: str = "Supporter") -> UUID:
    return await conn.fetchval(
        "INSERT INTO subscription_tiers (project_id, name, price_cents) VALUES ($1, $2, 500) RETURNING id",
        project_id,
        name,
    )


async def add_subscription(
    conn: asyncpg.Connection, subscriber_id: UUID, tier_id: UUID, project_id: UUID, status: str = "active"
) -> UUID:
    return await conn.fetchval(
        "INSERT INTO subscriptions (subscriber_id, tier_id, project_id, status) VALUES ($1, $2, $3, $4) RETURNING id",
        subscriber_id,
        tier_id,
        project_id,
        status,
    )


async def add_purchase(
    conn: asyncpg.Connection, buyer_id: UUID, seller_id: UUID, item_id: UUID, status: str = "completed"
) -> UUID:
    return await conn.fetchval(
        """INSERT INTO transactions (buyer_id, seller_id, item_id, amount_cents, status, item_title, seller_username)
           VALUES ($1, $2, $3, 900, $4, 'Track', 'alice') RETURNING id""",
        buyer_id,
        seller_id,
        item_id,
        status,
    )


async def add_app(conn: asyncpg.Connection, creator_id: UUID, slug: str = "notes") -> UUID:
    return await conn.fetchval(
        """INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix)
           VALUES ($1, initcap($2), $2, $3, 'mnw_' || left($2, 4)) RETURNING id""",
        creator_id,
        slug,
        sha256(slug),
    )


async def add_device(conn: asyncpg.Connection, app_id: UUID, user_id: UUID, name: str = "laptop") -> UUID:
    return await conn.fetchval(
        "INSERT INTO sync_devices (app_id, user_id, device_name, platform) VALUES ($1, $2, $3, 'linux') RETURNING id",
        app_id,
        user_id,
        name,
    )


async def add_change(
    conn: asyncpg.Connection, app_id: UUID, user_id: UUID, device_id: UUID | None, mutation_id: int | None
) -> int:
    return await conn.fetchval(
        """INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id, data,
                                 client_timestamp)
           VALUES ($1, $2, $3, $4, 'notes', 'INSERT', gen_random_uuid()::text, $5, now()) RETURNING seq""",
        app_id,
        user_id,
        device_id,
        mutation_id,
        {"text": "hello"},
    )


async def add_repo(conn: asyncpg.Connection, user_id: UUID, name: str = "notes") -> UUID:
    return await conn.fetchval("INSERT INTO git_repos (user_id, name) VALUES ($1, $2) RETURNING id", user_id, name)


async def add_release(conn: asyncpg.Connection, app_id: UUID, version: str = "1.0.0") -> UUID:
    return await conn.fetchval(
        "INSERT INTO ota_releases (app_id, version, is_published) VALUES ($1, $2, true) RETURNING id", app_id, version
    )


async def add_artifact(conn: asyncpg.Connection, release_id: UUID, bundle_type: str) -> UUID:
    return await conn.fetchval(
        """INSERT INTO ota_artifacts (release_id, target, arch, bundle_type, s3_key, file_size, signature, sha256)
           VALUES ($1, 'linux', 'x86_64', $2, 'ota/' || $2, 1024, 'c2ln', $3) RETURNING id""",
        release_id,
        bundle_type,
        hashlib.sha256(bundle_type.encode()).hexdigest(),
    )


@dataclass(frozen=True)
class World:
    """One row of each kind the CHECK cases hang new rows on. alice creates; bob buys and syncs."""

    alice: UUID
    bob: UUID
    project: UUID
    item: UUID
    tier: UUID
    app: UUID
    device: UUID
    repo: UUID
    issue: UUID
    release: UUID
    build_config: UUID
    insertion: UUID
    mailing_list: UUID
    tag: UUID
    license_key: UUID
    collection: UUID


async def build_world(conn: asyncpg.Connection) -> World:
    alice = await add_user(conn, "alice")
    bob = await add_user(conn, "bob")
    project = await add_project(conn, alice)
    item = await add_item(conn, project)
    app = await add_app(conn, alice)
    repo = await add_repo(conn, alice)
    release = await add_release(conn, app)
    return World(
        alice=alice,
        bob=bob,
        project=project,
        item=item,
        tier=await add_tier(conn, project),
        app=app,
        device=await add_device(conn, app, bob),
        repo=repo,
        issue=await conn.fetchval(
            "INSERT INTO issues (repo_id, number, author_user_id, title) VALUES ($1, 1, $2, 'Crash') RETURNING id",
            repo,
            bob,
        ),
        release=release,
        build_config=await conn.fetchval(
            """INSERT INTO ota_build_configs (app_id, repo_id, build_command, artifact_path)
               VALUES ($1, $2, 'make dist', 'dist/') RETURNING id""",
            app,
            repo,
        ),
        insertion=await conn.fetchval(
            """INSERT INTO content_insertions (user_id, title, storage_key, duration_ms, file_size)
               VALUES ($1, 'Intro', 'insertions/intro.opus', 4000, 32000) RETURNING id""",
            alice,
        ),
        mailing_list=await conn.fetchval(
            "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, 'content', 'Releases') RETURNING id",
            project,
        ),
        tag=await conn.fetchval("INSERT INTO tags (name, slug, path) VALUES ('Music', 'music', 'music') RETURNING id"),
        license_key=await conn.fetchval(
            "INSERT INTO license_keys (item_id, owner_id, key_code, key_hash)"
            " VALUES ($1, $2, 'KEY-0001', sha256('KEY-0001')) RETURNING id",
            item,
            bob,
        ),
        collection=await conn.fetchval(
            "INSERT INTO collections (user_id, title, slug) VALUES ($1, 'Favourites', 'favourites') RETURNING id", bob
        ),
    )


SHORT_HASH = "decode(repeat('ab', 16), 'hex')"
FULL_HASH = "decode(repeat('ab', 32), 'hex')"
CHALLENGE = "'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'"
FINGERPRINT = "'SHA256:" + "A" * 43 + "'"
HEX64 = "'" + "0" * 64 + "'"
ARTIFACT = "INSERT INTO ota_artifacts (release_id, target, arch, s3_key, file_size, sha256, bundle_type, signature)"
PROMO = (
    "INSERT INTO promo_codes (creator_id, code, code_purpose, discount_type, discount_value, trial_days, max_uses,"
    " use_count, item_id, project_id, tier_id, starts_at, expires_at)"
)
PROMO_DEFAULTS = {
    "code": "'SUMMER'",
    "purpose": "'discount'",
    "type": "'percent'",
    "value": "20",
    "days": "NULL",
    "max": "NULL",
    "count": "0",
    "item": "NULL",
    "project": "NULL",
    "tier": "NULL",
    "starts": "NULL",
    "expires": "NULL",
}


def promo(**overrides: str) -> str:
    v = PROMO_DEFAULTS | overrides
    return (
        f"{PROMO} VALUES ($1, {v['code']}, {v['purpose']}, {v['type']}, {v['value']}, {v['days']}, {v['max']},"
        f" {v['count']}, {v['item']}, {v['project']}, {v['tier']}, {v['starts']}, {v['expires']})"
    )


def bad(constraint: str, sql: str, *args: str, note: str = "") -> Any:
    return pytest.param(constraint, sql, args, id=f"{constraint}-{note}" if note else constraint)


def good(sql: str, *args: str, note: str) -> Any:
    return pytest.param(sql, args, id=note)


CHECK_VIOLATIONS = [
    # users
    bad("users_username_format", "INSERT INTO users (username, email) VALUES ('Carol', 'c@x.org')", note="upper"),
    bad("users_username_format", "INSERT INTO users (username, email) VALUES ('c', 'c@x.org')", note="short"),
    bad("users_username_format", "INSERT INTO users (username, email) VALUES ('-carol', 'c@x.org')", note="dash"),
    bad("users_username_format", "INSERT INTO users (username, email) VALUES ('carol.x', 'c@x.org')", note="dot"),
    bad(
        "users_username_format",
        "INSERT INTO users (username, email) VALUES (repeat('c', 40), 'c@x.org')",
        note="long",
    ),
    bad("users_email_format", "INSERT INTO users (username, email) VALUES ('carol', 'carol.example.org')"),
    bad(
        "users_creator_tier_check",
        "INSERT INTO users (username, email, creator_tier) VALUES ('carol', 'c@x.org', 'gold')",
    ),
    bad(
        "users_failed_login_attempts_check",
        "INSERT INTO users (username, email, failed_login_attempts) VALUES ('carol', 'c@x.org', -1)",
    ),
    bad(
        "users_storage_used_bytes_check",
        "INSERT INTO users (username, email, storage_used_bytes) VALUES ('carol', 'c@x.org', -1)",
    ),
    bad(
        "users_max_file_override_bytes_check",
        "INSERT INTO users (username, email, max_file_override_bytes) VALUES ('carol', 'c@x.org', 0)",
    ),
    bad(
        "users_totp_last_used_step_check",
        "INSERT INTO users (username, email, totp_last_used_step) VALUES ('carol', 'c@x.org', -1)",
    ),
    *(
        bad(
            f"{table}_token_hash_sha256",
            f"INSERT INTO {table} (grant_id, token_hash, expires_at) "
            "VALUES (gen_random_uuid(), '\\x00', now() + interval '1 hour')",
        )
        for table in ("oauth_access_tokens", "oauth_refresh_tokens")
    ),
    *(
        bad(
            f"{table}_expires_after_created",
            f"INSERT INTO {table} (grant_id, token_hash, expires_at) "
            "VALUES (gen_random_uuid(), sha256('x'), now() - interval '1 hour')",
        )
        for table in ("oauth_access_tokens", "oauth_refresh_tokens")
    ),
    bad(
        "sync_horizons_horizon_seq_check",
        "INSERT INTO sync_horizons (app_id, user_id, horizon_seq) VALUES (gen_random_uuid(), gen_random_uuid(), -1)",
    ),
    bad("rate_limits_hits_check", "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ('b', now(), 0)"),
    bad("rate_limits_bucket_not_empty", "INSERT INTO rate_limits (bucket, window_start) VALUES ('', now())"),
    bad(
        "users_totp_enabled_needs_secret",
        "INSERT INTO users (username, email, totp_enabled) VALUES ('carol', 'c@x.org', true)",
    ),
    # accounts
    bad(
        "user_passkeys_credential_id_not_empty",
        "INSERT INTO user_passkeys (user_id, credential_id, credential_json) VALUES ($1, ''::bytea, '{}')",
        "alice",
    ),
    bad(
        "user_passkeys_sign_count_check",
        "INSERT INTO user_passkeys (user_id, credential_id, credential_json, sign_count)"
        " VALUES ($1, '\\x01', '{}', -1)",
        "alice",
    ),
    bad(
        "login_tokens_token_hash_sha256",
        f"INSERT INTO login_tokens (user_id, token_hash, expires_at) VALUES ($1, {SHORT_HASH}, now() + interval '1h')",
        "alice",
    ),
    bad(
        "login_tokens_purpose_check",
        "INSERT INTO login_tokens (user_id, token_hash, purpose, expires_at)"
        f" VALUES ($1, {FULL_HASH}, 'magic', now() + interval '1h')",
        "alice",
    ),
    bad(
        "login_tokens_expires_after_created",
        f"INSERT INTO login_tokens (user_id, token_hash, expires_at) VALUES ($1, {FULL_HASH}, now())",
        "alice",
    ),
    bad(
        "login_tokens_new_email_for_change_only",
        "INSERT INTO login_tokens (user_id, token_hash, purpose, expires_at)"
        f" VALUES ($1, {FULL_HASH}, 'change_email', now() + interval '1h')",
        "alice",
    ),
    bad(
        "user_sessions_signed_in_by_check",
        "INSERT INTO user_sessions (user_id, token_hash, expires_at, signed_in_by)"
        f" VALUES ($1, {FULL_HASH}, now() + interval '1d', 'magic')",
        "alice",
    ),
    bad(
        "user_sessions_token_hash_sha256",
        f"INSERT INTO user_sessions (user_id, token_hash, expires_at) VALUES ($1, {SHORT_HASH}, now() + interval '1d')",
        "alice",
    ),
    bad(
        "user_sessions_expires_after_created",
        f"INSERT INTO user_sessions (user_id, token_hash, expires_at) VALUES ($1, {FULL_HASH}, now())",
        "alice",
    ),
    bad("backup_codes_code_hash_not_empty", "INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, '')", "alice"),
    *(
        bad(
            f"personal_access_tokens_{constraint}",
            f"INSERT INTO personal_access_tokens (user_id, name, token_hash, scopes, expires_at) VALUES ($1, {values})",
            "alice",
        )
        for constraint, values in (
            ("token_hash_sha256", f"'t', {SHORT_HASH}, ARRAY['user:read'], NULL"),
            ("name_length", f"'', {FULL_HASH}, ARRAY['user:read'], NULL"),
            ("scopes_not_empty", f"'t', {FULL_HASH}, ARRAY[]::text[], NULL"),
            ("expires_after_created", f"'t', {FULL_HASH}, ARRAY['user:read'], now()"),
        )
    ),
    bad("web_sessions_id_not_empty", "INSERT INTO web_sessions (id, expiry_date) VALUES ('', now())"),
    bad(
        "web_sessions_data_is_object",
        "INSERT INTO web_sessions (id, data, expiry_date) VALUES ('s1', '[]'::jsonb, now())",
    ),
    # content
    bad(
        "project_categories_slug_format",
        "INSERT INTO project_categories (slug, name) VALUES ('Sci Fi', 'Sci-fi')",
    ),
    bad(
        "projects_slug_format",
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, 'My Songs', 'S', 'music')",
        "alice",
    ),
    bad(
        "projects_title_not_blank",
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, 'other', '  ', 'music')",
        "alice",
    ),
    bad(
        "projects_project_type_check",
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, 'other', 'S', 'cooking')",
        "alice",
    ),
    *(
        bad(
            constraint,
            f"INSERT INTO items (project_id, title, slug, item_type, {column})"
            f" VALUES ($1, 'T', 'x', 'article', {value})",
            "project",
        )
        for constraint, column, value in [
            ("items_price_cents_check", "price_cents", "-1"),
            ("items_currency_format", "currency", "'USD'"),
            ("items_pwyw_min_cents_check", "pwyw_min_cents", "-1"),
            ("items_word_count_check", "word_count", "-1"),
            ("items_reading_time_minutes_check", "reading_time_minutes", "-1"),
            ("items_duration_seconds_check", "duration_seconds", "-0.5"),
            ("items_video_duration_seconds_check", "video_duration_seconds", "-0.5"),
            ("items_license_max_activations_check", "license_max_activations", "0"),
            ("items_sales_count_check", "sales_count", "-1"),
            ("items_play_count_check", "play_count", "-1"),
            ("items_download_count_check", "download_count", "-1"),
        ]
    ),
    bad(
        "items_item_type_check",
        "INSERT INTO items (project_id, title, slug, item_type) VALUES ($1, 'T', 'x', 'recipe')",
        "project",
    ),
    bad(
        "items_slug_format",
        "INSERT INTO items (project_id, title, slug, item_type) VALUES ($1, 'T', 'a/b', 'article')",
        "project",
    ),
    bad(
        "items_title_not_blank",
        "INSERT INTO items (project_id, title, slug, item_type) VALUES ($1, '', 'x', 'article')",
        "project",
    ),
    bad(
        "versions_file_size_bytes_check",
        "INSERT INTO versions (item_id, version_number, file_size_bytes) VALUES ($1, '1.0', -1)",
        "item",
    ),
    bad(
        "versions_sha256_format",
        "INSERT INTO versions (item_id, version_number, sha256) VALUES ($1, '1.0', 'ABC')",
        "item",
    ),
    bad(
        "versions_download_count_check",
        "INSERT INTO versions (item_id, version_number, download_count) VALUES ($1, '1.0', -1)",
        "item",
    ),
    bad(
        "versions_version_number_not_blank",
        "INSERT INTO versions (item_id, version_number) VALUES ($1, ' ')",
        "item",
    ),
    bad(
        "chapters_start_seconds_check",
        "INSERT INTO chapters (item_id, title, start_seconds) VALUES ($1, 'Intro', -1)",
        "item",
    ),
    bad(
        "content_insertions_media_type_check",
        "INSERT INTO content_insertions (user_id, title, media_type, storage_key, duration_ms, file_size)"
        " VALUES ($1, 'Ad', 'image', 'k', 1, 1)",
        "alice",
    ),
    bad(
        "content_insertions_duration_ms_check",
        "INSERT INTO content_insertions (user_id, title, storage_key, duration_ms, file_size)"
        " VALUES ($1, 'Ad', 'k', -1, 1)",
        "alice",
    ),
    bad(
        "content_insertions_file_size_check",
        "INSERT INTO content_insertions (user_id, title, storage_key, duration_ms, file_size)"
        " VALUES ($1, 'Ad', 'k', 1, -1)",
        "alice",
    ),
    bad(
        "content_insertion_placements_position_check",
        "INSERT INTO content_insertion_placements (item_id, insertion_id, position) VALUES ($1, $2, 'end_roll')",
        "item",
        "insertion",
    ),
    bad(
        "content_insertion_placements_offset_ms_check",
        "INSERT INTO content_insertion_placements (item_id, insertion_id, position, offset_ms)"
        " VALUES ($1, $2, 'mid_roll', -1)",
        "item",
        "insertion",
    ),
    bad(
        "content_insertion_placements_offset_only_mid_roll",
        "INSERT INTO content_insertion_placements (item_id, insertion_id, position, offset_ms)"
        " VALUES ($1, $2, 'pre_roll', 5000)",
        "item",
        "insertion",
    ),
    bad(
        "item_sections_slug_format",
        "INSERT INTO item_sections (item_id, title, slug) VALUES ($1, 'Steps', 'Steps')",
        "item",
    ),
    bad("bundle_items_not_self", "INSERT INTO bundle_items (bundle_id, item_id) VALUES ($1, $1)", "item"),
    # taxonomy
    bad(
        "tags_slug_format",
        "INSERT INTO tags (name, slug, path) VALUES ('Rock', repeat('r', 101), repeat('r', 101))",
        note="long",
    ),
    bad("tags_name_not_blank", "INSERT INTO tags (name, slug, path) VALUES (' ', 'rock', 'rock')"),
    bad(
        "tags_path_format",
        "INSERT INTO tags (parent_id, name, slug, path) VALUES ($1, 'Rock', 'rock', 'music..rock')",
        "tag",
    ),
    bad("tags_path_ends_with_slug", "INSERT INTO tags (name, slug, path) VALUES ('Rock', 'rock', 'roll')"),
    bad(
        "tags_root_iff_single_segment",
        "INSERT INTO tags (name, slug, path) VALUES ('Jazz', 'jazz', 'music.jazz')",
        note="root",
    ),
    bad(
        "tags_root_iff_single_segment",
        "INSERT INTO tags (parent_id, name, slug, path) VALUES ($1, 'Jazz', 'jazz', 'jazz')",
        "tag",
        note="child",
    ),
    bad(
        "tags_not_own_parent",
        "INSERT INTO tags (id, parent_id, name, slug, path)"
        " VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001',"
        " 'Loop', 'loop', 'loop.loop')",
    ),
    bad(
        "labels_slug_format",
        "INSERT INTO labels (slug, display_name, definition) VALUES ('DRM free', 'DRM-free', 'No DRM')",
    ),
    # commerce
    *(
        bad(
            constraint,
            "INSERT INTO transactions (buyer_id, seller_id, item_id, item_title, seller_username,"
            f" amount_cents, platform_fee_cents, currency, status) VALUES ($1, $2, $3, 'Track', 'alice', {values})",
            "bob",
            "alice",
            "item",
        )
        for constraint, values in [
            ("transactions_amount_cents_check", "-1, 0, 'usd', 'pending'"),
            ("transactions_platform_fee_cents_check", "500, -1, 'usd', 'pending'"),
            ("transactions_platform_fee_within_amount", "500, 600, 'usd', 'pending'"),
            ("transactions_currency_format", "500, 0, 'dollars', 'pending'"),
            ("transactions_status_check", "500, 0, 'usd', 'paid'"),
        ]
    ),
    bad(
        "subscription_tiers_price_cents_check",
        "INSERT INTO subscription_tiers (project_id, name, price_cents) VALUES ($1, 'Patron', -1)",
        "project",
    ),
    bad(
        "subscription_tiers_name_not_blank",
        "INSERT INTO subscription_tiers (project_id, name, price_cents) VALUES ($1, '', 100)",
        "project",
    ),
    bad(
        "subscription_tiers_currency_format",
        "INSERT INTO subscription_tiers (project_id, name, price_cents, currency) VALUES ($1, 'Patron', 100, 'EUR')",
        "project",
    ),
    bad(
        "subscription_tiers_billing_interval_check",
        "INSERT INTO subscription_tiers (project_id, name, price_cents, billing_interval)"
        " VALUES ($1, 'Patron', 100, 'week')",
        "project",
    ),
    bad(
        "subscriptions_status_check",
        "INSERT INTO subscriptions (subscriber_id, tier_id, project_id, status) VALUES ($1, $2, $3, 'trialing')",
        "bob",
        "tier",
        "project",
    ),
    bad(
        "subscriptions_period_order",
        "INSERT INTO subscriptions (subscriber_id, tier_id, project_id, current_period_start, current_period_end)"
        " VALUES ($1, $2, $3, now(), now() - interval '1 day')",
        "bob",
        "tier",
        "project",
    ),
    bad("promo_codes_code_format", promo(code="'summer'"), "alice", note="lowercase"),
    bad("promo_codes_code_format", promo(code="'AB'"), "alice", note="short"),
    bad("promo_codes_code_purpose_check", promo(purpose="'bogus'", type="NULL", value="NULL"), "alice"),
    bad("promo_codes_discount_type_check", promo(type="'bogo'"), "alice"),
    bad("promo_codes_discount_fields", promo(type="NULL"), "alice", note="discount-without-type"),
    bad("promo_codes_discount_fields", promo(value="NULL"), "alice", note="discount-without-value"),
    bad("promo_codes_discount_fields", promo(value="0"), "alice", note="discount-zero"),
    bad("promo_codes_discount_fields", promo(type="'fixed'", value="-100"), "alice", note="fixed-negative"),
    bad("promo_codes_discount_fields", promo(value="101"), "alice", note="percent-over-100"),
    bad("promo_codes_discount_fields", promo(purpose="'free_access'"), "alice", note="free-access-with-discount"),
    bad(
        "promo_codes_discount_fields",
        promo(purpose="'free_trial'", days="7"),
        "alice",
        note="free-trial-with-discount",
    ),
    bad(
        "promo_codes_trial_fields",
        promo(purpose="'free_trial'", type="NULL", value="NULL"),
        "alice",
        note="trial-without-days",
    ),
    bad(
        "promo_codes_trial_fields",
        promo(purpose="'free_trial'", type="NULL", value="NULL", days="0"),
        "alice",
        note="trial-zero-days",
    ),
    bad(
        "promo_codes_trial_fields",
        promo(purpose="'free_trial'", type="NULL", value="NULL", days="400"),
        "alice",
        note="trial-over-a-year",
    ),
    bad("promo_codes_trial_fields", promo(days="7"), "alice", note="discount-with-days"),
    bad(
        "promo_codes_trial_fields",
        promo(purpose="'free_access'", type="NULL", value="NULL", days="7"),
        "alice",
        note="free-access-with-days",
    ),
    bad(
        "promo_codes_free_trial_not_for_items",
        promo(purpose="'free_trial'", type="NULL", value="NULL", days="7", item="$2"),
        "alice",
        "item",
    ),
    bad("promo_codes_single_target", promo(item="$2", project="$3"), "alice", "item", "project"),
    bad("promo_codes_max_uses_check", promo(max="0"), "alice"),
    bad("promo_codes_use_count_check", promo(count="-1"), "alice"),
    bad("promo_codes_use_count_within_max", promo(max="3", count="4"), "alice"),
    bad("promo_codes_window_order", promo(starts="now()", expires="now() - interval '1 day'"), "alice"),
    bad(
        "license_keys_max_activations_check",
        "INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, max_activations)"
        " VALUES ($1, $2, 'K-2', sha256('K-2'), 0)",
        "item",
        "bob",
    ),
    bad(
        "license_keys_activation_count_check",
        "INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, activation_count)"
        " VALUES ($1, $2, 'K-2', sha256('K-2'), -1)",
        "item",
        "bob",
    ),
    bad(
        "license_keys_activation_count_within_max",
        "INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, max_activations, activation_count)"
        " VALUES ($1, $2, 'K-2', sha256('K-2'), 3, 4)",
        "item",
        "bob",
    ),
    bad(
        "license_activations_machine_id_not_blank",
        "INSERT INTO license_activations (license_key_id, machine_id) VALUES ($1, ' ')",
        "license_key",
    ),
    bad(
        "creator_subscriptions_tier_check",
        "INSERT INTO creator_subscriptions (user_id, tier) VALUES ($1, 'platinum')",
        "alice",
    ),
    bad(
        "creator_subscriptions_status_check",
        "INSERT INTO creator_subscriptions (user_id, tier, status) VALUES ($1, 'basic', 'trialing')",
        "alice",
    ),
    bad(
        "fan_plus_subscriptions_status_check",
        "INSERT INTO fan_plus_subscriptions (user_id, status) VALUES ($1, 'paused')",
        "bob",
    ),
    # email and social
    bad(
        "mailing_lists_list_type_check",
        "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, 'news', 'News')",
        "project",
    ),
    bad(
        "mailing_list_subscribers_user_or_email",
        "INSERT INTO mailing_list_subscribers (list_id) VALUES ($1)",
        "mailing_list",
    ),
    bad(
        "mailing_list_subscribers_email_format",
        "INSERT INTO mailing_list_subscribers (list_id, email) VALUES ($1, 'nobody')",
        "mailing_list",
    ),
    bad(
        "email_suppressions_reason_check",
        "INSERT INTO email_suppressions (email, reason) VALUES ('a@x.org', 'SoftBounce')",
    ),
    bad("email_signups_email_format", "INSERT INTO email_signups (email) VALUES ('a at x.org')"),
    bad(
        "follows_target_type_check",
        "INSERT INTO follows (follower_id, target_type, target_id) VALUES ($1, 'item', $2)",
        "bob",
        "item",
    ),
    bad(
        "follows_not_self",
        "INSERT INTO follows (follower_id, target_type, target_id) VALUES ($1, 'user', $1)",
        "bob",
    ),
    bad(
        "blog_posts_slug_format",
        "INSERT INTO blog_posts (project_id, author_id, title, slug) VALUES ($1, $2, 'Hi', 'Hello World')",
        "project",
        "alice",
    ),
    bad(
        "blog_posts_title_not_blank",
        "INSERT INTO blog_posts (project_id, author_id, title, slug) VALUES ($1, $2, '', 'hello')",
        "project",
        "alice",
    ),
    bad(
        "custom_links_url_scheme",
        "INSERT INTO custom_links (user_id, title, url) VALUES ($1, 'x', 'javascript:alert(1)')",
        "alice",
    ),
    bad(
        "collections_slug_format",
        "INSERT INTO collections (user_id, title, slug) VALUES ($1, 'Later', 'Read Later')",
        "bob",
    ),
    bad(
        "collection_items_position_check",
        "INSERT INTO collection_items (collection_id, item_id, position) VALUES ($1, $2, -1)",
        "collection",
        "item",
    ),
    # sync
    bad(
        "sync_apps_api_key_hash_sha256",
        f"INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix)"
        f" VALUES ($1, 'Go', 'go', {SHORT_HASH}, 'mnw_go')",
        "alice",
    ),
    bad(
        "sync_apps_slug_format",
        f"INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix)"
        f" VALUES ($1, 'Go', 'Go App', {FULL_HASH}, 'mnw_go')",
        "alice",
    ),
    bad(
        "sync_apps_name_not_blank",
        f"INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix)"
        f" VALUES ($1, ' ', 'go', {FULL_HASH}, 'mnw_go')",
        "alice",
    ),
    bad(
        "sync_apps_ota_key_pair",
        f"INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix, ota_public_key)"
        f" VALUES ($1, 'Go', 'go', {FULL_HASH}, 'mnw_go', 'RWQ...')",
        "alice",
    ),
    bad(
        "sync_devices_last_mutation_id_check",
        "INSERT INTO sync_devices (app_id, user_id, device_name, last_mutation_id) VALUES ($1, $2, 'phone', -1)",
        "app",
        "bob",
    ),
    bad(
        "sync_devices_device_name_not_blank",
        "INSERT INTO sync_devices (app_id, user_id, device_name) VALUES ($1, $2, '')",
        "app",
        "bob",
    ),
    bad(
        "sync_keys_key_version_check",
        "INSERT INTO sync_keys (app_id, user_id, key_version, encrypted_key) VALUES ($1, $2, 0, 'wrapped')",
        "app",
        "bob",
    ),
    bad(
        "sync_keys_encrypted_key_not_empty",
        "INSERT INTO sync_keys (app_id, user_id, encrypted_key) VALUES ($1, $2, '')",
        "app",
        "bob",
    ),
    *(
        bad(
            constraint,
            "INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id)"
            f" VALUES ($1, $2, {values})",
            "app",
            "bob",
            "device",
        )
        for constraint, values in [
            ("sync_log_operation_check", "$3, 1, 'notes', 'UPSERT', 'r1'"),
            ("sync_log_table_name_not_blank", "$3, 1, ' ', 'INSERT', 'r1'"),
            ("sync_log_row_id_not_blank", "$3, 1, 'notes', 'INSERT', ''"),
            ("sync_log_mutation_id_check", "$3, 0, 'notes', 'INSERT', 'r1'"),
        ]
    ),
    bad(
        "sync_log_mutation_needs_device",
        "INSERT INTO sync_log (app_id, user_id, mutation_id, table_name, operation, row_id)"
        " VALUES ($1, $2, 1, 'notes', 'INSERT', 'r1')",
        "app",
        "bob",
    ),
    bad(
        "sync_blobs_hash_sha256",
        "INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes) VALUES ($1, $2, 'abc', 'k', 1)",
        "app",
        "bob",
    ),
    bad(
        "sync_blobs_size_bytes_check",
        f"INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes) VALUES ($1, $2, {HEX64}, 'k', -1)",
        "app",
        "bob",
    ),
    # git
    bad("git_repos_name_format", "INSERT INTO git_repos (user_id, name) VALUES ($1, 'site.git')", "alice", note="git"),
    bad("git_repos_name_format", "INSERT INTO git_repos (user_id, name) VALUES ($1, '..')", "alice", note="dots"),
    bad("git_repos_name_format", "INSERT INTO git_repos (user_id, name) VALUES ($1, 'a/b')", "alice", note="slash"),
    bad(
        "git_repos_default_branch_not_blank",
        "INSERT INTO git_repos (user_id, name, default_branch) VALUES ($1, 'site', '')",
        "alice",
    ),
    bad(
        "git_repos_next_issue_number_check",
        "INSERT INTO git_repos (user_id, name, next_issue_number) VALUES ($1, 'site', 0)",
        "alice",
    ),
    bad(
        "git_repos_size_bytes_check",
        "INSERT INTO git_repos (user_id, name, size_bytes) VALUES ($1, 'site', -1)",
        "alice",
    ),
    bad(
        "ssh_keys_fingerprint_format",
        "INSERT INTO ssh_keys (user_id, title, public_key, fingerprint)"
        " VALUES ($1, 'laptop', 'ssh-ed25519 AAAA', 'MD5:aa')",
        "alice",
    ),
    bad(
        "ssh_keys_public_key_not_blank",
        f"INSERT INTO ssh_keys (user_id, title, public_key, fingerprint) VALUES ($1, 'laptop', ' ', {FINGERPRINT})",
        "alice",
    ),
    bad(
        "issues_number_check",
        "INSERT INTO issues (repo_id, number, author_user_id, title) VALUES ($1, 0, $2, 'Bug')",
        "repo",
        "bob",
    ),
    bad(
        "issues_title_not_blank",
        "INSERT INTO issues (repo_id, number, author_user_id, title) VALUES ($1, 2, $2, ' ')",
        "repo",
        "bob",
    ),
    bad(
        "issues_status_check",
        "INSERT INTO issues (repo_id, number, author_user_id, title, status) VALUES ($1, 2, $2, 'Bug', 'wontfix')",
        "repo",
        "bob",
    ),
    bad(
        "issues_closed_at_matches_status",
        "INSERT INTO issues (repo_id, number, author_user_id, title, status) VALUES ($1, 2, $2, 'Bug', 'closed')",
        "repo",
        "bob",
    ),
    bad(
        "issue_comments_body_not_blank",
        "INSERT INTO issue_comments (issue_id, author_user_id, body) VALUES ($1, $2, '')",
        "issue",
        "alice",
    ),
    bad(
        "issue_labels_color_format",
        "INSERT INTO issue_labels (repo_id, name, color) VALUES ($1, 'bug', 'red')",
        "repo",
    ),
    bad(
        "issue_labels_name_not_blank",
        "INSERT INTO issue_labels (repo_id, name) VALUES ($1, ' ')",
        "repo",
    ),
    # ota
    *(
        bad(
            "ota_releases_version_semver",
            f"INSERT INTO ota_releases (app_id, version) VALUES ($1, '{version}')",
            "app",
            note=version,
        )
        for version in ["v1.2.3", "1.2", "01.2.3", "1.2.3-", "1.2.3+"]
    ),
    bad(
        "ota_releases_channel_format",
        "INSERT INTO ota_releases (app_id, version, channel) VALUES ($1, '2.0.0', 'Beta')",
        "app",
    ),
    *(
        bad(constraint, f"{ARTIFACT} VALUES ($1, {values})", "release")
        for constraint, values in [
            ("ota_artifacts_bundle_type_check", f"'darwin', 'aarch64', 'k', 1, {HEX64}, 'dmg', 'sig'"),
            ("ota_artifacts_file_size_check", f"'linux', 'x86_64', 'k', -1, {HEX64}, '', 'sig'"),
            ("ota_artifacts_sha256_format", "'linux', 'x86_64', 'k', 1, 'abc', '', 'sig'"),
            ("ota_artifacts_target_format", f"'Linux', 'x86_64', 'k', 1, {HEX64}, '', 'sig'"),
            ("ota_artifacts_arch_format", f"'linux', 'x86-64', 'k', 1, {HEX64}, '', 'sig'"),
            ("ota_artifacts_signature_not_empty", f"'linux', 'x86_64', 'k', 1, {HEX64}, '', ''"),
        ]
    ),
    bad(
        "ota_build_configs_build_command_not_blank",
        "INSERT INTO ota_build_configs (app_id, repo_id, build_command, artifact_path) VALUES ($1, $2, ' ', 'dist/')",
        "app",
        "repo",
    ),
    bad(
        "ota_build_configs_artifact_path_not_blank",
        "INSERT INTO ota_build_configs (app_id, repo_id, build_command, artifact_path) VALUES ($1, $2, 'make', '')",
        "app",
        "repo",
    ),
    *(
        bad(
            constraint,
            f"INSERT INTO ota_builds (config_id, ref_name, status, commit_sha, started_at, finished_at)"
            f" VALUES ($1, 'refs/heads/main', {values})",
            "build_config",
        )
        for constraint, values in [
            ("ota_builds_status_check", "'queued', repeat('a', 40), NULL, NULL"),
            ("ota_builds_commit_sha_format", "'pending', 'abc123', NULL, NULL"),
            ("ota_builds_finished_after_started", "'failed', repeat('a', 40), now(), now() - interval '1 minute'"),
        ]
    ),
    # platform
    *(
        bad(
            constraint,
            f"INSERT INTO custom_domains (user_id, domain, verified, verified_at, verification_token)"
            f" VALUES ($1, {values})",
            "alice",
            note=note,
        )
        for constraint, values, note in [
            ("custom_domains_domain_format", "'Music.Example.COM', false, NULL, 't0k3n'", "upper"),
            ("custom_domains_domain_format", "'localhost', false, NULL, 't0k3n'", "single-label"),
            ("custom_domains_domain_format", "'-bad.example.com', false, NULL, 't0k3n'", "leading-dash"),
            ("custom_domains_verified_at_matches", "'music.example.com', true, NULL, 't0k3n'", ""),
            ("custom_domains_verification_token_not_blank", "'music.example.com', false, NULL, ''", ""),
        ]
    ),
    *(
        bad(
            constraint,
            "INSERT INTO oauth_authorization_codes (app_id, user_id, code_hash, code_challenge, code_challenge_method,"
            f" redirect_uri, expires_at) VALUES ($1, $2, {values})",
            "app",
            "bob",
        )
        for constraint, values in [
            (
                "oauth_authorization_codes_code_hash_sha256",
                f"{SHORT_HASH}, {CHALLENGE}, 'S256', 'http://127.0.0.1/cb', now() + interval '5 minutes'",
            ),
            (
                "oauth_authorization_codes_code_challenge_format",
                f"{FULL_HASH}, 'short', 'S256', 'http://127.0.0.1/cb', now() + interval '5 minutes'",
            ),
            (
                "oauth_authorization_codes_code_challenge_method_check",
                f"{FULL_HASH}, {CHALLENGE}, 'plain', 'http://127.0.0.1/cb', now() + interval '5 minutes'",
            ),
            (
                "oauth_authorization_codes_expires_after_created",
                f"{FULL_HASH}, {CHALLENGE}, 'S256', 'http://127.0.0.1/cb', now() - interval '1 second'",
            ),
        ]
    ),
    bad("creator_waves_wave_number_check", "INSERT INTO creator_waves (wave_number) VALUES (0)"),
    bad("creator_waves_capacity_check", "INSERT INTO creator_waves (wave_number, capacity) VALUES (1, 0)"),
    bad(
        "creator_waitlist_status_check",
        "INSERT INTO creator_waitlist (user_id, status) VALUES ($1, 'maybe')",
        "bob",
    ),
    bad("invite_codes_code_format", "INSERT INTO invite_codes (creator_id, code) VALUES ($1, 'abc')", "alice"),
    bad(
        "invite_codes_not_self_redeemed",
        "INSERT INTO invite_codes (creator_id, code, redeemed_by_id, redeemed_at) VALUES ($1, 'WELCOME1', $1, now())",
        "alice",
    ),
    bad(
        "invite_codes_redeemed_by_needs_time",
        "INSERT INTO invite_codes (creator_id, code, redeemed_by_id) VALUES ($1, 'WELCOME1', $2)",
        "alice",
        "bob",
    ),
    *(
        bad(
            constraint,
            f"INSERT INTO reports (reporter_id, target_id, target_type, reason, status, resolved_at)"
            f" VALUES ($1, $2, {values})",
            "bob",
            "item",
        )
        for constraint, values in [
            ("reports_target_type_check", "'planet', 'spam', 'open', NULL"),
            ("reports_reason_check", "'item', 'boring', 'open', NULL"),
            ("reports_status_check", "'item', 'spam', 'closed', now()"),
            ("reports_resolved_at_matches_status", "'item', 'spam', 'resolved', NULL"),
        ]
    ),
    *(
        bad(
            constraint,
            "INSERT INTO media_files (user_id, folder, filename, s3_key, content_type, size_bytes, width)"
            f" VALUES ($1, {values})",
            "alice",
            note=note,
        )
        for constraint, values, note in [
            ("media_files_filename_format", "'', '../passwd', 'k1', 'image/png', 1, NULL", "dotdot"),
            ("media_files_filename_format", "'', 'a/b.png', 'k1', 'image/png', 1, NULL", "slash"),
            ("media_files_folder_format", "'../up', 'a.png', 'k1', 'image/png', 1, NULL", "dotdot"),
            ("media_files_folder_format", "'covers/', 'a.png', 'k1', 'image/png', 1, NULL", "trailing-slash"),
            ("media_files_size_bytes_check", "'', 'a.png', 'k1', 'image/png', -1, NULL", ""),
            ("media_files_dimensions_check", "'', 'a.png', 'k1', 'image/png', 1, 0", ""),
        ]
    ),
    *(
        bad(
            constraint,
            f"INSERT INTO import_jobs (user_id, source, status, total_rows, processed_rows, failed_rows)"
            f" VALUES ($1, {values})",
            "alice",
        )
        for constraint, values in [
            ("import_jobs_source_check", "'substack', 'pending', NULL, 0, 0"),
            ("import_jobs_status_check", "'patreon', 'done', NULL, 0, 0"),
            ("import_jobs_progress_within_total", "'patreon', 'pending', -1, 0, 0"),
            ("import_jobs_processed_rows_check", "'patreon', 'running', NULL, -1, 0"),
            ("import_jobs_progress_within_total", "'patreon', 'running', 10, 8, 3"),
        ]
    ),
    *(
        bad(
            constraint,
            "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, locked_until, finished_at, last_error,"
            f" idempotency_key) VALUES ({values})",
        )
        for constraint, values in [
            ("jobs_state_check", "'a.b', '{}', 'paused', 0, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_kind_check", "'nodot', '{}', 'queued', 0, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_payload_object", "'a.b', '[1]', 'queued', 0, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_attempts_check", "'a.b', '{}', 'queued', -1, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_max_attempts_check", "'a.b', '{}', 'queued', 0, 0, NULL, NULL, NULL, NULL"),
            ("jobs_running_has_lease", "'a.b', '{}', 'running', 1, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_finished_check", "'a.b', '{}', 'done', 1, NULL, NULL, NULL, NULL, NULL"),
            ("jobs_last_error_length", "'a.b', '{}', 'queued', 0, NULL, NULL, NULL, repeat('x', 2001), NULL"),
            ("jobs_idempotency_key_check", "'a.b', '{}', 'queued', 0, NULL, NULL, NULL, NULL, ''"),
        ]
    ),  # store discovery (0022): the typo list holds plain words of 3 to 40 letters or digits
    bad("search_words_word_format", "INSERT INTO search_words (word) VALUES ('ab')", note="short"),
    bad("search_words_word_format", "INSERT INTO search_words (word) VALUES ('two words')", note="space"),
    # ota releases (0024): a rollout is a percentage
    *(
        bad(
            "ota_releases_rollout_percent_check",
            f"INSERT INTO ota_releases (app_id, version, rollout_percent) VALUES ($1, '2.0.0', {percent})",
            "app",
            note=str(percent),
        )
        for percent in (-1, 101)
    ),
    # commerce payments (0027): refunds within the amount, the dispute states
    *(
        bad(
            constraint,
            "INSERT INTO transactions (buyer_id, seller_id, item_id, item_title, seller_username,"
            f" amount_cents, {column}) VALUES ($1, $2, $3, 'Track', 'alice', 500, {value})",
            "bob",
            "alice",
            "item",
            note=note,
        )
        for constraint, column, value, note in [
            ("transactions_refunded_cents_check", "refunded_cents", "600", "above-amount"),
            ("transactions_refunded_cents_check", "refunded_cents", "-1", "negative"),
            ("transactions_dispute_status_check", "dispute_status", "'pending'", "state"),
        ]
    ),
    # licensing (0034)
    *(
        bad(
            constraint,
            f"INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, {column})"
            f" VALUES ($1, $2, 'K-3', sha256('K-3'), {value})",
            "item",
            "bob",
        )
        for constraint, column, value in [
            ("license_keys_status_check", "status", "'lost'"),
            ("license_keys_source_check", "source", "'gift'"),
            ("license_keys_heartbeat_seconds_check", "heartbeat_seconds", "59"),
        ]
    ),
    *(
        bad(constraint, f"INSERT INTO license_policies (item_id, {columns}) VALUES ($1, {values})", "item", note=note)
        for constraint, columns, values, note in [
            ("license_policies_max_activations_check", "max_activations", "0", ""),
            ("license_policies_expiry_check", "expiry, duration_days", "'none', 30", "none-with-days"),
            ("license_policies_expiry_check", "expiry", "'fixed'", "fixed-without-date"),
            ("license_policies_heartbeat_seconds_check", "heartbeat_seconds", "86401", ""),
            ("license_policies_updates_days_check", "updates_days", "0", ""),
        ]
    ),
    bad(
        "license_signing_keys_public_key_length",
        "INSERT INTO license_signing_keys (kid, public_key, private_key) VALUES ('k1', '\\x00', 'sealed')",
    ),
    # outbound mail (0030)
    *(
        bad(
            constraint,
            "INSERT INTO outbound_mails (stream, recipient, recipient_domain, message, state, finished_at, "
            f"idempotency_key, last_error) VALUES ({values})",
        )
        for constraint, values in [
            ("outbound_mails_state_check", "'list', 'a@x.org', 'x.org', '{}', 'lost', now(), NULL, NULL"),
            ("outbound_mails_stream_check", "'List!', 'a@x.org', 'x.org', '{}', 'queued', NULL, NULL, NULL"),
            ("outbound_mails_finished_check", "'list', 'a@x.org', 'x.org', '{}', 'sent', NULL, NULL, NULL"),
            ("outbound_mails_idempotency_key_check", "'list', 'a@x.org', 'x.org', '{}', 'queued', NULL, '', NULL"),
            (
                "outbound_mails_last_error_length",
                "'list', 'a@x.org', 'x.org', '{}', 'queued', NULL, NULL, repeat('e', 2001)",
            ),
        ]
    ),
    # mailing (0032): how consent came, a broadcast's state and subject
    bad(
        "mailing_list_subscribers_consent_source_check",
        "INSERT INTO mailing_list_subscribers (list_id, email, consent_source) VALUES ($1, 'a@x.org', 'bought')",
        "mailing_list",
    ),
    bad(
        "mailing_broadcasts_status_check",
        "INSERT INTO mailing_broadcasts (list_id, subject, status) VALUES ($1, 'Hi', 'lost')",
        "mailing_list",
    ),
    bad(
        "mailing_broadcasts_subject_check",
        "INSERT INTO mailing_broadcasts (list_id, subject) VALUES ($1, '  ')",
        "mailing_list",
    ),
    # platform (0036): invite codes' uses, the admin audit log's action names
    bad(
        "invite_codes_max_uses_check",
        "INSERT INTO invite_codes (creator_id, code, max_uses) VALUES ($1, 'abcdef', 0)",
        "alice",
    ),
    bad(
        "invite_codes_uses_check",
        "INSERT INTO invite_codes (creator_id, code, max_uses, uses) VALUES ($1, 'abcdef', 2, 3)",
        "alice",
    ),
    bad(
        "admin_audit_log_action_format",
        "INSERT INTO admin_audit_log (admin_username, action, target_type, target_id) VALUES ('a', 'Bad!', 'u', 'x')",
    ),
    bad("bearer_epoch_one_row", "INSERT INTO bearer_epoch (only_row, epoch) VALUES (false, 0)"),
    bad(
        "platform_prices_plan_check",
        "INSERT INTO platform_prices (plan, amount_cents, currency, billing_interval, stripe_price_id, "
        "stripe_product_id) "
        "VALUES ('gold', 100, 'usd', 'month', 'price_x', 'prod_x')",
    ),
    bad(
        "platform_prices_amount_cents_check",
        "INSERT INTO platform_prices (plan, amount_cents, currency, billing_interval, stripe_price_id, "
        "stripe_product_id) "
        "VALUES ('basic', 0, 'usd', 'month', 'price_x', 'prod_x')",
    ),
    bad(
        "platform_prices_billing_interval_check",
        "INSERT INTO platform_prices (plan, amount_cents, currency, billing_interval, stripe_price_id, "
        "stripe_product_id) "
        "VALUES ('basic', 100, 'usd', 'week', 'price_x', 'prod_x')",
    ),
]


@pytest.mark.parametrize(("constraint", "sql", "args"), CHECK_VIOLATIONS)
async def test_check_rejects(tx_conn: asyncpg.Connection, constraint: str, sql: str, args: tuple[str, ...]) -> None:
    world = await build_world(tx_conn)
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await tx_conn.execute(sql, *(getattr(world, name) for name in args))
    assert caught.value.constraint_name == constraint


async def test_every_check_constraint_has_a_rejecting_case(tx_conn: asyncpg.Connection) -> None:
    names = await tx_conn.fetch(
        "SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
    )
    covered = {p.values[0] for p in CHECK_VIOLATIONS}
    assert sorted({r["conname"] for r in names} - covered) == []


CHECK_ACCEPTS = [
    good(promo(), "alice", note="discount-percent"),
    good(promo(value="100"), "alice", note="discount-percent-100"),
    good(promo(type="'fixed'", value="2500", item="$2"), "alice", "item", note="discount-fixed-item"),
    good(
        promo(purpose="'free_access'", type="NULL", value="NULL", project="$2"), "alice", "project", note="free-access"
    ),
    good(
        promo(purpose="'free_trial'", type="NULL", value="NULL", days="14", tier="$2", max="100", count="100"),
        "alice",
        "tier",
        note="free-trial-used-up",
    ),
    good(
        "INSERT INTO content_insertion_placements (item_id, insertion_id, position, offset_ms)"
        " VALUES ($1, $2, 'mid_roll', 90000), ($1, $2, 'mid_roll', 180000), ($1, $2, 'pre_roll', 0)",
        "item",
        "insertion",
        note="placements",
    ),
    good(
        "INSERT INTO tags (parent_id, name, slug, path) VALUES ($1, 'Ambient', 'ambient', 'music.ambient')",
        "tag",
        note="child-tag",
    ),
    good(
        "INSERT INTO mailing_list_subscribers (list_id, email)"
        " VALUES ($1, 'fan@example.org'), ($1, 'other@example.org')",
        "mailing_list",
        note="email-only-subscribers",
    ),
    good(
        "INSERT INTO ota_releases (app_id, version) VALUES ($1, '2.0.0-rc.1+build.5'), ($1, '10.20.30')",
        "app",
        note="semver",
    ),
    good(
        "INSERT INTO users (username, email) VALUES ('c_1-x', 'c1@x.org'), (repeat('d', 39), 'd@x.org')",
        note="usernames",
    ),
    good(
        "INSERT INTO media_files (user_id, folder, filename, s3_key, content_type, size_bytes)"
        " VALUES ($1, 'covers/2024', 'Front Cover.v2.png', 'k9', 'image/png', 0)",
        "alice",
        note="media-folder",
    ),
]


@pytest.mark.parametrize(("sql", "args"), CHECK_ACCEPTS)
async def test_check_accepts(tx_conn: asyncpg.Connection, sql: str, args: tuple[str, ...]) -> None:
    world = await build_world(tx_conn)
    await tx_conn.execute(sql, *(getattr(world, name) for name in args))


async def count_rows(conn: asyncpg.Connection, tables: list[str]) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_deleting_a_user_cascades_to_everything_they_own(tx_conn: asyncpg.Connection) -> None:
    alice = await add_user(tx_conn, "alice")
    bob = await add_user(tx_conn, "bob")
    project = await add_project(tx_conn, alice)
    item = await add_item(tx_conn, project)
    await tx_conn.execute("INSERT INTO versions (item_id, version_number, is_current) VALUES ($1, '1.0', true)", item)
    await add_subscription(tx_conn, bob, await add_tier(tx_conn, project), project)
    app = await add_app(tx_conn, alice)
    device = await add_device(tx_conn, app, alice)
    await add_change(tx_conn, app, alice, device, 1)
    await tx_conn.execute(
        "INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes) VALUES ($1, $2, $3, 'blobs/x', 5)",
        app,
        alice,
        "0" * 64,
    )
    await tx_conn.execute(
        "INSERT INTO sync_keys (app_id, user_id, encrypted_key) VALUES ($1, $2, 'wrapped')", app, alice
    )
    await tx_conn.execute(
        "INSERT INTO user_sessions (user_id, token_hash, user_agent, ip_address, expires_at)"
        " VALUES ($1, $2, 'curl/8', '192.0.2.1', now() + interval '30 days')",
        alice,
        sha256("session"),
    )
    await tx_conn.execute(
        "INSERT INTO login_tokens (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '15 minutes')",
        alice,
        sha256("link"),
    )
    await add_repo(tx_conn, alice)
    bobs_project = await add_project(tx_conn, bob, "bobs")
    tables = [
        "projects",
        "items",
        "versions",
        "subscription_tiers",
        "subscriptions",
        "sync_apps",
        "sync_devices",
        "sync_log",
        "sync_blobs",
        "sync_keys",
        "user_sessions",
        "login_tokens",
        "git_repos",
    ]
    before = await count_rows(tx_conn, tables)
    assert before == {t: 2 if t == "projects" else 1 for t in tables}

    await tx_conn.execute("DELETE FROM users WHERE id = $1", alice)

    assert await count_rows(tx_conn, tables) == {t: 1 if t == "projects" else 0 for t in tables}
    assert await tx_conn.fetchval("SELECT id FROM projects") == bobs_project


async def test_a_tier_with_a_subscriber_cannot_be_deleted(tx_conn: asyncpg.Connection) -> None:
    """RESTRICT reports SQLSTATE 23001 (RestrictViolationError), not 23503 (ForeignKeyViolationError).

    Any subscription row blocks it, a canceled one too: tiers are deactivated, not deleted.
    """
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    project = await add_project(tx_conn, alice)
    tier = await add_tier(tx_conn, project)
    subscription = await add_subscription(tx_conn, bob, tier, project, status="canceled")
    with pytest.raises(asyncpg.RestrictViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await tx_conn.execute("DELETE FROM subscription_tiers WHERE id = $1", tier)
    assert caught.value.constraint_name == "subscriptions_tier_id_fkey"
    await tx_conn.execute("DELETE FROM subscriptions WHERE id = $1", subscription)
    assert await tx_conn.execute("DELETE FROM subscription_tiers WHERE id = $1", tier) == "DELETE 1"


async def test_a_transaction_survives_its_item_and_its_seller(tx_conn: asyncpg.Connection) -> None:
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    item = await add_item(tx_conn, await add_project(tx_conn, alice))
    purchase = await add_purchase(tx_conn, bob, alice, item)
    key = await tx_conn.fetchval(
        "INSERT INTO license_keys (item_id, owner_id, transaction_id, key_code, key_hash)"
        " VALUES ($1, $2, $3, 'K-1', sha256('K-1')) RETURNING id",
        item,
        bob,
        purchase,
    )

    await tx_conn.execute("DELETE FROM items WHERE id = $1", item)
    row = await tx_conn.fetchrow("SELECT seller_id, item_id, item_title, seller_username FROM transactions")
    assert tuple(row) == (alice, None, "Track", "alice")
    assert await tx_conn.fetchval("SELECT count(*) FROM license_keys WHERE id = $1", key) == 0

    await tx_conn.execute("DELETE FROM users WHERE id = $1", alice)
    row = await tx_conn.fetchrow("SELECT id, seller_id, item_id, item_title, seller_username FROM transactions")
    assert tuple(row) == (purchase, None, None, "Track", "alice")

    await tx_conn.execute("DELETE FROM users WHERE id = $1", bob)
    assert await tx_conn.fetchval("SELECT count(*) FROM transactions") == 0


async def test_an_item_has_one_current_version(tx_conn: asyncpg.Connection) -> None:
    item = await add_item(tx_conn, await add_project(tx_conn, await add_user(tx_conn, "alice")))
    insert = "INSERT INTO versions (item_id, version_number, is_current) VALUES ($1, $2, $3)"
    await tx_conn.execute(insert, item, "1.0", True)
    await tx_conn.execute(insert, item, "0.9", False)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await tx_conn.execute(insert, item, "1.1", True)
    assert caught.value.constraint_name == "versions_one_current_per_item"
    async with tx_conn.transaction():
        await tx_conn.execute("UPDATE versions SET is_current = false WHERE item_id = $1", item)
        await tx_conn.execute(insert, item, "1.1", True)
    assert await tx_conn.fetchval("SELECT version_number FROM versions WHERE is_current") == "1.1"


async def test_an_item_is_bought_once(tx_conn: asyncpg.Connection) -> None:
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    item = await add_item(tx_conn, await add_project(tx_conn, alice))
    await add_purchase(tx_conn, bob, alice, item, status="failed")
    await add_purchase(tx_conn, bob, alice, item, status="pending")
    await add_purchase(tx_conn, bob, alice, item, status="completed")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await add_purchase(tx_conn, bob, alice, item, status="completed")
    assert caught.value.constraint_name == "transactions_one_completed_per_buyer_item"
    await add_purchase(tx_conn, alice, alice, item, status="completed")


async def test_a_subscriber_has_one_active_subscription_per_project(tx_conn: asyncpg.Connection) -> None:
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    project = await add_project(tx_conn, alice)
    tier, other_tier = await add_tier(tx_conn, project), await add_tier(tx_conn, project, "Patron")
    await add_subscription(tx_conn, bob, tier, project, status="canceled")
    await add_subscription(tx_conn, bob, tier, project, status="active")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await add_subscription(tx_conn, bob, other_tier, project, status="active")
    assert caught.value.constraint_name == "subscriptions_one_active_per_subscriber_project"


async def test_email_suppressions_ignore_case(tx_conn: asyncpg.Connection) -> None:
    insert = "INSERT INTO email_suppressions (email, reason) VALUES ($1, 'HardBounce')"
    await tx_conn.execute(insert, "a@x.org")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await tx_conn.execute(insert, "A@x.org")
    assert caught.value.constraint_name == "email_suppressions_email_lower_key"


async def test_user_emails_are_unique_ignoring_case(tx_conn: asyncpg.Connection) -> None:
    await add_user(tx_conn, "alice", "Alice@Example.org")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await add_user(tx_conn, "alice2", "alice@example.ORG")
    assert caught.value.constraint_name == "users_email_lower_key"
    assert await tx_conn.fetchval("SELECT username FROM users WHERE lower(email) = lower($1)", "ALICE@example.org") == (
        "alice"
    )


async def test_usernames_are_unique(tx_conn: asyncpg.Connection) -> None:
    await add_user(tx_conn, "alice")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await add_user(tx_conn, "alice", "other@example.org")
    assert caught.value.constraint_name == "users_username_key"


async def test_a_bundle_cannot_contain_itself(tx_conn: asyncpg.Connection) -> None:
    project = await add_project(tx_conn, await add_user(tx_conn, "alice"))
    bundle = await add_item(tx_conn, project, "album", item_type="bundle")
    track = await add_item(tx_conn, project, "track")
    await tx_conn.execute("INSERT INTO bundle_items (bundle_id, item_id) VALUES ($1, $2)", bundle, track)
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await tx_conn.execute("INSERT INTO bundle_items (bundle_id, item_id) VALUES ($1, $1)", bundle)
    assert caught.value.constraint_name == "bundle_items_not_self"


async def test_an_item_has_one_primary_tag(tx_conn: asyncpg.Connection) -> None:
    item = await add_item(tx_conn, await add_project(tx_conn, await add_user(tx_conn, "alice")))
    tags = [
        await tx_conn.fetchval(
            "INSERT INTO tags (name, slug, path) VALUES ($1, lower($1), lower($1)) RETURNING id", name
        )
        for name in ("Ambient", "Drone", "Jazz")
    ]
    insert = "INSERT INTO item_tags (item_id, tag_id, is_primary) VALUES ($1, $2, $3)"
    await tx_conn.execute(insert, item, tags[0], True)
    await tx_conn.execute(insert, item, tags[1], False)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await tx_conn.execute(insert, item, tags[2], True)
    assert caught.value.constraint_name == "item_tags_one_primary_per_item"


async def test_ota_artifacts_are_unique_per_bundle_type(tx_conn: asyncpg.Connection) -> None:
    app = await add_app(tx_conn, await add_user(tx_conn, "alice"))
    release = await add_release(tx_conn, app)
    for bundle_type in ("", "appimage", "deb", "rpm"):
        await add_artifact(tx_conn, release, bundle_type)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await add_artifact(tx_conn, release, "appimage")
    assert caught.value.constraint_name == "ota_artifacts_release_target_arch_bundle_type_key"
    assert await tx_conn.fetchval("SELECT count(*) FROM ota_artifacts") == 4


async def test_mailing_list_subscribers_are_unique_per_user_and_per_address(tx_conn: asyncpg.Connection) -> None:
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    project = await add_project(tx_conn, alice)
    lists = [
        await tx_conn.fetchval(
            "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, $2, $2) RETURNING id", project, kind
        )
        for kind in ("content", "devlog")
    ]
    insert = "INSERT INTO mailing_list_subscribers (list_id, user_id, email) VALUES ($1, $2, $3)"
    await tx_conn.execute(insert, lists[0], bob, None)
    await tx_conn.execute(insert, lists[0], None, "fan@example.org")
    await tx_conn.execute(insert, lists[1], None, "fan@example.org")
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await tx_conn.execute(insert, lists[0], bob, None)
    assert caught.value.constraint_name == "mailing_list_subscribers_list_id_user_id_key"
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await tx_conn.execute(insert, lists[0], None, "FAN@example.org")
    assert caught.value.constraint_name == "mailing_list_subscribers_list_id_email_key"
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await tx_conn.execute(
                "INSERT INTO mailing_lists (project_id, list_type, name) VALUES ($1, 'content', 'x')", project
            )
    assert caught.value.constraint_name == "mailing_lists_project_id_list_type_key"


async def test_an_ssh_key_belongs_to_one_account(tx_conn: asyncpg.Connection) -> None:
    alice, bob = await add_user(tx_conn, "alice"), await add_user(tx_conn, "bob")
    fingerprint = "SHA256:" + "k" * 43
    insert = (
        "INSERT INTO ssh_keys (user_id, title, public_key, fingerprint) VALUES ($1, 'laptop', 'ssh-ed25519 AAAA', $2)"
    )
    await tx_conn.execute(insert, alice, fingerprint)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await tx_conn.execute(insert, bob, fingerprint)
    assert caught.value.constraint_name == "ssh_keys_fingerprint_key"


async def test_a_blog_post_author_is_not_deleted_silently(conn: asyncpg.Connection) -> None:
    """NO ACTION, checked at commit: posts in someone else's project block the author's deletion,
    posts in the author's own projects go with them."""
    alice, bob = await add_user(conn, "alice"), await add_user(conn, "bob")
    alices, bobs = await add_project(conn, alice), await add_project(conn, bob, "bobs")
    insert = "INSERT INTO blog_posts (project_id, author_id, title, slug) VALUES ($1, $2, 'News', $3)"
    await conn.execute(insert, alices, alice, "own")
    await conn.execute(insert, alices, bob, "guest")
    await conn.execute(insert, bobs, bob, "own")
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await conn.execute("DELETE FROM users WHERE id = $1", bob)
    assert caught.value.constraint_name == "blog_posts_author_id_fkey"
    await conn.execute("DELETE FROM blog_posts WHERE slug = 'guest'")
    await conn.execute("DELETE FROM users WHERE id = $1", bob)
    await conn.execute("DELETE FROM users WHERE id = $1", alice)
    assert await conn.fetchval("SELECT count(*) FROM blog_posts") == 0


async def test_set_null_targets_keep_promo_codes_valid(tx_conn: asyncpg.Connection) -> None:
    alice = await add_user(tx_conn, "alice")
    project = await add_project(tx_conn, alice)
    tier = await add_tier(tx_conn, project)
    code = await tx_conn.fetchval(
        "INSERT INTO promo_codes (creator_id, code, code_purpose, trial_days, tier_id)"
        " VALUES ($1, 'TRY14', 'free_trial', 14, $2) RETURNING id",
        alice,
        tier,
    )
    await tx_conn.execute("DELETE FROM subscription_tiers WHERE id = $1", tier)
    assert await tx_conn.fetchval("SELECT tier_id FROM promo_codes WHERE id = $1", code) is None
    await tx_conn.execute("DELETE FROM projects WHERE id = $1", project)
    assert await tx_conn.fetchval("SELECT count(*) FROM promo_codes") == 1


UPDATED_AT_ROWS = [
    (
        "users",
        None,
        "INSERT INTO users (username, email, updated_at) VALUES ('carol', 'carol@example.org', $1) RETURNING id",
        "UPDATE users SET display_name = 'Carol' WHERE id = $1",
    ),
    (
        "projects",
        "alice",
        "INSERT INTO projects (user_id, slug, title, project_type, updated_at)"
        " VALUES ($2, 'demos', 'Demos', 'music', $1) RETURNING id",
        "UPDATE projects SET is_public = true WHERE id = $1",
    ),
    (
        "items",
        "project",
        "INSERT INTO items (project_id, title, slug, item_type, updated_at)"
        " VALUES ($2, 'Demo', 'demo', 'audio', $1) RETURNING id",
        "UPDATE items SET price_cents = 100 WHERE id = $1",
    ),
    (
        "custom_links",
        "alice",
        "INSERT INTO custom_links (user_id, title, url, updated_at)"
        " VALUES ($2, 'Site', 'https://example.org', $1) RETURNING id",
        "UPDATE custom_links SET sort_order = 2 WHERE id = $1",
    ),
    (
        "versions",
        "item",
        "INSERT INTO versions (item_id, version_number, updated_at) VALUES ($2, '2.0', $1) RETURNING id",
        "UPDATE versions SET download_count = download_count + 1 WHERE id = $1",
    ),
]


@pytest.mark.parametrize(("table", "parent", "insert", "update"), UPDATED_AT_ROWS)
async def test_updated_at_trigger(
    tx_conn: asyncpg.Connection, table: str, parent: str | None, insert: str, update: str
) -> None:
    world = await build_world(tx_conn)
    args = [OLD] if parent is None else [OLD, getattr(world, parent)]
    row_id = await tx_conn.fetchval(insert, *args)
    assert await tx_conn.fetchval(f"SELECT updated_at FROM {table} WHERE id = $1", row_id) == OLD
    await tx_conn.execute(update, row_id)
    updated, created, now = await tx_conn.fetchrow(
        f"SELECT updated_at, created_at, now() FROM {table} WHERE id = $1", row_id
    )
    assert updated > OLD
    assert updated >= created
    assert updated <= now


async def test_items_search_vector_finds_a_word_of_the_body(tx_conn: asyncpg.Connection) -> None:
    project = await add_project(tx_conn, await add_user(tx_conn, "alice"))
    found = await add_item(tx_conn, project, "field-notes", body="Recorded at dawn: wading herons and distant trains.")
    await add_item(tx_conn, project, "city", body="Traffic and rain.")
    search = "SELECT array_agg(id) FROM items WHERE search_vector @@ to_tsquery('english', $1)"
    assert await tx_conn.fetchval(search, "heron") == [found]
    assert await tx_conn.fetchval(search, "notes & train") == [found]
    await tx_conn.execute("UPDATE items SET body = 'Only owls now.' WHERE id = $1", found)
    assert await tx_conn.fetchval(search, "heron") is None
    assert await tx_conn.fetchval(search, "owl") == [found]


async def test_trigram_search_tolerates_typos(tx_conn: asyncpg.Connection) -> None:
    alice = await add_user(tx_conn, "alice")
    project = await tx_conn.fetchval(
        "INSERT INTO projects (user_id, slug, title, project_type) VALUES ($1, 'ambient', 'Ambient Dreams', 'music')"
        " RETURNING id",
        alice,
    )
    assert await tx_conn.fetchval("SELECT id FROM projects WHERE title % 'Ambiant Dreems'") == project


async def test_sync_log_seq_increases_past_32_bits(conn: asyncpg.Connection) -> None:
    alice = await add_user(conn, "alice")
    app = await add_app(conn, alice)
    device = await add_device(conn, app, alice)
    first = [await add_change(conn, app, alice, device, n) for n in (1, 2, 3)]
    assert first == sorted(first)
    assert len(set(first)) == 3
    await conn.execute("SELECT setval('sync_log_seq_seq', 2147483647)")
    assert await add_change(conn, app, alice, device, 4) == 2**31


async def test_a_device_mutation_is_logged_once(tx_conn: asyncpg.Connection) -> None:
    alice = await add_user(tx_conn, "alice")
    app = await add_app(tx_conn, alice)
    laptop, phone = await add_device(tx_conn, app, alice), await add_device(tx_conn, app, alice, "phone")
    await add_change(tx_conn, app, alice, laptop, 1)
    await add_change(tx_conn, app, alice, phone, 1)
    await add_change(tx_conn, app, alice, None, None)
    await add_change(tx_conn, app, alice, None, None)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with tx_conn.transaction():  # a savepoint: the test goes on after the error
            await add_change(tx_conn, app, alice, laptop, 1)
    assert caught.value.constraint_name == "sync_log_device_id_mutation_id_key"
    await tx_conn.execute("DELETE FROM sync_devices WHERE id = $1", laptop)
    assert await tx_conn.fetchval("SELECT count(*) FROM sync_log") == 3
