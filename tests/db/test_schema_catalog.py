"""The migrated schema as PostgreSQL's catalog sees it, checked against spec/schema.md.

Every table, foreign-key delete rule, unique and partial-unique index, enumeration CHECK, search index,
sequence and ``updated_at`` trigger the spec names is a row in one of the tables below, so a failure
names the rule. The catalog is read once per module from the worker's shared migrated database.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg
import pytest

SPEC_TABLES = (
    # Users & Auth (tower_sessions.session is web_sessions)
    "users",
    "user_passkeys",
    "login_tokens",
    "user_sessions",
    "backup_codes",
    "web_sessions",
    # Projects & Content
    "project_categories",
    "projects",
    "items",
    "versions",
    "chapters",
    "content_insertions",
    "content_insertion_placements",
    "item_sections",
    "bundle_items",
    # Tags & Taxonomy
    "tags",
    "item_tags",
    "labels",
    "project_labels",
    # Commerce
    "transactions",
    "subscription_tiers",
    "subscriptions",
    "subscription_events",
    "promo_codes",
    "license_keys",
    "license_activations",
    # Creator Tiers
    "creator_subscriptions",
    "fan_plus_subscriptions",
    # Email & Mailing
    "mailing_lists",
    "mailing_list_subscribers",
    "email_suppressions",
    "email_signups",
    # Social
    "follows",
    "blog_posts",
    "custom_links",
    # Collections
    "collections",
    "collection_items",
    # SyncKit
    "sync_apps",
    "sync_devices",
    "sync_keys",
    "sync_log",
    "sync_blobs",
    # Git
    "git_repos",
    "ssh_keys",
    "issues",
    "issue_comments",
    "issue_labels",
    "issue_label_assignments",
    # OTA
    "ota_releases",
    "ota_artifacts",
    "ota_build_configs",
    "ota_builds",
    # Remaining
    "custom_domains",
    "oauth_authorization_codes",
    "creator_waves",
    "creator_waitlist",
    "invite_codes",
    "reports",
    "media_files",
    "import_jobs",
)

PRIMARY_KEYS = {
    "bundle_items": ("bundle_id", "item_id"),
    "item_tags": ("item_id", "tag_id"),
    "project_labels": ("project_id", "label_id"),
    "collection_items": ("collection_id", "item_id"),
    "sync_keys": ("app_id", "user_id"),
    "issue_label_assignments": ("issue_id", "label_id"),
    "sync_log": ("seq",),
    "web_sessions": ("id",),
}

CASCADE, SET_NULL, RESTRICT, NO_ACTION = "c", "n", "r", "a"

# (table, column, referenced table, confdeltype); every FK the spec names.
SPEC_FOREIGN_KEYS = [
    ("user_passkeys", "user_id", "users", CASCADE),
    ("login_tokens", "user_id", "users", CASCADE),
    ("user_sessions", "user_id", "users", CASCADE),
    ("backup_codes", "user_id", "users", CASCADE),
    ("projects", "user_id", "users", CASCADE),
    ("projects", "category_id", "project_categories", SET_NULL),
    ("items", "project_id", "projects", CASCADE),
    ("versions", "item_id", "items", CASCADE),
    ("chapters", "item_id", "items", CASCADE),
    ("content_insertions", "user_id", "users", CASCADE),
    ("content_insertion_placements", "item_id", "items", CASCADE),
    ("content_insertion_placements", "insertion_id", "content_insertions", CASCADE),
    ("item_sections", "item_id", "items", CASCADE),
    ("bundle_items", "bundle_id", "items", CASCADE),
    ("bundle_items", "item_id", "items", CASCADE),
    ("tags", "parent_id", "tags", CASCADE),
    ("item_tags", "item_id", "items", CASCADE),
    ("item_tags", "tag_id", "tags", CASCADE),
    ("project_labels", "project_id", "projects", CASCADE),
    ("project_labels", "label_id", "labels", CASCADE),
    ("transactions", "buyer_id", "users", CASCADE),
    ("transactions", "seller_id", "users", SET_NULL),
    ("transactions", "item_id", "items", SET_NULL),
    ("subscription_tiers", "project_id", "projects", CASCADE),
    ("subscriptions", "subscriber_id", "users", CASCADE),
    ("subscriptions", "tier_id", "subscription_tiers", RESTRICT),
    ("subscriptions", "project_id", "projects", CASCADE),
    ("subscription_events", "subscription_id", "subscriptions", SET_NULL),
    ("promo_codes", "creator_id", "users", CASCADE),
    ("promo_codes", "item_id", "items", SET_NULL),
    ("promo_codes", "project_id", "projects", SET_NULL),
    ("promo_codes", "tier_id", "subscription_tiers", SET_NULL),
    ("license_keys", "item_id", "items", CASCADE),
    ("license_keys", "owner_id", "users", CASCADE),
    ("license_keys", "transaction_id", "transactions", SET_NULL),
    ("license_activations", "license_key_id", "license_keys", CASCADE),
    ("creator_subscriptions", "user_id", "users", CASCADE),
    ("fan_plus_subscriptions", "user_id", "users", CASCADE),
    ("mailing_lists", "project_id", "projects", CASCADE),
    ("mailing_list_subscribers", "list_id", "mailing_lists", CASCADE),
    ("mailing_list_subscribers", "user_id", "users", CASCADE),
    ("follows", "follower_id", "users", CASCADE),
    ("blog_posts", "project_id", "projects", CASCADE),
    ("blog_posts", "author_id", "users", NO_ACTION),
    ("custom_links", "user_id", "users", CASCADE),
    ("collections", "user_id", "users", CASCADE),
    ("collection_items", "collection_id", "collections", CASCADE),
    ("collection_items", "item_id", "items", CASCADE),
    ("sync_apps", "creator_id", "users", CASCADE),
    ("sync_apps", "project_id", "projects", SET_NULL),
    ("sync_apps", "item_id", "items", SET_NULL),
    ("sync_devices", "app_id", "sync_apps", CASCADE),
    ("sync_devices", "user_id", "users", CASCADE),
    ("sync_keys", "app_id", "sync_apps", CASCADE),
    ("sync_keys", "user_id", "users", CASCADE),
    ("sync_log", "app_id", "sync_apps", CASCADE),
    ("sync_log", "user_id", "users", CASCADE),
    ("sync_log", "device_id", "sync_devices", CASCADE),
    ("sync_blobs", "app_id", "sync_apps", CASCADE),
    ("sync_blobs", "user_id", "users", CASCADE),
    ("git_repos", "user_id", "users", CASCADE),
    ("git_repos", "project_id", "projects", SET_NULL),
    ("ssh_keys", "user_id", "users", CASCADE),
    ("issues", "repo_id", "git_repos", CASCADE),
    ("issues", "author_user_id", "users", CASCADE),
    ("issue_comments", "issue_id", "issues", CASCADE),
    ("issue_comments", "author_user_id", "users", CASCADE),
    ("issue_labels", "repo_id", "git_repos", CASCADE),
    ("issue_label_assignments", "issue_id", "issues", CASCADE),
    ("issue_label_assignments", "label_id", "issue_labels", CASCADE),
    ("ota_releases", "app_id", "sync_apps", CASCADE),
    ("ota_artifacts", "release_id", "ota_releases", CASCADE),
    ("ota_build_configs", "app_id", "sync_apps", CASCADE),
    ("ota_build_configs", "repo_id", "git_repos", CASCADE),
    ("ota_builds", "config_id", "ota_build_configs", CASCADE),
    ("ota_builds", "release_id", "ota_releases", SET_NULL),
    ("custom_domains", "user_id", "users", CASCADE),
    ("oauth_authorization_codes", "app_id", "sync_apps", CASCADE),
    ("oauth_authorization_codes", "user_id", "users", CASCADE),
    ("creator_waitlist", "user_id", "users", CASCADE),
    ("creator_waitlist", "wave_id", "creator_waves", SET_NULL),
    ("invite_codes", "creator_id", "users", CASCADE),
    ("media_files", "user_id", "users", CASCADE),
]

# FKs on columns the spec leaves open.
ADDED_FOREIGN_KEYS = [
    ("subscriptions", "promo_code_id", "promo_codes", SET_NULL),
    ("transactions", "promo_code_id", "promo_codes", SET_NULL),
    ("invite_codes", "redeemed_by_id", "users", SET_NULL),
    ("reports", "reporter_id", "users", SET_NULL),
    ("reports", "resolved_by_id", "users", SET_NULL),
    ("import_jobs", "user_id", "users", CASCADE),
    ("import_jobs", "project_id", "projects", CASCADE),
    ("users", "avatar_media_id", "media_files", SET_NULL),
]

# (index or constraint name, table, key columns as PostgreSQL prints them, predicate or None)
UNIQUES = [
    ("users_username_key", "users", ("username",), None),
    ("users_email_lower_key", "users", ("lower(email)",), None),
    ("users_stripe_account_id_key", "users", ("stripe_account_id",), None),
    ("user_passkeys_credential_id_key", "user_passkeys", ("credential_id",), None),
    ("login_tokens_token_hash_key", "login_tokens", ("token_hash",), None),
    ("user_sessions_token_hash_key", "user_sessions", ("token_hash",), None),
    ("web_sessions_pkey", "web_sessions", ("id",), None),
    ("projects_user_id_slug_key", "projects", ("user_id", "slug"), None),
    ("items_project_id_slug_key", "items", ("project_id", "slug"), None),
    ("versions_one_current_per_item", "versions", ("item_id",), "is_current"),
    (
        "content_insertion_placements_item_insertion_position_offset_key",
        "content_insertion_placements",
        ("item_id", "insertion_id", '"position"', "offset_ms"),
        None,
    ),
    ("item_sections_item_id_slug_key", "item_sections", ("item_id", "slug"), None),
    ("bundle_items_pkey", "bundle_items", ("bundle_id", "item_id"), None),
    ("tags_slug_key", "tags", ("slug",), None),
    ("item_tags_pkey", "item_tags", ("item_id", "tag_id"), None),
    ("item_tags_one_primary_per_item", "item_tags", ("item_id",), "is_primary"),
    ("labels_slug_key", "labels", ("slug",), None),
    ("project_labels_pkey", "project_labels", ("project_id", "label_id"), None),
    (
        "transactions_one_completed_per_buyer_item",
        "transactions",
        ("buyer_id", "item_id"),
        "status = 'completed'::text",
    ),
    ("transactions_stripe_checkout_session_id_key", "transactions", ("stripe_checkout_session_id",), None),
    (
        "subscriptions_one_active_per_subscriber_project",
        "subscriptions",
        ("subscriber_id", "project_id"),
        "status = 'active'::text",
    ),
    ("subscription_events_stripe_event_id_key", "subscription_events", ("stripe_event_id",), None),
    ("promo_codes_creator_id_code_key", "promo_codes", ("creator_id", "code"), None),
    ("license_keys_key_code_key", "license_keys", ("key_code",), None),
    (
        "license_activations_license_key_id_machine_id_key",
        "license_activations",
        ("license_key_id", "machine_id"),
        None,
    ),
    ("creator_subscriptions_user_id_key", "creator_subscriptions", ("user_id",), None),
    (
        "creator_subscriptions_stripe_subscription_id_key",
        "creator_subscriptions",
        ("stripe_subscription_id",),
        None,
    ),
    ("fan_plus_subscriptions_user_id_key", "fan_plus_subscriptions", ("user_id",), None),
    (
        "fan_plus_subscriptions_stripe_subscription_id_key",
        "fan_plus_subscriptions",
        ("stripe_subscription_id",),
        None,
    ),
    ("mailing_lists_project_id_list_type_key", "mailing_lists", ("project_id", "list_type"), None),
    ("mailing_list_subscribers_list_id_user_id_key", "mailing_list_subscribers", ("list_id", "user_id"), None),
    (
        "mailing_list_subscribers_list_id_email_key",
        "mailing_list_subscribers",
        ("list_id", "lower(email)"),
        "email IS NOT NULL",
    ),
    ("email_suppressions_email_lower_key", "email_suppressions", ("lower(email)",), None),
    ("email_signups_email_lower_key", "email_signups", ("lower(email)",), None),
    (
        "follows_follower_id_target_type_target_id_key",
        "follows",
        ("follower_id", "target_type", "target_id"),
        None,
    ),
    ("blog_posts_project_id_slug_key", "blog_posts", ("project_id", "slug"), None),
    ("collections_user_id_slug_key", "collections", ("user_id", "slug"), None),
    ("collection_items_pkey", "collection_items", ("collection_id", "item_id"), None),
    ("sync_apps_api_key_hash_key", "sync_apps", ("api_key_hash",), None),
    ("sync_apps_slug_key", "sync_apps", ("slug",), None),
    (
        "sync_devices_app_id_user_id_device_name_key",
        "sync_devices",
        ("app_id", "user_id", "device_name"),
        None,
    ),
    ("sync_keys_pkey", "sync_keys", ("app_id", "user_id"), None),
    ("sync_log_device_id_mutation_id_key", "sync_log", ("device_id", "mutation_id"), None),
    ("sync_blobs_app_id_user_id_hash_key", "sync_blobs", ("app_id", "user_id", "hash"), None),
    ("git_repos_user_id_name_key", "git_repos", ("user_id", "name"), None),
    ("ssh_keys_user_id_fingerprint_key", "ssh_keys", ("user_id", "fingerprint"), None),
    ("ssh_keys_fingerprint_key", "ssh_keys", ("fingerprint",), None),
    ("issues_repo_id_number_key", "issues", ("repo_id", "number"), None),
    ("issue_labels_repo_id_name_key", "issue_labels", ("repo_id", "name"), None),
    ("issue_label_assignments_pkey", "issue_label_assignments", ("issue_id", "label_id"), None),
    ("ota_releases_app_id_version_key", "ota_releases", ("app_id", "version"), None),
    (
        "ota_artifacts_release_target_arch_bundle_type_key",
        "ota_artifacts",
        ("release_id", "target", "arch", "bundle_type"),
        None,
    ),
    ("ota_build_configs_app_id_key", "ota_build_configs", ("app_id",), None),
    ("custom_domains_domain_key", "custom_domains", ("domain",), None),
    ("oauth_authorization_codes_code_hash_key", "oauth_authorization_codes", ("code_hash",), None),
    ("creator_waves_wave_number_key", "creator_waves", ("wave_number",), None),
    ("creator_waitlist_user_id_key", "creator_waitlist", ("user_id",), None),
    ("invite_codes_code_key", "invite_codes", ("code",), None),
    ("media_files_user_id_folder_filename_key", "media_files", ("user_id", "folder", "filename"), None),
]

# (table, column, the values its CHECK allows); NULL is allowed only where the column is nullable.
ENUMERATIONS = [
    ("users", "creator_tier", {"basic", "small_files", "big_files", "everything"}),
    (
        "projects",
        "project_type",
        {"music", "software", "podcast", "writing", "video", "art", "game", "course", "other"},
    ),
    ("items", "item_type", {"article", "audio", "video", "download", "image", "bundle", "other"}),
    ("login_tokens", "purpose", {"login", "verify_email", "reset_password", "change_email"}),
    ("user_sessions", "signed_in_by", {"password", "passkey", "link", "signup"}),
    ("content_insertions", "media_type", {"audio", "video"}),
    ("content_insertion_placements", "position", {"pre_roll", "mid_roll", "post_roll"}),
    ("transactions", "status", {"pending", "completed", "failed", "refunded"}),
    ("subscription_tiers", "billing_interval", {"month", "year"}),
    ("subscriptions", "status", {"incomplete", "active", "past_due", "canceled", "expired"}),
    ("promo_codes", "code_purpose", {"discount", "free_access", "free_trial"}),
    ("promo_codes", "discount_type", {"percent", "fixed"}),
    ("creator_subscriptions", "tier", {"basic", "small_files", "big_files", "everything"}),
    ("creator_subscriptions", "status", {"incomplete", "active", "past_due", "canceled", "expired"}),
    ("fan_plus_subscriptions", "status", {"incomplete", "active", "past_due", "canceled", "expired"}),
    ("mailing_lists", "list_type", {"content", "devlog", "patches"}),
    ("email_suppressions", "reason", {"HardBounce", "SpamComplaint", "Manual"}),
    ("follows", "target_type", {"user", "project", "tag"}),
    ("sync_log", "operation", {"INSERT", "UPDATE", "DELETE"}),
    ("issues", "status", {"open", "closed"}),
    ("ota_artifacts", "bundle_type", {"", "appimage", "deb", "rpm", "app", "msi", "nsis"}),
    ("ota_builds", "status", {"pending", "building", "succeeded", "failed"}),
    ("oauth_authorization_codes", "code_challenge_method", {"S256"}),
    ("creator_waitlist", "status", {"pending", "invited", "accepted", "declined"}),
    (
        "reports",
        "target_type",
        {"user", "project", "item", "blog_post", "collection", "git_repo", "issue", "issue_comment"},
    ),
    ("reports", "reason", {"spam", "harassment", "copyright", "illegal", "malware", "other"}),
    ("reports", "status", {"open", "resolved", "dismissed"}),
    ("import_jobs", "source", {"patreon", "kofi", "gumroad"}),
    ("import_jobs", "status", {"pending", "running", "succeeded", "failed", "canceled"}),
]

# (table, leading key columns of some index): the lookup indexes the spec lists per table.
LOOKUP_INDEXES = [
    ("users", ("lower(email)",)),
    ("users", ("username",)),
    ("users", ("email_verified",)),
    ("users", ("stripe_account_id",)),
    ("login_tokens", ("user_id",)),
    ("login_tokens", ("expires_at",)),
    ("user_sessions", ("user_id",)),
    ("web_sessions", ("expiry_date",)),
    ("projects", ("user_id",)),
    ("projects", ("is_public",)),
    ("projects", ("category_id",)),
    ("items", ("project_id",)),
    ("items", ("is_public",)),
    ("items", ("sales_count",)),
    ("items", ("project_id", "slug")),
    ("tags", ("parent_id",)),
    ("tags", ("slug",)),
    ("transactions", ("buyer_id",)),
    ("transactions", ("seller_id",)),
    ("transactions", ("item_id",)),
    ("transactions", ("status",)),
    ("transactions", ("stripe_checkout_session_id",)),
    ("issues", ("repo_id", "status")),
    ("issues", ("author_user_id",)),
    ("sync_log", ("app_id", "user_id", "seq")),
]

# (table, key column, access method, operator class)
SEARCH_INDEXES = [
    ("items", "search_vector", "gin", "tsvector_ops"),
    ("items", "title", "gin", "gin_trgm_ops"),
    ("items", "description", "gin", "gin_trgm_ops"),
    ("projects", "title", "gin", "gin_trgm_ops"),
    ("projects", "description", "gin", "gin_trgm_ops"),
    ("tags", "name", "gin", "gin_trgm_ops"),
    ("tags", "path", "btree", "text_pattern_ops"),
]

SPEC_UPDATED_AT_TRIGGERS = ["users", "projects", "items", "custom_links"]

# (table, column, type, NOT NULL, default as PostgreSQL prints it or None)
COLUMNS = [
    ("users", "totp_secret", "text", False, None),
    ("users", "failed_login_attempts", "integer", True, "0"),
    ("users", "storage_used_bytes", "bigint", True, "0"),
    ("users", "is_admin", "boolean", True, "false"),
    ("users", "notify_sale", "boolean", True, "true"),
    ("users", "notify_follower", "boolean", True, "true"),
    ("users", "notify_release", "boolean", True, "true"),
    ("users", "notify_issues", "boolean", True, "true"),
    ("login_tokens", "token_hash", "bytea", True, None),
    ("user_sessions", "token_hash", "bytea", True, None),
    ("user_sessions", "ip_address", "inet", False, None),
    ("user_sessions", "last_seen_at", "timestamp with time zone", True, "now()"),
    ("backup_codes", "code_hash", "text", True, None),
    ("sync_apps", "api_key_hash", "bytea", True, None),
    ("sync_apps", "api_key_prefix", "text", True, None),
    ("sync_apps", "redirect_uris", "text[]", True, "'{}'::text[]"),
    ("oauth_authorization_codes", "code_hash", "bytea", True, None),
    ("web_sessions", "id", "text", True, None),
    ("web_sessions", "data", "jsonb", True, "'{}'::jsonb"),
    ("web_sessions", "expiry_date", "timestamp with time zone", True, None),
    ("projects", "features", "text[]", True, "'{}'::text[]"),
    ("items", "price_cents", "integer", True, "0"),
    ("versions", "file_size_bytes", "bigint", False, None),
    ("sync_devices", "last_mutation_id", "bigint", True, "0"),
    ("sync_devices", "platform", "text", False, None),
    ("sync_devices", "last_seen_at", "timestamp with time zone", True, "now()"),
    ("sync_devices", "revoked_at", "timestamp with time zone", False, None),
    ("sync_keys", "key_version", "integer", True, "1"),
    ("sync_keys", "encrypted_key", "text", True, None),
    ("sync_log", "seq", "bigint", True, "nextval('sync_log_seq_seq'::regclass)"),
    ("sync_log", "mutation_id", "bigint", False, None),
    ("sync_log", "data", "jsonb", False, None),
    ("sync_log", "client_timestamp", "timestamp with time zone", False, None),
    ("sync_log", "server_time", "timestamp with time zone", True, "now()"),
    ("sync_blobs", "size_bytes", "bigint", True, None),
    ("ssh_keys", "fingerprint", "text", True, None),
    ("ssh_keys", "last_used_at", "timestamp with time zone", False, None),
    ("git_repos", "is_private", "boolean", True, "false"),
    ("git_repos", "default_branch", "text", True, "'main'::text"),
    ("issues", "status", "text", True, "'open'::text"),
    ("ota_releases", "pub_date", "timestamp with time zone", True, "now()"),
    ("ota_releases", "is_published", "boolean", True, "false"),
    ("ota_artifacts", "bundle_type", "text", True, "''::text"),
    ("ota_artifacts", "file_size", "bigint", True, None),
    ("ota_build_configs", "targets", "text[]", True, "'{}'::text[]"),
    ("content_insertions", "file_size", "bigint", True, None),
    ("media_files", "size_bytes", "bigint", True, None),
]


@dataclass(frozen=True)
class Column:
    type: str
    not_null: bool
    default: str | None
    generated: str


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    delete_rule: str


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    unique: bool
    primary: bool
    method: str
    columns: tuple[str, ...]
    opclasses: tuple[str, ...]
    predicate: str | None


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    columns: tuple[str, ...]
    definition: str


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str
    event: str
    orientation: str
    statement: str


@dataclass(frozen=True)
class Catalog:
    tables: frozenset[str]
    columns: dict[tuple[str, str], Column]
    primary_keys: dict[str, tuple[str, ...]]
    foreign_keys: list[ForeignKey]
    indexes: list[Index]
    checks: list[Check]
    triggers: list[Trigger]
    extensions: frozenset[str]
    sync_log_sequence: str | None
    sync_log_sequence_type: str | None

    def index_named(self, name: str) -> Index | None:
        return next((i for i in self.indexes if i.name == name), None)


CONSTRAINTS_SQL = """
SELECT con.conname AS name,
       con.contype::text AS kind,
       cl.relname AS table_name,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[]
           AS columns,
       ref.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)::text[]
           AS ref_columns,
       con.confdeltype::text AS delete_rule,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con
