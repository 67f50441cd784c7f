-- Tags (a hierarchy with materialized dot-notation paths), item tagging, platform labels.

CREATE TABLE tags (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    parent_id    UUID CONSTRAINT tags_parent_id_fkey REFERENCES tags (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    slug         TEXT NOT NULL,
    -- Slugs from the root down, joined by dots: music.electronic.ambient.
    path         TEXT NOT NULL,
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tags_slug_key UNIQUE (slug),
    CONSTRAINT tags_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    CONSTRAINT tags_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT tags_not_own_parent CHECK (parent_id <> id),
    CONSTRAINT tags_path_format CHECK (path ~ '^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$'),
    CONSTRAINT tags_path_ends_with_slug CHECK (path = slug OR right(path, length(slug) + 1) = '.' || slug),
    CONSTRAINT tags_root_iff_single_segment CHECK ((parent_id IS NULL) = (strpos(path, '.') = 0))
);

CREATE INDEX tags_parent_id_idx ON tags (parent_id);
CREATE INDEX tags_name_trgm_idx ON tags USING gin (name gin_trgm_ops);
-- text_pattern_ops lets "path LIKE 'music.%'" use the index whatever the database collation.
CREATE INDEX tags_path_idx ON tags (path text_pattern_ops);

CREATE TRIGGER update_tags_updated_at BEFORE UPDATE ON tags
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE item_tags (
    item_id     UUID NOT NULL CONSTRAINT item_tags_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    tag_id      UUID NOT NULL CONSTRAINT item_tags_tag_id_fkey REFERENCES tags (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT item_tags_pkey PRIMARY KEY (item_id, tag_id)
);

CREATE UNIQUE INDEX item_tags_one_primary_per_item ON item_tags (item_id) WHERE is_primary;
CREATE INDEX item_tags_tag_id_idx ON item_tags (tag_id);


-- Platform-curated promises ("DRM-free", "Lossless audio") that projects adopt.
CREATE TABLE labels (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    slug          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    definition    TEXT NOT NULL,
    examples      TEXT[] NOT NULL DEFAULT '{}',
    nonexamples   TEXT[] NOT NULL DEFAULT '{}',
    sort_order    INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT labels_slug_key UNIQUE (slug),
    CONSTRAINT labels_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$')
);

CREATE TRIGGER update_labels_updated_at BEFORE UPDATE ON labels
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE project_labels (
    project_id  UUID NOT NULL CONSTRAINT project_labels_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    label_id    UUID NOT NULL CONSTRAINT project_labels_label_id_fkey REFERENCES labels (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT project_labels_pkey PRIMARY KEY (project_id, label_id)
);

CREATE INDEX project_labels_label_id_idx ON project_labels (label_id);
