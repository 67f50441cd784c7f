-- Mailing lists and email hygiene, social (follows, blog posts, profile links), collections.

CREATE TABLE mailing_lists (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id   UUID NOT NULL CONSTRAINT mailing_lists_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    list_type    TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT mailing_lists_project_id_list_type_key UNIQUE (project_id, list_type),
    CONSTRAINT mailing_lists_list_type_check CHECK (list_type IN ('content', 'devlog', 'patches'))
);

CREATE TRIGGER update_mailing_lists_updated_at BEFORE UPDATE ON mailing_lists
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- A subscriber is a registered user, or an email address only (confirmed by double opt-in).
CREATE TABLE mailing_list_subscribers (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    list_id       UUID NOT NULL
        CONSTRAINT mailing_list_subscribers_list_id_fkey REFERENCES mailing_lists (id) ON DELETE CASCADE,
    user_id       UUID CONSTRAINT mailing_list_subscribers_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT,
    confirmed_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT mailing_list_subscribers_list_id_user_id_key UNIQUE (list_id, user_id),
    CONSTRAINT mailing_list_subscribers_user_or_email CHECK (user_id IS NOT NULL OR email IS NOT NULL),
    CONSTRAINT mailing_list_subscribers_email_format
        CHECK (email IS NULL OR email ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);

-- Case-insensitive, like users.email: one address is subscribed once whatever its case.
CREATE UNIQUE INDEX mailing_list_subscribers_list_id_email_key
    ON mailing_list_subscribers (list_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX mailing_list_subscribers_user_id_idx ON mailing_list_subscribers (user_id);


-- Hard bounces and spam complaints: never send to these addresses again.
CREATE TABLE email_suppressions (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    details     JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT email_suppressions_reason_check CHECK (reason IN ('HardBounce', 'SpamComplaint'))
);

CREATE UNIQUE INDEX email_suppressions_email_lower_key ON email_suppressions (lower(email));


-- "Notify me" signups from landing pages.
CREATE TABLE email_signups (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email         TEXT NOT NULL,
    source        TEXT NOT NULL DEFAULT '',
    confirmed_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT email_signups_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);

CREATE UNIQUE INDEX email_signups_email_lower_key ON email_signups (lower(email));


-- Polymorphic: target_id is a users, projects or tags id according to target_type, so it has no FK.
CREATE TABLE follows (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    follower_id  UUID NOT NULL CONSTRAINT follows_follower_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    target_type  TEXT NOT NULL,
    target_id    UUID NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT follows_follower_id_target_type_target_id_key UNIQUE (follower_id, target_type, target_id),
    CONSTRAINT follows_target_type_check CHECK (target_type IN ('user', 'project', 'tag')),
    CONSTRAINT follows_not_self CHECK (NOT (target_type = 'user' AND target_id = follower_id))
);

CREATE INDEX follows_target_idx ON follows (target_type, target_id);


-- author_id has no delete rule (NO ACTION): a user who wrote posts in a project they do not own
-- cannot be deleted until those posts are reassigned or removed. The check is deferred to commit so
-- that deleting a user whose posts all sit in their own projects works: the CASCADE through projects
-- removes those posts before the check runs (an immediate check would run first and fail).
CREATE TABLE blog_posts (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id     UUID NOT NULL CONSTRAINT blog_posts_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    author_id      UUID NOT NULL
        CONSTRAINT blog_posts_author_id_fkey REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    title          TEXT NOT NULL,
    slug           TEXT NOT NULL,
    body_markdown  TEXT NOT NULL DEFAULT '',
    body_html      TEXT NOT NULL DEFAULT '',
    published_at   TIMESTAMPTZ,
    mt_thread_id   UUID,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT blog_posts_project_id_slug_key UNIQUE (project_id, slug),
    CONSTRAINT blog_posts_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$'),
    CONSTRAINT blog_posts_title_not_blank CHECK (btrim(title) <> '')
);

CREATE INDEX blog_posts_author_id_idx ON blog_posts (author_id);
CREATE INDEX blog_posts_published_at_idx ON blog_posts (project_id, published_at DESC) WHERE published_at IS NOT NULL;

CREATE TRIGGER update_blog_posts_updated_at BEFORE UPDATE ON blog_posts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- Links on a creator's profile (social, merch, website), in sort_order.
CREATE TABLE custom_links (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL CONSTRAINT custom_links_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    url         TEXT NOT NULL,
    icon        TEXT,
    sort_order  INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT custom_links_url_scheme CHECK (url ~* '^https?://')
);

CREATE INDEX custom_links_user_id_sort_order_idx ON custom_links (user_id, sort_order);

CREATE TRIGGER update_custom_links_updated_at BEFORE UPDATE ON custom_links
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- User-curated lists (playlists, reading lists, favourites).
CREATE TABLE collections (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL CONSTRAINT collections_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    slug         TEXT NOT NULL,
    description  TEXT,
    is_public    BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT collections_user_id_slug_key UNIQUE (user_id, slug),
    CONSTRAINT collections_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,99}$')
);

CREATE TRIGGER update_collections_updated_at BEFORE UPDATE ON collections
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE collection_items (
    collection_id  UUID NOT NULL
        CONSTRAINT collection_items_collection_id_fkey REFERENCES collections (id) ON DELETE CASCADE,
    item_id        UUID NOT NULL CONSTRAINT collection_items_item_id_fkey REFERENCES items (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL DEFAULT 0,
    note           TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT collection_items_pkey PRIMARY KEY (collection_id, item_id),
    CONSTRAINT collection_items_position_check CHECK (position >= 0)
);

CREATE INDEX collection_items_item_id_idx ON collection_items (item_id);
