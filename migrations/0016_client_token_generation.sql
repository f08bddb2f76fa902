-- A credentials reset ends every token issued to the client before it. The
-- reset raises token_generation in the transaction that stores the new
-- secret hash (and ends the client's open sessions there too); every access
-- token carries the generation of the client it was issued to (claim cgen),
-- read with the secret it authenticated by, and Provider.Active refuses a
-- token whose generation is not the client's current one. Tokens minted
-- before this column existed carry none, which reads as 0, the default: they
-- stay valid until their client's first reset.
ALTER TABLE oauth_clients ADD COLUMN token_generation bigint NOT NULL DEFAULT 0;

-- The reset ends the client's open sessions by client id.
CREATE INDEX sessions_client_open_idx ON sessions (client_id) WHERE revoked_at IS NULL;
