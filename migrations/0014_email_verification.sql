-- Email verification: the links mailed to a user to prove the address is
-- theirs. Verifying sets users.email_verified_at (0010's column).

-- One mailed link. The link carries 256 random bits; only their SHA-256 is
-- stored, so a copy of this table verifies nothing. A row outlives its use
-- and its expiry (until pruned) so that a second click can be told "already
-- used" or "expired" rather than "unknown".
CREATE TABLE email_verifications (
    token_hash  bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the link was sent to: should the user's address change,
    -- the link verifies nothing.
    email       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX email_verifications_user_idx ON email_verifications (user_id);
-- For pruning rows long expired.
CREATE INDEX email_verifications_expires_idx ON email_verifications (expires_at);
