-- Comps issued to an e-mail address nobody had an account for: found by that address when its owner's account
-- has it verified (the key then becomes theirs, mnwd/licensing/issuance.py claim_comps).
CREATE INDEX license_keys_unclaimed_email_idx ON license_keys (lower(issued_to_email))
    WHERE owner_id IS NULL AND issued_to_email IS NOT NULL;

-- Daemons answer validations from memory (mnwd/licensing/validations.py). Every change to a key or to its
-- seats tells every daemon which key changed, on commit, whoever made it (cascades included). A seat's
-- "last seen" alone is not such a change.
CREATE FUNCTION license_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'license_keys' THEN
        PERFORM pg_notify('license_changes', OLD.id::text);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('license_changes', OLD.license_key_id::text);
    ELSE
        PERFORM pg_notify('license_changes', NEW.license_key_id::text);
        IF TG_OP = 'UPDATE' AND OLD.license_key_id IS DISTINCT FROM NEW.license_key_id THEN
            PERFORM pg_notify('license_changes', OLD.license_key_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER license_keys_changed
    AFTER UPDATE OR DELETE ON license_keys FOR EACH ROW EXECUTE FUNCTION license_changed();
CREATE TRIGGER license_activations_changed
    AFTER INSERT OR DELETE OR UPDATE OF license_key_id, machine_id, machine_name, platform, app_version,
        lease_expires_at, created_at
    ON license_activations FOR EACH ROW EXECUTE FUNCTION license_changed();