JOIN pg_class cl ON cl.oid = con.conrelid
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
WHERE con.connamespace = 'public'::regnamespace AND con.contype IN ('p', 'f', 'c')
"""

INDEXES_SQL = """
SELECT i.relname AS name, t.relname AS table_name, x.indisunique AS is_unique, x.indisprimary AS is_primary,
       am.amname AS method,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) FROM generate_series(1, x.indnkeyatts) AS k
             ORDER BY k) AS columns,
       ARRAY(SELECT opc.opcname FROM generate_series(1, x.indnkeyatts) AS k
             JOIN pg_opclass opc ON opc.oid = x.indclass[k - 1] ORDER BY k)::text[] AS opclasses,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE t.relnamespace = 'public'::regnamespace
"""

COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attgenerated::text AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
"""

TRIGGERS_SQL = """
SELECT trigger_name, event_object_table, action_timing, event_manipulation, action_orientation, action_statement
FROM information_schema.triggers
WHERE trigger_schema = 'public'
"""


async def _read_catalog(conn: asyncpg.Connection) -> Catalog:
    tables = await conn.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
    )
    constraints = await conn.fetch(CONSTRAINTS_SQL)
    sequence = await conn.fetchval("SELECT pg_get_serial_sequence('sync_log', 'seq')")
    sequence_type = await conn.fetchval(
        "SELECT format_type(seqtypid, NULL) FROM pg_sequence WHERE seqrelid = to_regclass($1)", sequence
    )
    return Catalog(
        tables=frozenset(r["relname"] for r in tables),
        columns={
            (r["table_name"], r["column_name"]): Column(r["type"], r["not_null"], r["default_expr"], r["generated"])
            for r in await conn.fetch(COLUMNS_SQL)
        },
        primary_keys={r["table_name"]: tuple(r["columns"]) for r in constraints if r["kind"] == "p"},
        foreign_keys=[
            ForeignKey(
                r["name"],
                r["table_name"],
                tuple(r["columns"]),
                r["ref_table"],
                tuple(r["ref_columns"]),
                r["delete_rule"],
            )
            for r in constraints
            if r["kind"] == "f"
        ],
        indexes=[
            Index(
                r["name"],
                r["table_name"],
                r["is_unique"],
                r["is_primary"],
                r["method"],
                tuple(r["columns"]),
                tuple(r["opclasses"]),
                r["predicate"],
            )
            for r in await conn.fetch(INDEXES_SQL)
        ],
        checks=[
            Check(r["name"], r["table_name"], tuple(r["columns"]), r["definition"])
            for r in constraints
            if r["kind"] == "c"
        ],
        triggers=[Trigger(*r) for r in await conn.fetch(TRIGGERS_SQL)],
        extensions=frozenset(r["extname"] for r in await conn.fetch("SELECT extname FROM pg_extension")),
        sync_log_sequence=sequence,
        sync_log_sequence_type=sequence_type,
    )


