-- Commerce on Stripe Connect: what the early commerce tables lacked for checkout, the webhook ledger,
-- refunds and disputes, and subscriptions bought through Checkout.

-- A purchase: the connected account it was charged on, the charge once paid, partial refunds, disputes.
-- grants_access is the one rule every reader (store downloads, the library, licensing) applies: completed,
-- and no dispute open or lost.
ALTER TABLE transactions
    ADD COLUMN stripe_account_id TEXT,
    ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN dispute_status TEXT,
    ADD COLUMN failed_at TIMESTAMPTZ,
    ADD COLUMN grants_access BOOLEAN GENERATED ALWAYS AS (
        status = 'completed' AND (dispute_status IS NULL OR dispute_status = 'won')
    ) STORED,
    ADD CONSTRAINT transactions_refunded_cents_check CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    ADD CONSTRAINT transactions_dispute_status_check CHECK (dispute_status IN ('open', 'won', 'lost'));

CREATE INDEX transactions_stripe_payment_intent_id_idx ON transactions (stripe_payment_intent_id);
CREATE INDEX transactions_seller_completed_idx ON transactions (seller_id, completed_at);

-- A subscription row is made 'incomplete' when its Checkout Session is created; the session's events find
-- it by that id. last_event_at orders Stripe's events: an older snapshot never overwrites a newer one.
ALTER TABLE subscriptions
    ADD COLUMN stripe_checkout_session_id TEXT,
    ADD COLUMN stripe_account_id TEXT,
    ADD COLUMN amount_cents INTEGER,
    ADD COLUMN last_event_at TIMESTAMPTZ,
    ADD CONSTRAINT subscriptions_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id);

-- The webhook ledger: every Stripe event once (subscription_events is unique on stripe_event_id already).
ALTER TABLE subscription_events
    ADD COLUMN stripe_account_id TEXT,
    ADD COLUMN livemode BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN event_created TIMESTAMPTZ,
    ADD COLUMN outcome TEXT;

CREATE INDEX subscription_events_created_at_idx ON subscription_events (created_at);
