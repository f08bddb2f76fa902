-- Signing keys are published ahead (package oidc/signing): a scheduled
-- rotation inserts the new key with activates_at in the future, so that it is
-- in the JWKS for longer than a verifier may cache the JWKS before any
-- replica signs with it. Until then the previous key keeps signing; its
-- retired_at is set to the new key's activates_at, so at every instant one
-- key per algorithm signs. Keys that existed before signed from their
-- creation.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_activates_after_creation CHECK (activates_at >= created_at);
