-- When a creator last reinstated a key: the refund sweep leaves a key reinstated after its refund alone
-- (updated_at would not do: every activation changes the row).
ALTER TABLE license_keys ADD COLUMN reinstated_at TIMESTAMPTZ;

-- A bundle bought once gives one key per licensed item in it: one key per (purchase, item).
DROP INDEX license_keys_transaction_id_key;
CREATE UNIQUE INDEX license_keys_transaction_item_key ON license_keys (transaction_id, item_id)
    WHERE transaction_id IS NOT NULL;
