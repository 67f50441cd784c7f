-- When an account is deleted, the schema's ON DELETE rules remove its projects, items, versions and media
-- files, and nothing would be left to say which stored bytes they named. This trigger runs before the user
-- row goes, while those rows are still there, and queues one `store.files_collect` job (mnwd/store/files.py)
-- per hash they name, in the deleting transaction: the jobs exist exactly when the deletion committed. Each
-- job deletes the bytes only when no row of any domain names them any more (another user's same bytes stay).
-- Every way a user row is deleted queues them, whichever code deletes it. An upload's recording transaction
-- updates the user row (its storage, mnwd.store.storage.add_storage), which the DELETE locks before this
-- trigger reads: an upload that committed first is seen here; one that comes after finds no user and records
-- nothing.
CREATE FUNCTION store_collect_files_of_deleted_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs (kind, payload)
    SELECT 'store.files_collect', jsonb_build_object('sha256', named.sha256)
    FROM (
        SELECT v.sha256
        FROM versions v
        JOIN items i ON i.id = v.item_id
        JOIN projects p ON p.id = i.project_id
        WHERE p.user_id = OLD.id AND v.sha256 IS NOT NULL
        UNION
        SELECT split_part(m.s3_key, '/', 1)
        FROM media_files m
        WHERE m.user_id = OLD.id
    ) AS named
    ORDER BY named.sha256;
    RETURN OLD;
END;
$$;

CREATE TRIGGER users_store_collect_files BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION store_collect_files_of_deleted_user();
