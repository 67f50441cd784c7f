-- Store discovery: full-text search over projects (items have theirs since 0003), the indexes behind the
-- home page's "new" and "popular" lists and the tag pages, and the first platform labels.

-- Ranked full-text search on a project's title and description, like items.search_vector.
ALTER TABLE projects ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS (
    to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))
) STORED;

CREATE INDEX projects_search_vector_idx ON projects USING gin (search_vector);

-- "New" on the home page and on tag pages: public items, newest first. An item counts as new from when it
-- was published, or created when it never was (mnwd.store.search.NEWEST_FIRST uses the same expression).
CREATE INDEX items_public_newest_idx ON items ((coalesce(published_at, created_at)) DESC, id) WHERE is_public;

-- "Popular" on the home page: public items by sales, downloads and plays together.
CREATE INDEX items_public_popular_idx ON items ((sales_count + download_count + play_count) DESC, id)
    WHERE is_public;

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
