-- Repeatable (mnwd/db/migrations.py): re-applied whenever this text changes. First created by migration 0014,
-- which also holds the triggers that call it.
--
-- Daemons remember recently checked access tokens (mnwd/oauth/bearer_cache.py). Whatever could make such a
-- check wrong tells every daemon, on commit, to forget them all: these changes are rare, and PostgreSQL sends
-- one notification per transaction however many rows it touches. The channel is
-- mnwd.oauth.bearer_cache.CHANNEL (tests/oauth/test_bearer_triggers.py checks they agree).

CREATE OR REPLACE FUNCTION mnwd_bearers_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mnwd_bearers', '');
    RETURN NULL;
END
$$;
