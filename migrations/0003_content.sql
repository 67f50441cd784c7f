-- Projects and their content: categories, projects, items, file versions, chapters, audio insertions,
-- item sections and bundles.

CREATE TABLE project_categories (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    sort_order   INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT project_categories_slug_key UNIQUE (slug),
    CONSTRAINT project_categories_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$')
);

CREATE TRIGGER update_project_categories_updated_at BEFORE UPDATE ON project_categories
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE projects (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL CONSTRAINT projects_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    slug             TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    project_type     TEXT NOT NULL,
    is_public        BOOLEAN NOT NULL DEFAULT false,
    category_id      UUID
        CONSTRAINT projects_category_id_fkey REFERENCES project_categories (id) ON DELETE SET NULL,
    mt_community_id  UUID,
    features         TEXT[] NOT NULL DEFAULT '{}',
    cover_image_url  TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT projects_user_id_slug_key UNIQUE (user_id, slug),
    CONSTRAINT projects_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    CONSTRAINT projects_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT projects_project_type_check CHECK (project_type IN (
        'music', 'software', 'podcast', 'writing', 'video', 'art', 'game', 'course', 'other'
    ))
);

-- projects_user_id_slug_key leads with user_id and serves lookups by owner.
CREATE INDEX projects_is_public_idx ON projects (is_public);
CREATE INDEX projects_category_id_idx ON projects (category_id);
CREATE INDEX projects_title_trgm_idx ON projects USING gin (title gin_trgm_ops);
CREATE INDEX projects_description_trgm_idx ON projects USING gin (description gin_trgm_ops);

CREATE TRIGGER update_projects_updated_at BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE items (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id               UUID NOT NULL CONSTRAINT items_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    title                    TEXT NOT NULL,
    slug                     TEXT NOT NULL,
    description              TEXT,
    item_type                TEXT NOT NULL,
    is_public                BOOLEAN NOT NULL DEFAULT false,
    published_at             TIMESTAMPTZ,
    price_cents              INTEGER NOT NULL DEFAULT 0,
    currency                 TEXT NOT NULL DEFAULT 'usd',
    pwyw_enabled             BOOLEAN NOT NULL DEFAULT false,
    pwyw_min_cents           INTEGER,
    body                     TEXT,
    word_count               INTEGER,
    reading_time_minutes     INTEGER,
    audio_url                TEXT,
    audio_s3_key             TEXT,
    duration_seconds         DOUBLE PRECISION,
    video_s3_key             TEXT,
    video_duration_seconds   DOUBLE PRECISION,
    cover_image_url          TEXT,
    enable_license_keys      BOOLEAN NOT NULL DEFAULT false,
    license_max_activations  INTEGER,
    custom_license_text      TEXT,
    sales_count              INTEGER NOT NULL DEFAULT 0,
    play_count               INTEGER NOT NULL DEFAULT 0,
    download_count           INTEGER NOT NULL DEFAULT 0,
    web_only                 BOOLEAN NOT NULL DEFAULT false,
    search_vector            TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '') || ' ' || coalesce(body, ''))
    ) STORED,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT items_project_id_slug_key UNIQUE (project_id, slug),
    CONSTRAINT items_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    CONSTRAINT items_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT items_item_type_check CHECK (item_type IN (
        'article', 'audio', 'video', 'download', 'image', 'bundle', 'other'
    )),
    CONSTRAINT items_price_cents_check CHECK (price_cents >= 0),
    CONSTRAINT items_currency_format CHECK (currency ~ '^[a-z]{3}$'),
    CONSTRAINT items_pwyw_min_cents_check CHECK (pwyw_min_cents IS NULL OR pwyw_min_cents >= 0),
    CONSTRAINT items_word_count_check CHECK (word_count IS NULL OR word_count >= 0),
    CONSTRAINT items_reading_time_minutes_check CHECK (reading_time_minutes IS NULL OR reading_time_minutes >= 0),
    CONSTRAINT items_duration_seconds_check CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
    CONSTRAINT items_video_duration_seconds_check
        CHECK (video_duration_seconds IS NULL OR video_duration_seconds >= 0),
    CONSTRAINT items_license_max_activations_check
        CHECK (license_max_activations IS NULL OR license_max_activations > 0),
    CONSTRAINT items_sales_count_check CHECK (sales_count >= 0),
    CONSTRAINT items_play_count_check CHECK (play_count >= 0),
    CONSTRAINT items_download_count_check CHECK (download_count >= 0)
);

