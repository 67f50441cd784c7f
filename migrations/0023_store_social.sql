-- Store social: one open report per reporter and target (a second report of the same thing by the same
-- person while the first is open is refused with 409), and the indexes the feed and the media library read by.

CREATE UNIQUE INDEX reports_one_open_per_reporter_target
    ON reports (reporter_id, target_type, target_id) WHERE status = 'open';

-- The follows of one user by kind (the feed starts there); follows_follower_id_target_type_target_id_key
-- already leads with follower_id and target_type.

-- A creator's library, newest first, per folder.
CREATE INDEX media_files_user_id_folder_created_at_idx ON media_files (user_id, folder, created_at DESC);

-- Collections in position order.
CREATE INDEX collection_items_collection_id_position_idx ON collection_items (collection_id, position);

-- Versions and items newest first, for the feed.
CREATE INDEX versions_item_id_created_at_idx ON versions (item_id, created_at DESC);