async def _snapshot(url: str) -> Catalog:
    conn = await asyncpg.connect(url)
    try:
        return await _read_catalog(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def catalog(shared_db_url: str) -> Catalog:
    return asyncio.run(_snapshot(shared_db_url))


def test_the_spec_names_sixty_tables() -> None:
    assert len(SPEC_TABLES) == len(set(SPEC_TABLES)) == 60


def test_every_spec_table_exists(catalog: Catalog) -> None:
    assert sorted(set(SPEC_TABLES) - catalog.tables) == []


@pytest.mark.parametrize("table", SPEC_TABLES)
def test_primary_key(catalog: Catalog, table: str) -> None:
    expected = PRIMARY_KEYS.get(table, ("id",))
    assert catalog.primary_keys.get(table) == expected
    if expected == ("id",) and table != "web_sessions":
        assert catalog.columns[(table, "id")] == Column("uuid", True, "gen_random_uuid()", "")


@pytest.mark.parametrize("table", [t for t in SPEC_TABLES if t != "sync_log"])
def test_created_at(catalog: Catalog, table: str) -> None:
    assert catalog.columns[(table, "created_at")] == Column("timestamp with time zone", True, "now()", "")


def test_sync_log_server_time_is_its_created_at(catalog: Catalog) -> None:
    assert ("sync_log", "created_at") not in catalog.columns
    assert catalog.columns[("sync_log", "server_time")].default == "now()"


def test_every_timestamp_has_a_time_zone(catalog: Catalog) -> None:
    naive = [key for key, column in catalog.columns.items() if column.type.startswith("timestamp without")]
    assert naive == []


def test_byte_sizes_are_bigint(catalog: Catalog) -> None:
    sizes = {key: column.type for key, column in catalog.columns.items() if re.search(r"(_bytes|_size)$", key[1])}
    assert len(sizes) >= 7
    assert {key: t for key, t in sizes.items() if t != "bigint"} == {}


def test_secrets_are_stored_only_hashed(catalog: Catalog) -> None:
    plain = {"token", "api_key", "code_verifier", "password", "secret", "refresh_token", "access_token"}
    assert [key for key in catalog.columns if key[1] in plain] == []
    assert ("oauth_authorization_codes", "code") not in catalog.columns
    assert ("sync_apps", "api_key") not in catalog.columns


@pytest.mark.parametrize(("table", "column", "type_", "not_null", "default"), COLUMNS)
def test_column(catalog: Catalog, table: str, column: str, type_: str, not_null: bool, default: str | None) -> None:
    assert catalog.columns[(table, column)] == Column(type_, not_null, default, "")


@pytest.mark.parametrize(("table", "column", "ref_table", "rule"), SPEC_FOREIGN_KEYS + ADDED_FOREIGN_KEYS)
def test_foreign_key_delete_rule(catalog: Catalog, table: str, column: str, ref_table: str, rule: str) -> None:
    found = [fk for fk in catalog.foreign_keys if fk.table == table and fk.columns == (column,)]
    assert [(fk.name, fk.ref_table, fk.ref_columns, fk.delete_rule) for fk in found] == [
        (f"{table}_{column}_fkey", ref_table, ("id",), rule)
    ]


def test_every_foreign_key_is_listed(catalog: Catalog) -> None:
    listed = {(t, c) for t, c, _, _ in SPEC_FOREIGN_KEYS + ADDED_FOREIGN_KEYS}
    actual = {(fk.table, fk.columns[0]) for fk in catalog.foreign_keys if fk.table in SPEC_TABLES}
    assert sorted(actual - listed) == []
    assert all(len(fk.columns) == 1 for fk in catalog.foreign_keys)


def test_every_foreign_key_column_leads_an_index(catalog: Catalog) -> None:
    leading = {(i.table, i.columns[0]) for i in catalog.indexes}
    unindexed = [(fk.table, fk.columns[0]) for fk in catalog.foreign_keys if (fk.table, fk.columns[0]) not in leading]
    assert unindexed == []


@pytest.mark.parametrize(("name", "table", "columns", "predicate"), UNIQUES, ids=[u[0] for u in UNIQUES])
def test_unique(catalog: Catalog, name: str, table: str, columns: tuple[str, ...], predicate: str | None) -> None:
    index = catalog.index_named(name)
    assert index is not None, f"no unique index {name}"
    assert (index.table, index.unique, index.columns, index.predicate) == (table, True, columns, predicate)


def test_ota_artifacts_are_not_unique_per_target_and_arch_alone(catalog: Catalog) -> None:
    """Tauri v2 ships several installers per platform, so the spec's UNIQUE(release_id, target, arch) is widened."""
    narrow = [
        i.name
        for i in catalog.indexes
        if i.table == "ota_artifacts" and i.unique and set(i.columns) <= {"release_id", "target", "arch"}
    ]
    assert narrow == []


def _literals(definition: str) -> set[str]:
    return {m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'::text", definition)}


@pytest.mark.parametrize(("table", "column", "values"), ENUMERATIONS)
def test_enumeration(catalog: Catalog, table: str, column: str, values: set[str]) -> None:
    checks = [c for c in catalog.checks if c.table == table and c.columns == (column,) and _literals(c.definition)]
    assert [c.name for c in checks] == [f"{table}_{column}_check"]
    assert _literals(checks[0].definition) == values


@pytest.mark.parametrize(("table", "columns"), LOOKUP_INDEXES)
def test_lookup_index(catalog: Catalog, table: str, columns: tuple[str, ...]) -> None:
    assert any(
        i.table == table and i.method == "btree" and i.predicate is None and i.columns[: len(columns)] == columns
        for i in catalog.indexes
    )


@pytest.mark.parametrize(("table", "column", "method", "opclass"), SEARCH_INDEXES)
def test_search_index(catalog: Catalog, table: str, column: str, method: str, opclass: str) -> None:
    found = [
        (i.method, i.opclasses, i.predicate) for i in catalog.indexes if i.table == table and i.columns == (column,)
    ]
    assert (method, (opclass,), None) in found


def test_items_search_vector_is_generated_from_title_description_and_body(catalog: Catalog) -> None:
    column = catalog.columns[("items", "search_vector")]
    assert (column.type, column.generated) == ("tsvector", "s")
    assert column.default is not None
    assert column.default.startswith("to_tsvector('english'::regconfig")
    for source in ("title", "description", "body"):
        assert f"COALESCE({source}, ''::text)" in column.default


def test_pg_trgm_is_installed(catalog: Catalog) -> None:
    assert "pg_trgm" in catalog.extensions


def test_sync_log_seq_is_a_bigint_sequence(catalog: Catalog) -> None:
    assert catalog.primary_keys["sync_log"] == ("seq",)
    assert catalog.columns[("sync_log", "seq")].type == "bigint"
    assert catalog.sync_log_sequence == "public.sync_log_seq_seq"
    assert catalog.sync_log_sequence_type == "bigint"


def test_sync_log_pull_index(catalog: Catalog) -> None:
    index = catalog.index_named("sync_log_app_user_seq_idx")
    assert index is not None
    assert (index.table, index.method, index.columns, index.predicate) == (
        "sync_log",
        "btree",
        ("app_id", "user_id", "seq"),
        None,
    )


def _updated_at_trigger(catalog: Catalog, table: str) -> Trigger | None:
    return next((t for t in catalog.triggers if t.name == f"update_{table}_updated_at"), None)


@pytest.mark.parametrize("table", SPEC_UPDATED_AT_TRIGGERS)
def test_spec_updated_at_trigger(catalog: Catalog, table: str) -> None:
    assert _updated_at_trigger(catalog, table) == Trigger(
        f"update_{table}_updated_at",
        table,
        "BEFORE",
        "UPDATE",
        "ROW",
        "EXECUTE FUNCTION update_updated_at_column()",
    )


def test_every_updated_at_column_has_its_trigger(catalog: Catalog) -> None:
    tables = sorted(t for t, c in catalog.columns if c == "updated_at")
    assert len(tables) > len(SPEC_UPDATED_AT_TRIGGERS)
    missing = [t for t in tables if _updated_at_trigger(catalog, t) is None]
    assert missing == []
    assert {(t.table, t.timing, t.event, t.orientation) for t in catalog.triggers if t.name.startswith("update_")} == {
        (t, "BEFORE", "UPDATE", "ROW") for t in tables
    }
