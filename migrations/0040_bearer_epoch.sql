-- The bearer epoch: a counter of the changes that tell daemons to forget remembered token checks
-- (mnwd/oauth/bearer_cache.py), so that a daemon can tell whether it has heard of every such change
-- committed before a given moment.
--
-- The count is a row, not a sequence: it is transactional (a rolled-back change leaves no gap) and its row
-- lock is held until commit, so epochs are given in commit order, the order NOTIFY delivers them in. A sync
-- push reads it in its own statement; the daemon that committed the push pokes its own event streams at
-- once when it has already heard of that epoch (otherwise it waits for the poke to come back through
-- LISTEN, behind the revocation). The triggers below are deferred to commit, and count once per
-- transaction, so the row is locked only for the instant of a commit and never before another lock.
CREATE TABLE bearer_epoch (
    only_row boolean PRIMARY KEY DEFAULT true,
    epoch bigint NOT NULL,
    CONSTRAINT bearer_epoch_one_row CHECK (only_row)
);
INSERT INTO bearer_epoch (epoch) VALUES (0);

DROP TRIGGER oauth_access_tokens_bearers_changed ON oauth_access_tokens;
DROP TRIGGER oauth_access_tokens_bearers_deleted ON oauth_access_tokens;
DROP TRIGGER oauth_grants_bearers_changed ON oauth_grants;
DROP TRIGGER oauth_grants_bearers_deleted ON oauth_grants;
DROP TRIGGER sync_apps_bearers_changed ON sync_apps;
DROP TRIGGER sync_apps_bearers_deleted ON sync_apps;
DROP TRIGGER users_bearers_changed ON users;
DROP TRIGGER users_bearers_deleted ON users;
DROP TRIGGER sync_devices_bearers_changed ON sync_devices;
DROP TRIGGER sync_devices_bearers_deleted ON sync_devices;
DROP TRIGGER personal_access_tokens_bearers_changed ON personal_access_tokens;
DROP TRIGGER personal_access_tokens_bearers_deleted ON personal_access_tokens;

CREATE CONSTRAINT TRIGGER oauth_access_tokens_bearers_changed
    AFTER UPDATE ON oauth_access_tokens DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.grant_id IS DISTINCT FROM NEW.grant_id OR OLD.token_hash IS DISTINCT FROM NEW.token_hash)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER oauth_access_tokens_bearers_deleted
    AFTER DELETE ON oauth_access_tokens DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();

CREATE CONSTRAINT TRIGGER oauth_grants_bearers_changed
    AFTER UPDATE ON oauth_grants DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.device_id IS DISTINCT FROM NEW.device_id
          OR OLD.scope IS DISTINCT FROM NEW.scope OR OLD.app_id IS DISTINCT FROM NEW.app_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER oauth_grants_bearers_deleted
    AFTER DELETE ON oauth_grants DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();

CREATE CONSTRAINT TRIGGER sync_apps_bearers_changed
    AFTER UPDATE ON sync_apps DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER sync_apps_bearers_deleted
    AFTER DELETE ON sync_apps DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();

CREATE CONSTRAINT TRIGGER users_bearers_changed
    AFTER UPDATE ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.suspended_at IS DISTINCT FROM NEW.suspended_at OR OLD.username IS DISTINCT FROM NEW.username
          OR OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER users_bearers_deleted
    AFTER DELETE ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();

CREATE CONSTRAINT TRIGGER sync_devices_bearers_changed
    AFTER UPDATE ON sync_devices DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER sync_devices_bearers_deleted
    AFTER DELETE ON sync_devices DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();

CREATE CONSTRAINT TRIGGER personal_access_tokens_bearers_changed
    AFTER UPDATE ON personal_access_tokens DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.token_hash IS DISTINCT FROM NEW.token_hash OR OLD.scopes IS DISTINCT FROM NEW.scopes
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE CONSTRAINT TRIGGER personal_access_tokens_bearers_deleted
    AFTER DELETE ON personal_access_tokens DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION mnwd_bearers_changed();
