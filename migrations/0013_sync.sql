-- SyncKit: the compaction horizon per stream. A pull whose cursor is below the horizon (and above 0)
-- may have missed dropped rows and must refetch from 0.

CREATE TABLE sync_horizons (
    app_id        UUID NOT NULL CONSTRAINT sync_horizons_app_id_fkey REFERENCES sync_apps (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL CONSTRAINT sync_horizons_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    horizon_seq   BIGINT NOT NULL,
    compacted_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_horizons_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT sync_horizons_horizon_seq_check CHECK (horizon_seq >= 0)
);

CREATE INDEX sync_horizons_user_id_idx ON sync_horizons (user_id);

-- Compaction finds the newest operation per row.
CREATE INDEX sync_log_row_idx ON sync_log (app_id, user_id, table_name, row_id, seq);

-- The horizon a device's refetch (a pull from cursor 0) started under: its later pages, with cursors below
-- the horizon, are served as long as no newer compaction moved the horizon.
ALTER TABLE sync_devices ADD COLUMN refetch_horizon BIGINT;

-- "Is this content still used by anyone?" before a stored blob file is deleted.
CREATE INDEX sync_blobs_hash_idx ON sync_blobs (hash);
