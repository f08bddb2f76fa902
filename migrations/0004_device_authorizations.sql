-- Device authorization grant (RFC 8628): one row per flow, from the device
-- authorization request until the row is pruned, an hour after it expires.
-- Every replica reads and writes these rows, so a flow started on one is
-- approved and redeemed on any other.

CREATE TABLE device_authorizations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- SHA-256 of the device code: the code itself is a bearer secret and is
    -- never stored.
    device_code_hash  bytea NOT NULL CHECK (octet_length(device_code_hash) = 32),
    -- Normalised: 8 characters, no dash.
    user_code         text NOT NULL CHECK (user_code ~ '^[BCDFGHJKLMNPQRSTVWXZ]{8}$'),
    client_id         text NOT NULL,
    scopes            text[] NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'approved', 'denied', 'redeemed')),
    -- Deleting the account deletes its pending flows.
    user_id           uuid REFERENCES users (id) ON DELETE CASCADE,
    granted_scopes    text[],
    -- Grows by 5 s on every slow_down (RFC 8628 §3.5).
    interval_seconds  integer NOT NULL CHECK (interval_seconds > 0),
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    last_polled_at    timestamptz,
    decided_at        timestamptz,
    redeemed_at       timestamptz,
    CHECK ((state IN ('approved', 'redeemed')) = (user_id IS NOT NULL AND granted_scopes IS NOT NULL)),
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK ((state = 'redeemed') = (redeemed_at IS NOT NULL))
);
CREATE UNIQUE INDEX device_authorizations_device_code_key ON device_authorizations (device_code_hash);
-- Over every row, not just live ones: a user code names at most one flow
-- until its row is pruned, so an approval page can never land on another.
CREATE UNIQUE INDEX device_authorizations_user_code_key ON device_authorizations (user_code);
CREATE INDEX device_authorizations_expires_idx ON device_authorizations (expires_at);
CREATE INDEX device_authorizations_user_idx ON device_authorizations (user_id) WHERE user_id IS NOT NULL;
