-- Browsers that signed in to an account before (OWASP's device cookies):
-- while an account's password is being guessed from many addresses, such a
-- browser still signs in, and the guessing cannot lock its owner out. The
-- cookie holds 256 random bits; only their SHA-256 is stored.
CREATE TABLE known_devices (
    token_hash   bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX known_devices_user_idx ON known_devices (user_id);
