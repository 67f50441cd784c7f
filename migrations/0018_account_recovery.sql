-- Account recovery: when a session last proved who it is (re-authentication), how it was signed in, and
-- emailed links that change the account's address.

ALTER TABLE user_sessions
    -- The last time this session proved a password, passkey or TOTP code (NULL: never, e.g. a link sign-in
    -- to an account that has a password). Actions such as deleting the account ask for a recent one.
    ADD COLUMN reauthenticated_at TIMESTAMPTZ,
    -- How the session was signed in: a session signed in by an emailed link may set a new password without
    -- the old one (the mailbox proved who it is, as a reset link would).
    ADD COLUMN signed_in_by TEXT NOT NULL DEFAULT 'password',
    ADD CONSTRAINT user_sessions_signed_in_by_check
        CHECK (signed_in_by IN ('password', 'passkey', 'link', 'signup'));

ALTER TABLE login_tokens
    -- The address a 'change_email' link moves the account to (the link is mailed there).
    ADD COLUMN new_email TEXT,
    DROP CONSTRAINT login_tokens_purpose_check,
    ADD CONSTRAINT login_tokens_purpose_check
        CHECK (purpose IN ('login', 'verify_email', 'reset_password', 'change_email')),
    ADD CONSTRAINT login_tokens_new_email_for_change_only CHECK ((purpose = 'change_email') = (new_email IS NOT NULL));
