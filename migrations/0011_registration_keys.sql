-- Registration keys (ckey_…): an instance that registers with one is claimed
-- into the key's workspace at once, with no human step. Stored only as
-- SHA-256 hashes; the key is shown once, at creation.
CREATE TABLE registration_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key_hash      bytea NOT NULL UNIQUE,
    -- The first characters of the key, so a person can tell keys apart.
    key_hint      text NOT NULL,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description   text NOT NULL DEFAULT '',
    name_prefix   text NOT NULL,
    reusable      boolean NOT NULL,
    expires_at    timestamptz,
    uses          integer NOT NULL DEFAULT 0,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registration_keys_workspace_idx ON registration_keys (workspace_id);
