-- Accounts on the web pages: server-side sessions, sign-in and user-code
-- attempt limits, and what sign-up records.

-- The password hash is 0009's column; added here too (IF NOT EXISTS) so that
-- this file stands on its own whichever of the two lands first.
ALTER TABLE users ADD COLUMN IF NOT EXISTS password_hash text;
-- The User-Agent of the browser that signed up (the data-collection statement
-- lists it), cut to 512 characters.
ALTER TABLE users ADD COLUMN IF NOT EXISTS signup_user_agent text;
-- NULL until the address is verified; verification (and SMTP) is a later step.
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;

-- A signed-in browser. The cookie holds 256 random bits; only their SHA-256
-- is stored, so a copy of this table signs nobody in.
CREATE TABLE web_sessions (
    id_hash     bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The per-session CSRF token every state-changing form carries.
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

-- Attempts per key in fixed windows: failed sign-ins per account and per IP
-- address, wrong user codes per IP address and per session. The key is the
-- SHA-256 of "kind:value", so no address or email sits here in clear. In
-- PostgreSQL, not a replica's memory, so every replica counts the same.
CREATE TABLE attempt_windows (
    key_hash      bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    attempts      integer NOT NULL,
    PRIMARY KEY (key_hash, window_start)
);
-- For pruning windows that have ended.
CREATE INDEX attempt_windows_end_idx ON attempt_windows (window_end);
