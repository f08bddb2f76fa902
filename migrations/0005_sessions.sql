-- A session is one user's sign-in at one instance (one device flow): the
-- family of every access and refresh token issued from it. Its id is the
-- tokens' sid claim; revoking it ends all of them at once.
CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Deleting an instance ends its sessions (and its client goes with it).
    instance_id     uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    client_id       text NOT NULL,
    scopes          text[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    -- Why it ended: logout, refresh_token_reuse, revoked, access_removed.
    revoked_reason  text
);
CREATE INDEX sessions_user_instance_idx ON sessions (user_id, instance_id) WHERE revoked_at IS NULL;

-- Refresh tokens are opaque and stored only as SHA-256 hashes. Each use
-- rotates: the used one gets rotated_at, and presenting it again is reuse,
-- which ends the whole session.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Access tokens are JWTs, valid until they expire; one revoked on its own
-- (RFC 7009) is remembered here by its jti until then.
CREATE TABLE revoked_access_tokens (
    jti         text PRIMARY KEY,
    expires_at  timestamptz NOT NULL
);
