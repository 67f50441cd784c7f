-- When a creator last reinstated a key: the refund sweep leaves a key reinstated after its refund alone
-- (updated_at would not do: every activation changes the row).
ALTER TABLE license_keys ADD COLUMN reinstated_at TIMESTAMPTZ;
