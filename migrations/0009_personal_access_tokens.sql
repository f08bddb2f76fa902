-- Personal access tokens (caido_…): a user's bearer credential for the public
-- API, e.g. to approve device flows headlessly. Only the SHA-256 of a token
-- is stored; the token itself is shown once, at creation.
CREATE TABLE personal_access_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    -- The creator, whose rights the token carries; deleting the account
    -- deletes its tokens.
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A team the creator belonged to at creation: an instance the token
    -- approves goes into that team's Default workspace when the creator may
    -- add instances there. Team admins can list the team's tokens.
    team_id       uuid REFERENCES teams (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at    timestamptz NOT NULL,
    -- NULL: never expires.
    expires_at    timestamptz CHECK (expires_at > created_at),
    -- Written at most once a minute per token.
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE UNIQUE INDEX personal_access_tokens_hash_key ON personal_access_tokens (token_hash);
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (user_id, created_at);
CREATE INDEX personal_access_tokens_team_idx ON personal_access_tokens (team_id, created_at) WHERE team_id IS NOT NULL;

-- Wrong user codes tried with one token, in fixed windows: a stolen or
-- misused token cannot enumerate device flows. In PostgreSQL, so that every
-- replica counts the same guesses.
CREATE TABLE personal_access_token_guesses (
    token_id      uuid NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
    window_start  timestamptz NOT NULL,
    guesses       integer NOT NULL,
    PRIMARY KEY (token_id, window_start)
);

-- Operator-created accounts sign in with a password (Argon2id, PHC string
-- form, see accounts/password); NULL for accounts without one.
ALTER TABLE users ADD COLUMN password_hash text;
