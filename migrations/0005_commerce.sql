-- Commerce: per-project subscription tiers and subscriptions, Stripe webhook events, promo codes,
-- one-off purchases, license keys and their machine activations; the platform's own creator and
-- Fan+ subscriptions.

CREATE TABLE subscription_tiers (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id         UUID NOT NULL
        CONSTRAINT subscription_tiers_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT,
    price_cents        INTEGER NOT NULL,
    currency           TEXT NOT NULL DEFAULT 'usd',
    billing_interval   TEXT NOT NULL DEFAULT 'month',
    stripe_product_id  TEXT,
    stripe_price_id    TEXT,
    is_active          BOOLEAN NOT NULL DEFAULT true,
    sort_order         INTEGER NOT NULL DEFAULT 0,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT subscription_tiers_project_id_name_key UNIQUE (project_id, name),
    CONSTRAINT subscription_tiers_stripe_price_id_key UNIQUE (stripe_price_id),
    CONSTRAINT subscription_tiers_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT subscription_tiers_price_cents_check CHECK (price_cents >= 0),
    CONSTRAINT subscription_tiers_currency_format CHECK (currency ~ '^[a-z]{3}$'),
    CONSTRAINT subscription_tiers_billing_interval_check CHECK (billing_interval IN ('month', 'year'))
);

CREATE TRIGGER update_subscription_tiers_updated_at BEFORE UPDATE ON subscription_tiers
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Promo codes are per creator; a code is stored upper-case so matching is case-insensitive.
-- discount: discount_type + discount_value (percent 1..100, or fixed cents > 0); free_access: the
-- target for free; free_trial: trial_days on a subscription tier. Fields of other purposes stay NULL.
-- Targets are SET NULL on delete, so no CHECK may require one.
CREATE TABLE promo_codes (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id      UUID NOT NULL CONSTRAINT promo_codes_creator_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    code            TEXT NOT NULL,
    code_purpose    TEXT NOT NULL,
    discount_type   TEXT,
    discount_value  INTEGER,
    trial_days      INTEGER,
    item_id         UUID CONSTRAINT promo_codes_item_id_fkey REFERENCES items (id) ON DELETE SET NULL,
    project_id      UUID CONSTRAINT promo_codes_project_id_fkey REFERENCES projects (id) ON DELETE SET NULL,
    tier_id         UUID CONSTRAINT promo_codes_tier_id_fkey REFERENCES subscription_tiers (id) ON DELETE SET NULL,
    max_uses        INTEGER,
    use_count       INTEGER NOT NULL DEFAULT 0,
    starts_at       TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT promo_codes_creator_id_code_key UNIQUE (creator_id, code),
    CONSTRAINT promo_codes_code_format CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{2,63}$'),
    CONSTRAINT promo_codes_code_purpose_check CHECK (code_purpose IN ('discount', 'free_access', 'free_trial')),
    CONSTRAINT promo_codes_discount_type_check CHECK (discount_type IN ('percent', 'fixed')),
    CONSTRAINT promo_codes_discount_fields CHECK (
        CASE code_purpose
            WHEN 'discount' THEN discount_type IS NOT NULL
                AND discount_value IS NOT NULL
                AND discount_value > 0
                AND (discount_type <> 'percent' OR discount_value <= 100)
            ELSE discount_type IS NULL AND discount_value IS NULL
        END
    ),
    CONSTRAINT promo_codes_trial_fields CHECK (
        CASE code_purpose
            WHEN 'free_trial' THEN trial_days IS NOT NULL AND trial_days BETWEEN 1 AND 365
            ELSE trial_days IS NULL
        END
    ),
    CONSTRAINT promo_codes_free_trial_not_for_items CHECK (code_purpose <> 'free_trial' OR item_id IS NULL),
    CONSTRAINT promo_codes_single_target CHECK (num_nonnulls(item_id, project_id, tier_id) <= 1),
    CONSTRAINT promo_codes_max_uses_check CHECK (max_uses IS NULL OR max_uses > 0),
    CONSTRAINT promo_codes_use_count_check CHECK (use_count >= 0),
    CONSTRAINT promo_codes_use_count_within_max CHECK (max_uses IS NULL OR use_count <= max_uses),
    CONSTRAINT promo_codes_window_order CHECK (starts_at IS NULL OR expires_at IS NULL OR starts_at < expires_at)
);

