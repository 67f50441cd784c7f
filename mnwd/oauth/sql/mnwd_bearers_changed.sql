-- Repeatable (mnwd/db/migrations.py): re-applied whenever this text changes. First created by migration 0014;
-- its triggers are those of migration 0040 (deferred to commit, one per changed row).
--
-- Daemons remember recently checked access tokens (mnwd/oauth/bearer_cache.py). Whatever could make such a
-- check wrong tells every daemon, on commit, to forget them all: these changes are rare. The transaction
-- counts one new bearer epoch, however many rows it touches, and the notification carries it, so a daemon
-- knows which epoch it has heard of. The channel is mnwd.oauth.bearer_cache.CHANNEL
-- (tests/oauth/test_bearer_triggers.py checks they agree).

CREATE OR REPLACE FUNCTION mnwd_bearers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    counted bigint;
BEGIN
    IF current_setting('mnwd.bearer_epoch_counted', true) = 'yes' THEN
        RETURN NULL;
    END IF;
    UPDATE bearer_epoch SET epoch = epoch + 1 RETURNING epoch INTO counted;
    PERFORM set_config('mnwd.bearer_epoch_counted', 'yes', true);
    PERFORM pg_notify('mnwd_bearers', counted::text);
    RETURN NULL;
END
$$;
