-- Store discovery: full-text search over projects (items have theirs since 0003), title search and the word
-- list that corrects typos, the indexes behind the home page's "new" and "popular" lists and the tag pages,
-- and the first platform labels.

-- Ranked full-text search on a project's title and description, like items.search_vector.
ALTER TABLE projects ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS (
    to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))
) STORED;

CREATE INDEX projects_search_vector_idx ON projects USING gin (search_vector);

-- Search ranks items whose title has the words before those that have them only in their description or
-- body (mnwd.store.search): the title's own full-text vector. Stored, not an expression index: a phrase's
-- recheck, or a filter while walking items by popularity, would otherwise parse the title again per row.
ALTER TABLE items ADD COLUMN title_vector TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', title)) STORED;

CREATE INDEX items_title_vector_idx ON items USING gin (title_vector);

-- Every word of every item's and project's title, for correcting a search's typos: a word the list lacks is
-- replaced by the most alike word in it (pg_trgm similarity, as PostgreSQL's documentation suggests for
-- spelling). Words are added by the triggers below and never removed: a stale word costs a search that finds
-- nothing, no more.
CREATE TABLE search_words (
    word  TEXT PRIMARY KEY,
    CONSTRAINT search_words_word_format CHECK (word ~ '^[[:alnum:]]{3,40}$')
);

CREATE INDEX search_words_word_trgm_idx ON search_words USING gin (word gin_trgm_ops);

CREATE FUNCTION search_words_of(title TEXT) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT w FROM regexp_split_to_table(lower(title), '[^[:alnum:]]+') AS w
    WHERE w ~ '^[[:alnum:]]{3,40}$'
$$;

-- New rows: once per statement (a bulk insert adds its words in one go); a changed title: per row (transition
-- tables cannot go with a column list). Words go in sorted, so two transactions adding the same new words wait
-- for each other in one order and never deadlock.
CREATE FUNCTION add_inserted_search_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
        SELECT DISTINCT search_words_of(title) FROM inserted ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE FUNCTION add_search_words() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word) SELECT w FROM search_words_of(NEW.title) AS w ORDER BY w ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER items_add_inserted_search_words AFTER INSERT ON items
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION add_inserted_search_words();
CREATE TRIGGER items_add_search_words AFTER UPDATE OF title ON items
    FOR EACH ROW EXECUTE FUNCTION add_search_words();
CREATE TRIGGER projects_add_inserted_search_words AFTER INSERT ON projects
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION add_inserted_search_words();
CREATE TRIGGER projects_add_search_words AFTER UPDATE OF title ON projects
    FOR EACH ROW EXECUTE FUNCTION add_search_words();

INSERT INTO search_words (word)
    SELECT search_words_of(title) FROM items UNION SELECT search_words_of(title) FROM projects
ON CONFLICT DO NOTHING;

-- "New" on the home page and on tag pages: public items, newest first. An item counts as new from when it
-- was published, or created when it never was (NEWEST in mnwd/store/queries/discovery.py is the same expression).
CREATE INDEX items_public_newest_idx ON items ((coalesce(published_at, created_at)) DESC, id) WHERE is_public;

-- "Popular" on the home page: public items by sales, downloads and plays together.
CREATE INDEX items_public_popular_idx ON items ((sales_count + download_count + play_count) DESC, id)
    WHERE is_public;

-- Searches leave out suspended creators' work by this (short) list.
CREATE INDEX users_suspended_idx ON users (id) WHERE suspended_at IS NOT NULL;

-- The sitemap lists public projects by creator.
CREATE INDEX projects_public_user_idx ON projects (user_id) WHERE is_public;

INSERT INTO labels (slug, display_name, definition, examples, nonexamples, sort_order) VALUES
    ('drm-free', 'DRM-free',
     'Files download without copy protection: no account, key or online check is needed to use them.',
     ARRAY['MP3 and FLAC downloads', 'A PDF without a password', 'A game that runs offline'],
     ARRAY['Streaming only', 'Software that needs an online activation'],
     10),
    ('no-ai-training', 'No AI training',
     'The creator does not allow this work to be used to train machine-learning models.',
     ARRAY['Artwork, music or writing licensed for personal use only'],
     ARRAY['Work released under a licence that allows any use'],
     20),
    ('open-source', 'Open source',
     'The source is available under a licence approved by the Open Source Initiative.',
     ARRAY['An app under the MIT or GPL licence', 'A font under the SIL Open Font License'],
     ARRAY['Source you may read but not change or share', 'Free of charge but closed source'],
     30)
ON CONFLICT (slug) DO NOTHING;
