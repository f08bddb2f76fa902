-- Shares by email that wait for their address to be verified: a share by
-- email reaches only an account that has verified the address
-- (users.email_verified_at), so that signing up with another's address
-- gains nothing. When an account verifies the address, each row becomes
-- the instance_grants row it stands for (accounts' VerifyEmail, in the same
-- transaction) and is deleted.
CREATE TABLE pending_shares (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- The address as the sharer gave it; compared case-insensitively.
    email       text NOT NULL,
    -- The end of the share once granted (NULL: none).
    expires_at  timestamptz,
    shared_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- One share per instance and address: sharing again replaces the end.
CREATE UNIQUE INDEX pending_shares_instance_email_idx ON pending_shares (instance_id, lower(email));
-- For the conversion when an address is verified.
CREATE INDEX pending_shares_email_idx ON pending_shares (lower(email));
