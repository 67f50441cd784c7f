-- Repeatable (mnwd/db/migrations.py): re-applied whenever this text changes. First created by migration 0015.
-- CREATE OR REPLACE cannot change the arguments or result type: that needs a DROP here or a migration.

-- One sync_log row as the JSON of a change (docs/sync.md "Pull"); pull pages and pokes both write it.
-- Timestamps in UTC with "Z", as msgspec writes them elsewhere in the API.
CREATE OR REPLACE FUNCTION sync_change_json(
    seq bigint, table_name text, operation text, row_id text, data jsonb, device_id uuid,
    client_timestamp timestamptz, server_time timestamptz
) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT '{"seq":' || seq
        || ',"table":' || to_json(table_name)
        || ',"op":' || to_json(operation)
        || ',"row_id":' || to_json(row_id)
        || ',"data":' || coalesce(data::text, 'null')
        || ',"device_id":' || coalesce(to_json(device_id)::text, 'null')
        || ',"client_timestamp":'
        || coalesce(left(to_json(client_timestamp AT TIME ZONE 'UTC')::text, -1) || 'Z"', 'null')
        || ',"server_time":' || left(to_json(server_time AT TIME ZONE 'UTC')::text, -1) || 'Z"'
        || '}'
$$;