-- items_project_id_slug_key serves lookups by project and by (project_id, slug).
CREATE INDEX items_is_public_idx ON items (is_public);
CREATE INDEX items_sales_count_idx ON items (sales_count);
CREATE INDEX items_search_vector_idx ON items USING gin (search_vector);
CREATE INDEX items_title_trgm_idx ON items USING gin (title gin_trgm_ops);
CREATE INDEX items_description_trgm_idx ON items USING gin (description gin_trgm_ops);

CREATE TRIGGER update_items_updated_at BEFORE UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE versions (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id          UUID NOT NULL CONSTRAINT versions_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    version_number   TEXT NOT NULL,
    changelog        TEXT,
    file_name        TEXT,
    file_url         TEXT,
    s3_key           TEXT,
    content_type     TEXT,
    file_size_bytes  BIGINT,
    sha256           TEXT,
    is_current       BOOLEAN NOT NULL DEFAULT false,
    download_count   INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT versions_item_id_version_number_key UNIQUE (item_id, version_number),
    CONSTRAINT versions_version_number_not_blank CHECK (btrim(version_number) <> ''),
    CONSTRAINT versions_file_size_bytes_check CHECK (file_size_bytes IS NULL OR file_size_bytes >= 0),
    CONSTRAINT versions_sha256_format CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT versions_download_count_check CHECK (download_count >= 0)
);

CREATE UNIQUE INDEX versions_one_current_per_item ON versions (item_id) WHERE is_current;

CREATE TRIGGER update_versions_updated_at BEFORE UPDATE ON versions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE chapters (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id        UUID NOT NULL CONSTRAINT chapters_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    title          TEXT NOT NULL,
    start_seconds  DOUBLE PRECISION NOT NULL,
    url            TEXT,
    image_url      TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT chapters_item_id_start_seconds_key UNIQUE (item_id, start_seconds),
    CONSTRAINT chapters_start_seconds_check CHECK (start_seconds >= 0)
);

CREATE TRIGGER update_chapters_updated_at BEFORE UPDATE ON chapters
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Reusable clips (ads, intros, outros) a creator stitches into their audio items.
CREATE TABLE content_insertions (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL CONSTRAINT content_insertions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    media_type    TEXT NOT NULL DEFAULT 'audio',
    storage_key   TEXT NOT NULL,
    content_type  TEXT,
    duration_ms   INTEGER NOT NULL,
    file_size     BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT content_insertions_media_type_check CHECK (media_type IN ('audio', 'video')),
    CONSTRAINT content_insertions_duration_ms_check CHECK (duration_ms >= 0),
    CONSTRAINT content_insertions_file_size_check CHECK (file_size >= 0)
);

CREATE INDEX content_insertions_user_id_idx ON content_insertions (user_id);

CREATE TRIGGER update_content_insertions_updated_at BEFORE UPDATE ON content_insertions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE content_insertion_placements (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id       UUID NOT NULL
        CONSTRAINT content_insertion_placements_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    insertion_id  UUID NOT NULL
        CONSTRAINT content_insertion_placements_insertion_id_fkey
        REFERENCES content_insertions (id) ON DELETE CASCADE,
    position      TEXT NOT NULL,
    offset_ms     INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT content_insertion_placements_item_insertion_position_offset_key
        UNIQUE (item_id, insertion_id, position, offset_ms),
    CONSTRAINT content_insertion_placements_position_check CHECK (position IN ('pre_roll', 'mid_roll', 'post_roll')),
    CONSTRAINT content_insertion_placements_offset_ms_check CHECK (offset_ms >= 0),
    -- Only a mid-roll has an offset; pre- and post-rolls keep 0 so the UNIQUE above catches duplicates.
    CONSTRAINT content_insertion_placements_offset_only_mid_roll CHECK (position = 'mid_roll' OR offset_ms = 0)
);

CREATE INDEX content_insertion_placements_insertion_id_idx ON content_insertion_placements (insertion_id);


-- Tabbed blocks inside an item ("Ingredients", "Instructions", "Changelog").
CREATE TABLE item_sections (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    item_id     UUID NOT NULL CONSTRAINT item_sections_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    slug        TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    sort_order  INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT item_sections_item_id_slug_key UNIQUE (item_id, slug),
    CONSTRAINT item_sections_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$')
);

CREATE TRIGGER update_item_sections_updated_at BEFORE UPDATE ON item_sections
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE bundle_items (
    bundle_id   UUID NOT NULL CONSTRAINT bundle_items_bundle_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    item_id     UUID NOT NULL CONSTRAINT bundle_items_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    sort_order  INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT bundle_items_pkey PRIMARY KEY (bundle_id, item_id),
    CONSTRAINT bundle_items_not_self CHECK (bundle_id <> item_id)
);

CREATE INDEX bundle_items_item_id_idx ON bundle_items (item_id);
