-- Store catalog: a creator's avatar from their media library, and the starting list of project categories.

ALTER TABLE users
    -- The profile picture on /@username: one of the user's own media files (NULL: none). The file going away
    -- leaves the profile without a picture rather than blocking the delete.
    ADD COLUMN avatar_media_id UUID CONSTRAINT users_avatar_media_id_fkey REFERENCES media_files (id) ON DELETE SET NULL;

-- Categories a project can be filed under; an administrator edits them later. Seeded only into an empty table,
-- so a database that already has its own list keeps it.
INSERT INTO project_categories (slug, name, description, sort_order)
SELECT slug, name, description, sort_order
FROM (VALUES
    ('music', 'Music', 'Albums, singles, stems and samples', 10),
    ('software', 'Software', 'Apps, tools, plugins and libraries', 20),
    ('writing', 'Writing', 'Books, essays, newsletters and fiction', 30),
    ('podcasts', 'Podcasts', 'Shows and episodes', 40),
    ('video', 'Video', 'Films, series and courses on video', 50),
    ('art', 'Art', 'Illustration, photography, 3D and design assets', 60),
    ('games', 'Games', 'Games, mods and game assets', 70),
    ('education', 'Education', 'Courses, tutorials and templates', 80),
    ('other', 'Other', 'Anything else', 90)
) AS seed (slug, name, description, sort_order)
WHERE NOT EXISTS (SELECT 1 FROM project_categories);

-- Deleting a media file looks up the profiles showing it.
CREATE INDEX users_avatar_media_id_idx ON users (avatar_media_id);
