-- OAuth clients: one per registered instance (RFC 7591 dynamic registration).
-- A client lives exactly as long as its instance: deleting the instance
-- deletes the client, so its credentials stop working at once.
CREATE TABLE oauth_clients (
    client_id          text PRIMARY KEY,
    instance_id        uuid NOT NULL UNIQUE REFERENCES instances (id) ON DELETE CASCADE,
    -- SHA-256 of the secret; the secret itself is never stored.
    secret_hash        bytea NOT NULL CHECK (length(secret_hash) = 32),
    grant_types        text[] NOT NULL CHECK (cardinality(grant_types) > 0),
    scopes             text[] NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at  timestamptz NOT NULL DEFAULT now()
);

-- Registrations per client IP address in fixed windows. The limit lives here,
-- not in a replica's memory, so that every replica enforces the same count.
CREATE TABLE oauth_registration_windows (
    ip             text NOT NULL,
    window_start   timestamptz NOT NULL,
    registrations  integer NOT NULL,
    PRIMARY KEY (ip, window_start)
);
-- For pruning windows that have ended.
CREATE INDEX oauth_registration_windows_start_idx ON oauth_registration_windows (window_start);
