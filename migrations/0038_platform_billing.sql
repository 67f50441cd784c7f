-- Billing of the platform (docs/platform.md): creator tiers and Fan+ through Stripe Checkout on the platform's
-- own Stripe account.

-- The Stripe Prices the platform sells, created on first use and remembered: one per plan, amount, currency and
-- interval (a new amount in the settings makes a new Price; subscriptions on an old one keep their plan).
CREATE TABLE platform_prices (
    stripe_price_id    TEXT PRIMARY KEY,
    stripe_product_id  TEXT NOT NULL,
    plan               TEXT NOT NULL,
    amount_cents       INTEGER NOT NULL,
    currency           TEXT NOT NULL DEFAULT 'usd',
    billing_interval   TEXT NOT NULL DEFAULT 'month',
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT platform_prices_plan_check
        CHECK (plan IN ('basic', 'small_files', 'big_files', 'everything', 'fan_plus')),
    CONSTRAINT platform_prices_amount_cents_check CHECK (amount_cents > 0),
    CONSTRAINT platform_prices_billing_interval_check CHECK (billing_interval IN ('month', 'year')),
    CONSTRAINT platform_prices_one_per_amount UNIQUE (plan, amount_cents, currency, billing_interval)
);

-- The Checkout Session that last started a subscription (its events find the row by it), and since when a
-- creator's payment has failed (the grace period runs from there; grace_enforced_at is set when it ran out).
ALTER TABLE creator_subscriptions
    ADD COLUMN stripe_checkout_session_id TEXT,
    ADD COLUMN past_due_since TIMESTAMPTZ;

ALTER TABLE fan_plus_subscriptions
    ADD COLUMN stripe_checkout_session_id TEXT;

CREATE INDEX creator_subscriptions_past_due_idx ON creator_subscriptions (past_due_since)
    WHERE status = 'past_due' AND grace_enforced_at IS NULL;