-- promo_codes_creator_id_code_key serves lookups by creator and by (creator_id, code).
CREATE INDEX promo_codes_item_id_idx ON promo_codes (item_id);
CREATE INDEX promo_codes_project_id_idx ON promo_codes (project_id);
CREATE INDEX promo_codes_tier_id_idx ON promo_codes (tier_id);

CREATE TRIGGER update_promo_codes_updated_at BEFORE UPDATE ON promo_codes
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- tier_id is RESTRICT: a tier with subscribers is deactivated (is_active = false), never deleted.
-- Deleting the whole project (or its owner) still works: PostgreSQL checks the RESTRICT for a tier
-- removed by that cascade only after the project's subscriptions have been cascaded away too.
CREATE TABLE subscriptions (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscriber_id           UUID NOT NULL
        CONSTRAINT subscriptions_subscriber_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    tier_id                 UUID NOT NULL
        CONSTRAINT subscriptions_tier_id_fkey REFERENCES subscription_tiers (id) ON DELETE RESTRICT,
    project_id              UUID NOT NULL
        CONSTRAINT subscriptions_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    promo_code_id           UUID
        CONSTRAINT subscriptions_promo_code_id_fkey REFERENCES promo_codes (id) ON DELETE SET NULL,
    status                  TEXT NOT NULL DEFAULT 'incomplete',
    stripe_subscription_id  TEXT,
    stripe_customer_id      TEXT,
    current_period_start    TIMESTAMPTZ,
    current_period_end      TIMESTAMPTZ,
    trial_ends_at           TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT false,
    canceled_at             TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_stripe_subscription_id_key UNIQUE (stripe_subscription_id),
    CONSTRAINT subscriptions_status_check
        CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled', 'expired')),
    CONSTRAINT subscriptions_period_order
        CHECK (current_period_start IS NULL OR current_period_end IS NULL
               OR current_period_start <= current_period_end)
);

CREATE UNIQUE INDEX subscriptions_one_active_per_subscriber_project
    ON subscriptions (subscriber_id, project_id) WHERE status = 'active';
CREATE INDEX subscriptions_subscriber_id_idx ON subscriptions (subscriber_id);
CREATE INDEX subscriptions_tier_id_idx ON subscriptions (tier_id);
CREATE INDEX subscriptions_project_id_idx ON subscriptions (project_id);
CREATE INDEX subscriptions_promo_code_id_idx ON subscriptions (promo_code_id);

CREATE TRIGGER update_subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Stripe webhook events; stripe_event_id makes handling idempotent.
CREATE TABLE subscription_events (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id  UUID
        CONSTRAINT subscription_events_subscription_id_fkey REFERENCES subscriptions (id) ON DELETE SET NULL,
    stripe_event_id  TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          JSONB NOT NULL DEFAULT '{}',
    processed_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT subscription_events_stripe_event_id_key UNIQUE (stripe_event_id)
);

CREATE INDEX subscription_events_subscription_id_idx ON subscription_events (subscription_id);


-- One-off purchases. seller_id and item_id are SET NULL so receipts survive; item_title and
-- seller_username keep what the receipt shows.
CREATE TABLE transactions (
    id                          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    buyer_id                    UUID NOT NULL
        CONSTRAINT transactions_buyer_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    seller_id                   UUID CONSTRAINT transactions_seller_id_fkey REFERENCES users (id) ON DELETE SET NULL,
    item_id                     UUID CONSTRAINT transactions_item_id_fkey REFERENCES items (id) ON DELETE SET NULL,
    promo_code_id               UUID
        CONSTRAINT transactions_promo_code_id_fkey REFERENCES promo_codes (id) ON DELETE SET NULL,
    amount_cents                INTEGER NOT NULL,
    platform_fee_cents          INTEGER NOT NULL DEFAULT 0,
    currency                    TEXT NOT NULL DEFAULT 'usd',
    status                      TEXT NOT NULL DEFAULT 'pending',
    stripe_checkout_session_id  TEXT,
    stripe_payment_intent_id    TEXT,
    item_title                  TEXT NOT NULL,
    seller_username             TEXT NOT NULL,
    completed_at                TIMESTAMPTZ,
    refunded_at                 TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT transactions_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id),
    CONSTRAINT transactions_amount_cents_check CHECK (amount_cents >= 0),
    CONSTRAINT transactions_platform_fee_cents_check CHECK (platform_fee_cents >= 0),
    CONSTRAINT transactions_platform_fee_within_amount CHECK (platform_fee_cents <= amount_cents),
    CONSTRAINT transactions_currency_format CHECK (currency ~ '^[a-z]{3}$'),
    CONSTRAINT transactions_status_check CHECK (status IN ('pending', 'completed', 'failed', 'refunded'))
);

