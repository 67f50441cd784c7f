-- Comps issued to an e-mail address nobody had an account for: found by that address when its owner's account
-- has it verified (the key then becomes theirs, mnwd/licensing/issuance.py claim_comps).
CREATE INDEX license_keys_unclaimed_email_idx ON license_keys (lower(issued_to_email))
    WHERE owner_id IS NULL AND issued_to_email IS NOT NULL;
