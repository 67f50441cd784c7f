-- Daemons remember recently checked access tokens (mnwd/oauth/bearer_cache.py). Whatever could make such a
-- check wrong tells every daemon, on commit, to forget them all: these changes are rare, and PostgreSQL sends
-- one notification per transaction however many rows it touches.
CREATE FUNCTION mnwd_bearers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mnwd_bearers', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER oauth_access_tokens_bearers_changed
    AFTER UPDATE ON oauth_access_tokens FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
          OR OLD.grant_id IS DISTINCT FROM NEW.grant_id OR OLD.token_hash IS DISTINCT FROM NEW.token_hash)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER oauth_access_tokens_bearers_deleted
    AFTER DELETE ON oauth_access_tokens FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();

CREATE TRIGGER oauth_grants_bearers_changed
    AFTER UPDATE ON oauth_grants FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.device_id IS DISTINCT FROM NEW.device_id
          OR OLD.scope IS DISTINCT FROM NEW.scope OR OLD.app_id IS DISTINCT FROM NEW.app_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER oauth_grants_bearers_deleted
    AFTER DELETE ON oauth_grants FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();

CREATE TRIGGER sync_apps_bearers_changed
    AFTER UPDATE ON sync_apps FOR EACH ROW
    WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER sync_apps_bearers_deleted
    AFTER DELETE ON sync_apps FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();

CREATE TRIGGER users_bearers_changed
    AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.suspended_at IS DISTINCT FROM NEW.suspended_at OR OLD.username IS DISTINCT FROM NEW.username
          OR OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER users_bearers_deleted
    AFTER DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();

CREATE TRIGGER sync_devices_bearers_changed
    AFTER UPDATE ON sync_devices FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION mnwd_bearers_changed();
CREATE TRIGGER sync_devices_bearers_deleted
    AFTER DELETE ON sync_devices FOR EACH STATEMENT EXECUTE FUNCTION mnwd_bearers_changed();