CREATE UNIQUE INDEX transactions_one_completed_per_buyer_item
    ON transactions (buyer_id, item_id) WHERE status = 'completed';
CREATE INDEX transactions_buyer_id_idx ON transactions (buyer_id);
CREATE INDEX transactions_seller_id_idx ON transactions (seller_id);
CREATE INDEX transactions_item_id_idx ON transactions (item_id);
CREATE INDEX transactions_status_idx ON transactions (status);
CREATE INDEX transactions_promo_code_id_idx ON transactions (promo_code_id);

CREATE TRIGGER update_transactions_updated_at BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE license_keys (
    id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id           UUID NOT NULL CONSTRAINT license_keys_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    owner_id          UUID NOT NULL CONSTRAINT license_keys_owner_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    transaction_id    UUID
        CONSTRAINT license_keys_transaction_id_fkey REFERENCES transactions (id) ON DELETE SET NULL,
    key_code          TEXT NOT NULL,
    -- NULL means unlimited activations.
    max_activations   INTEGER DEFAULT 3,
    activation_count  INTEGER NOT NULL DEFAULT 0,
    revoked_at        TIMESTAMPTZ,
    revoked_reason    TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT license_keys_key_code_key UNIQUE (key_code),
    CONSTRAINT license_keys_max_activations_check CHECK (max_activations IS NULL OR max_activations > 0),
    CONSTRAINT license_keys_activation_count_check CHECK (activation_count >= 0),
    CONSTRAINT license_keys_activation_count_within_max
        CHECK (max_activations IS NULL OR activation_count <= max_activations)
);

CREATE INDEX license_keys_item_id_idx ON license_keys (item_id);
CREATE INDEX license_keys_owner_id_idx ON license_keys (owner_id);
CREATE INDEX license_keys_transaction_id_idx ON license_keys (transaction_id);

CREATE TRIGGER update_license_keys_updated_at BEFORE UPDATE ON license_keys
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE license_activations (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    license_key_id  UUID NOT NULL
        CONSTRAINT license_activations_license_key_id_fkey REFERENCES license_keys (id) ON DELETE CASCADE,
    machine_id      TEXT NOT NULL,
    machine_name    TEXT,
    ip_address      INET,
    last_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT license_activations_license_key_id_machine_id_key UNIQUE (license_key_id, machine_id),
    CONSTRAINT license_activations_machine_id_not_blank CHECK (btrim(machine_id) <> '')
);


-- The platform subscription a creator pays (Basic, Small Files, Big Files, Everything); one per creator.
CREATE TABLE creator_subscriptions (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                 UUID NOT NULL
        CONSTRAINT creator_subscriptions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    tier                    TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'incomplete',
    stripe_subscription_id  TEXT,
    stripe_customer_id      TEXT,
    current_period_end      TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT false,
    grace_enforced_at       TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT creator_subscriptions_user_id_key UNIQUE (user_id),
    CONSTRAINT creator_subscriptions_stripe_subscription_id_key UNIQUE (stripe_subscription_id),
    CONSTRAINT creator_subscriptions_tier_check CHECK (tier IN ('basic', 'small_files', 'big_files', 'everything')),
    CONSTRAINT creator_subscriptions_status_check
        CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled', 'expired'))
);

CREATE TRIGGER update_creator_subscriptions_updated_at BEFORE UPDATE ON creator_subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Fan+: the consumer subscription (discoverability and collection features); one per user.
CREATE TABLE fan_plus_subscriptions (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                 UUID NOT NULL
        CONSTRAINT fan_plus_subscriptions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    status                  TEXT NOT NULL DEFAULT 'incomplete',
    stripe_subscription_id  TEXT,
    stripe_customer_id      TEXT,
    current_period_end      TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT false,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT fan_plus_subscriptions_user_id_key UNIQUE (user_id),
    CONSTRAINT fan_plus_subscriptions_stripe_subscription_id_key UNIQUE (stripe_subscription_id),
    CONSTRAINT fan_plus_subscriptions_status_check
        CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled', 'expired'))
);

CREATE TRIGGER update_fan_plus_subscriptions_updated_at BEFORE UPDATE ON fan_plus_subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
