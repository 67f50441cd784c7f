-- Repeatable (mnwd/db/migrations.py): re-applied whenever this text changes. First created by migration 0015.
-- CREATE OR REPLACE cannot change the arguments or result type: that needs a DROP here or a migration.
-- Callers use named notation (mnwd/sync/queries.py), so parameters are matched by name, not position.
--
-- A sync push in one round trip (mnwd/sync/changes.py): the stream lock, the device's progress and the
-- rows in one implicit transaction. Each statement below takes a fresh snapshot after the lock, so it sees
-- every earlier push of the stream. The poke is returned, not sent: a transaction that sends a NOTIFY holds
-- a database-wide lock through its commit, which would serialise every push; the daemon sends it after the
-- commit (mnwd/sync/notifier.py).
--
-- The signature without p_channel and with OUT poke replaced the one that sent the poke itself.
DROP FUNCTION IF EXISTS sync_push(
    uuid, uuid, uuid, bigint, bigint, bigint, bigint[], text[], text[], text[], text[], timestamptz[],
    text, text, boolean, integer
);

-- outcome: 'applied' (device_last is the device's last mutation_id before this push; seqs and mutation_ids
-- the rows written, possibly none), 'no-device', 'revoked', or 'gap' (p_first skips past device_last + 1;
-- nothing written). p_ids … p_stamps are the batch's valid mutations; those at or below device_last are
-- duplicates of a landed push and are skipped. poke (null when no row was written) is p_poke_prefix ||
-- newest seq, and when p_poke_changes and the changes' JSON is at most p_poke_max_bytes,
-- ':' || {"seq","after","changes"}.
CREATE OR REPLACE FUNCTION sync_push(
    p_app uuid, p_user uuid, p_device uuid, p_stream_lock bigint, p_first bigint, p_last bigint,
    p_ids bigint[], p_tables text[], p_ops text[], p_row_ids text[], p_data text[], p_stamps timestamptz[],
    p_poke_prefix text, p_poke_changes boolean, p_poke_max_bytes integer,
    OUT outcome text, OUT device_last bigint, OUT seqs bigint[], OUT mutation_ids bigint[], OUT poke text
)
LANGUAGE plpgsql AS $$
DECLARE
    v_revoked timestamptz;
    v_after bigint;
    v_newest bigint;
    v_changes text;
BEGIN
    -- Rows of one stream commit in seq order: no seq is drawn before the stream's lock is held.
    PERFORM pg_advisory_xact_lock(p_stream_lock);
    SELECT d.last_mutation_id, d.revoked_at INTO device_last, v_revoked
    FROM sync_devices d
    WHERE d.id = p_device AND d.app_id = p_app AND d.user_id = p_user
    FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'no-device';
        RETURN;
    END IF;
    IF v_revoked IS NOT NULL THEN
        outcome := 'revoked';
        RETURN;
    END IF;
    IF p_first > device_last + 1 THEN
        outcome := 'gap';
        RETURN;
    END IF;
    outcome := 'applied';
    IF p_last <= device_last THEN
        RETURN;
    END IF;
    IF p_poke_changes THEN
        SELECT greatest(
            (SELECT max(l.seq) FROM sync_log l WHERE l.app_id = p_app AND l.user_id = p_user),
            (SELECT h.horizon_seq FROM sync_horizons h WHERE h.app_id = p_app AND h.user_id = p_user),
            0
        ) INTO v_after;
    END IF;
    WITH inserted AS (
        INSERT INTO sync_log (app_id, user_id, device_id, mutation_id, table_name, operation, row_id, data,
                              client_timestamp)
        SELECT p_app, p_user, p_device, m.id, m.tbl, m.op, m.row_id, m.data::jsonb, m.stamp
        FROM unnest(p_ids, p_tables, p_ops, p_row_ids, p_data, p_stamps) WITH ORDINALITY
             AS m(id, tbl, op, row_id, data, stamp, ord)
        WHERE m.id > device_last
        ORDER BY m.ord
        RETURNING *
    )
    SELECT array_agg(i.seq ORDER BY i.seq), array_agg(i.mutation_id ORDER BY i.seq), max(i.seq),
           string_agg(sync_change_json(i.seq, i.table_name, i.operation, i.row_id, i.data, i.device_id,
                                       i.client_timestamp, i.server_time), ',' ORDER BY i.seq)
               FILTER (WHERE p_poke_changes)
    INTO seqs, mutation_ids, v_newest, v_changes
    FROM inserted i;
    UPDATE sync_devices SET last_mutation_id = p_last, last_seen_at = now() WHERE id = p_device;
    IF v_newest IS NOT NULL THEN
        poke := p_poke_prefix || v_newest || CASE
            WHEN octet_length(v_changes) <= p_poke_max_bytes
            THEN ':{"seq":' || v_newest || ',"after":' || v_after || ',"changes":[' || v_changes || ']}'
            ELSE ''
        END;
    END IF;
END
$$;
