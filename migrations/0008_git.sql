-- Git hosting: bare repositories, SSH keys for push access, and a small issue tracker per repository.

CREATE TABLE git_repos (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            UUID NOT NULL CONSTRAINT git_repos_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    project_id         UUID CONSTRAINT git_repos_project_id_fkey REFERENCES projects (id) ON DELETE SET NULL,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    is_private         BOOLEAN NOT NULL DEFAULT false,
    default_branch     TEXT NOT NULL DEFAULT 'main',
    -- Issue numbers are taken with UPDATE ... SET next_issue_number = next_issue_number + 1 RETURNING.
    next_issue_number  INTEGER NOT NULL DEFAULT 1,
    pushed_at          TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT git_repos_user_id_name_key UNIQUE (user_id, name),
    -- The name is the path segment of <owner>/<name>.git: no leading dot, no ".git" suffix.
    CONSTRAINT git_repos_name_format CHECK (name ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$' AND name !~ '\.git$'),
    CONSTRAINT git_repos_default_branch_not_blank CHECK (btrim(default_branch) <> ''),
    CONSTRAINT git_repos_next_issue_number_check CHECK (next_issue_number > 0)
);

CREATE INDEX git_repos_project_id_idx ON git_repos (project_id);

CREATE TRIGGER update_git_repos_updated_at BEFORE UPDATE ON git_repos
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


-- The SSH server knows the user from the key alone, so a fingerprint belongs to one account
-- (ssh_keys_fingerprint_key), beyond the per-user UNIQUE.
CREATE TABLE ssh_keys (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       UUID NOT NULL CONSTRAINT ssh_keys_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    -- OpenSSH form: SHA256:<unpadded base64 of the digest>.
    fingerprint   TEXT NOT NULL,
    last_used_at  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ssh_keys_user_id_fingerprint_key UNIQUE (user_id, fingerprint),
    CONSTRAINT ssh_keys_fingerprint_key UNIQUE (fingerprint),
    CONSTRAINT ssh_keys_fingerprint_format CHECK (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
    CONSTRAINT ssh_keys_public_key_not_blank CHECK (btrim(public_key) <> '')
);


CREATE TABLE issues (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repo_id         UUID NOT NULL CONSTRAINT issues_repo_id_fkey REFERENCES git_repos (id) ON DELETE CASCADE,
    number          INTEGER NOT NULL,
    author_user_id  UUID NOT NULL CONSTRAINT issues_author_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'open',
    closed_at       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT issues_repo_id_number_key UNIQUE (repo_id, number),
    CONSTRAINT issues_number_check CHECK (number > 0),
    CONSTRAINT issues_title_not_blank CHECK (btrim(title) <> ''),
    CONSTRAINT issues_status_check CHECK (status IN ('open', 'closed')),
    CONSTRAINT issues_closed_at_matches_status CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

CREATE INDEX issues_repo_id_status_idx ON issues (repo_id, status);
CREATE INDEX issues_author_user_id_idx ON issues (author_user_id);

CREATE TRIGGER update_issues_updated_at BEFORE UPDATE ON issues
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE issue_comments (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    issue_id        UUID NOT NULL CONSTRAINT issue_comments_issue_id_fkey REFERENCES issues (id) ON DELETE CASCADE,
    author_user_id  UUID NOT NULL
        CONSTRAINT issue_comments_author_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    body            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT issue_comments_body_not_blank CHECK (btrim(body) <> '')
);

CREATE INDEX issue_comments_issue_id_created_at_idx ON issue_comments (issue_id, created_at);
CREATE INDEX issue_comments_author_user_id_idx ON issue_comments (author_user_id);

CREATE TRIGGER update_issue_comments_updated_at BEFORE UPDATE ON issue_comments
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();


CREATE TABLE issue_labels (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repo_id      UUID NOT NULL CONSTRAINT issue_labels_repo_id_fkey REFERENCES git_repos (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    color        TEXT NOT NULL DEFAULT '#6b7280',
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT issue_labels_repo_id_name_key UNIQUE (repo_id, name),
    CONSTRAINT issue_labels_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT issue_labels_color_format CHECK (color ~ '^#[0-9a-f]{6}$')
);


CREATE TABLE issue_label_assignments (
    issue_id    UUID NOT NULL
        CONSTRAINT issue_label_assignments_issue_id_fkey REFERENCES issues (id) ON DELETE CASCADE,
    label_id    UUID NOT NULL
        CONSTRAINT issue_label_assignments_label_id_fkey REFERENCES issue_labels (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT issue_label_assignments_pkey PRIMARY KEY (issue_id, label_id)
);

CREATE INDEX issue_label_assignments_label_id_idx ON issue_label_assignments (label_id);
