-- Git repositories count against their owner's storage: git_repos.size_bytes is the bare repo's size on disk
-- as last measured (after each push), and users.storage_used_bytes holds it among the account's other bytes.
-- The daemon adds the difference when it measures; deleting a repo (or its owner's account) gives it back here,
-- in the deleting transaction, whoever deletes it.

ALTER TABLE git_repos ADD COLUMN size_bytes BIGINT NOT NULL DEFAULT 0
    CONSTRAINT git_repos_size_bytes_check CHECK (size_bytes >= 0);

CREATE FUNCTION git_repos_release_storage() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.size_bytes > 0 THEN
        UPDATE users SET storage_used_bytes = GREATEST(storage_used_bytes - OLD.size_bytes, 0)
        WHERE id = OLD.user_id;
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER git_repos_release_storage AFTER DELETE ON git_repos
    FOR EACH ROW EXECUTE FUNCTION git_repos_release_storage();
