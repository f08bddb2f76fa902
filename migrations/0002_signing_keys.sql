-- Keys the OpenID provider signs tokens with (package oidc/signing). They live
-- here, not in a replica's memory, so that every replica signs with the same
-- key and publishes the same key set (JWKS).
CREATE TABLE signing_keys (
    -- Random, URL-safe, 128 bits: unguessable and never reused, so a token's
    -- kid names exactly one key for as long as the key is published.
    kid                 text PRIMARY KEY CHECK (length(kid) >= 22),
    -- The JWS algorithm ("alg") the key signs with.
    algorithm           text NOT NULL CHECK (algorithm IN ('ES256', 'RS256')),
    -- PKIX (SubjectPublicKeyInfo) DER: public, served in the JWKS.
    public_key          bytea NOT NULL,
    -- PKCS#8 DER of the private key, AES-256-GCM under the operator's master
    -- key with the kid as additional data (nonce || ciphertext || tag). The
    -- private key is never stored in the clear: a database dump or backup
    -- alone cannot sign tokens, and a blob moved to another row does not open.
    private_key_sealed  bytea NOT NULL,
    -- Fingerprint of the master key that sealed private_key_sealed (a hash,
    -- not the key), so a replica started with another master key says so
    -- instead of failing with a bare decryption error.
    master_key_id       text NOT NULL,
    created_at          timestamptz NOT NULL,
    -- Set when a newer key of the same algorithm takes over. A retired key
    -- signs nothing new but stays in the JWKS for longer than any token it
    -- signed can live, then is deleted.
    retired_at          timestamptz,
    CHECK (retired_at IS NULL OR retired_at >= created_at)
);

-- One active key per algorithm: replicas that rotate or create the first key
-- at the same time cannot end up signing with different keys, whatever
-- happens to the advisory lock that normally serialises them.
CREATE UNIQUE INDEX signing_keys_active_key ON signing_keys (algorithm) WHERE retired_at IS NULL;
